"""Compositions (`service.compositions`, a collaborator of the breeding service): pieces of 2-8
phrases, each a melody id of the server, played one after the other; a worker renders them and
the front end that asked shows each once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from domain import artifacts, limits
from domain.errors import BreedError
from domain.ids import parse_melody_id, parse_melody_ids
from domain.jobs import ComposeJob, MediaOwner
from domain.model import Composition
from service.results import read_files
from service.spacing import Requests

log = logging.getLogger(__name__)


class Compositions(Requests[Composition]):
    """Every composition: pieces of melody ids played one after the other."""

    async def request(
        self, text: str | Sequence[str], guild_id: int | None, channel_id: int | None, requester_id: int, *,
        smooth: bool = False,
    ) -> Composition:
        """Ask for a piece of 2-8 phrases (melody ids, repeats allowed), played one after the other."""
        refs = parse_melody_ids(text) if isinstance(text, str) else [parse_melody_id(word) for word in text]
        low, high = int(limits.COMPOSE_PHRASES.low), int(limits.COMPOSE_PHRASES.high)
        if not low <= len(refs) <= high:
            raise BreedError(f"A composition joins {low} to {high} melody ids, not {len(refs)}.")
        for ref in dict.fromkeys(refs):
            await self.melody(ref, guild_id)

        def make() -> tuple[Composition, ComposeJob]:
            composition = Composition(
                composition_id=self.new_id(), guild_id=guild_id, channel_id=channel_id,
                requester_id=requester_id, melodies=tuple(str(ref) for ref in refs), smooth=smooth,
                created_at=self.clock(),
            )
            return composition, ComposeJob(composition.composition_id, melodies=composition.melodies, smooth=smooth)

        composition = await self.submit("compose", requester_id, "piece", make, "That piece is being made already.")
        log.info("composition %s of %s asked for (smooth: %s)", composition.composition_id,
                 " ".join(composition.melodies), smooth)
        return composition

    async def get(self, composition_id: str) -> Composition | None:
        """A composition's request, or None (never asked for, or expired)."""
        return await self.requests.get(composition_id)

    async def composed(
        self, composition_id: str, post: Callable[[Composition, tuple[tuple[str, bytes], ...]], Awaitable[None]],
    ) -> bool:
        """A composition the worker rendered is posted once, where it was asked for."""
        async def show(composition: Composition) -> None:
            if self.media is not None:  # audio the media store let go is rendered again from the MIDI file
                files = await self.media.request_files(MediaOwner.COMPOSITION, composition_id,
                                                       artifacts.COMPOSITION_FILES)
            else:
                files = await read_files(artifacts.COMPOSITION_FILES,
                                         lambda name: self.requests.file(composition_id, name))
            await post(composition, files.found)

        return await self.post_once(composition_id, "composition", show)
