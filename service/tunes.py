"""Whole tunes from any melody id (`/breed tune`): `service.tunes`, a collaborator of the breeding service.

A tune is asked for from a melody of the server, with a length and a backing; a worker builds
and renders it, and the front end that asked shows it once, like a composition.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from domain import artifacts
from domain.errors import BreedError, ParamsError, UnknownBreedError
from domain.ids import MelodyRef
from domain.jobs import MediaOwner, TuneJob
from domain.model import FRONTS, Front, TuneRequest, check_tune
from domain.tune import Backing
from service.results import Files, read_files
from service.spacing import Requests

log = logging.getLogger(__name__)

# Shows a tune (or its failure) where it was asked for: the request and its files, in order.
PostTune = Callable[[TuneRequest, Files], Awaitable[None]]


class Tunes(Requests[TuneRequest]):
    """Every tune asked for from a melody id."""

    async def request(
        self, text: str | MelodyRef, guild_id: int | None, channel_id: int | None, requester_id: int, *,
        front: Front, bars: int | None = None, backing: str | None = None,
    ) -> TuneRequest:
        """Ask for a tune made from a melody of this server; the options default to its breed's.

        Every check comes first (the id, the server, the options, the queue's bound, the member's cooldown): a
        refusal changes nothing.
        """
        if front not in FRONTS:
            raise ValueError(f"unknown front end {front!r}")
        ref, params = await self.melody(text, guild_id)
        bars = params.bars if bars is None else bars
        backing = params.backing if backing is None else backing.strip().lower()
        try:
            check_tune(bars, backing)
        except ParamsError as error:
            raise BreedError(f"Cannot make a tune: {error}.") from None

        def make() -> tuple[TuneRequest, TuneJob]:
            tune = TuneRequest(
                tune_id=self.new_id(), melody=str(ref), breed_id=ref.breed_id, bars=bars, backing=backing,
                guild_id=guild_id, channel_id=channel_id, requester_id=requester_id, front=front,
                created_at=self.clock(),
            )
            return tune, TuneJob(tune.tune_id, source=tune.melody, bars=bars, backing=Backing(backing))

        tune = await self.submit("tune", requester_id, "tune", make, "That tune is being made already.")
        log.info("breed %s gen %d: tune %s of %s asked for (%d bars, backing %s)", ref.breed_id, ref.generation,
                 tune.tune_id, tune.melody, bars, backing)
        return tune

    async def get(self, tune_id: str, front: str) -> TuneRequest:
        """A tune asked for on `front`; BreedError when there is none (or it is another front end's)."""
        tune = await self.requests.get(tune_id)
        if tune is None or tune.front != front:
            # Unknown like a breed id that names nothing here (a page answers 404).
            raise UnknownBreedError(f"There is no tune `{tune_id}` (tunes are kept for a while only).")
        return tune

    async def lookup(self, tune_id: str) -> TuneRequest | None:
        """A tune's request, or None (never asked for, or expired)."""
        return await self.requests.get(tune_id)

    async def files(self, tune_id: str, max_bytes: int | None = None) -> Files:
        """A requested tune's files, in order; missing (not made yet, or expired) or too-large ones are named.
        Audio and images the media store let go are rendered again from the tune's MIDI file."""
        if self.media is not None and await self.requests.file(tune_id, artifacts.TUNE_MID) is not None:
            return await self.media.request_files(MediaOwner.TUNE, tune_id, artifacts.TUNE_FILES, max_bytes)
        return await read_files(artifacts.TUNE_FILES, lambda name: self.requests.file(tune_id, name), max_bytes)

    async def failure(self, tune_id: str) -> str | None:
        """Why the worker could not make the tune, or None (made, or not yet)."""
        return await self.requests.failure(tune_id)

    async def ready(self, tune_id: str, post: PostTune, max_bytes: int | None = None,
                    failure: str | None = None) -> bool:
        """A tune the worker made (or failed to make: `failure`) is shown once (the router asks the front end
        that shows it); a failure is kept too, for a page that asks after it was shown."""
        async def show(tune: TuneRequest) -> None:
            if failure is not None:
                await self.requests.mark_failed(tune_id, failure)
            await post(tune, await self.files(tune_id, max_bytes))

        return await self.post_once(tune_id, "tune", show)
