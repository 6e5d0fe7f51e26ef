"""What outlives a breed: melody ids, family trees, branches, the gallery of winners, compositions.

A part of the breeding service (BreedingService mixes it in): the same store, clock and checks,
for every front end. A melody id (`domain.ids`) names any candidate of any breed; it is only
usable in the server its breed belongs to.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from domain import artifacts, limits
from domain.errors import BreedError
from domain.ids import MelodyRef, parse_melody_id, parse_melody_ids
from domain.limits import ServerLimits
from domain.model import Breed, Composition, Winner
from domain.rules import Actor, may_steer, tree_marker
from storage import BreedStore
from storage.codec import Job

log = logging.getLogger(__name__)

OTHER_SERVER = "That melody belongs to another server."
REMOVE_REFUSAL = "Only the breed's starter or members with Manage Messages can remove its winner from the gallery."


@dataclass(frozen=True)
class GalleryPage:
    """One page of a server's gallery, newest first; `pages` is at least 1."""

    winners: tuple[Winner, ...]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class Kept:
    """A gallery winner with its kept files, (name, bytes) in order."""

    winner: Winner
    files: tuple[tuple[str, bytes], ...]


class Gallery:
    """Melody ids, trees, branches, the gallery and compositions: mixed into BreedingService."""

    store: BreedStore
    clock: Callable[[], float]
    limits: ServerLimits

    async def _wait_between(self, kind: str, user_id: int | None, what: str) -> None:
        """A member's requests for the worker are spaced like morphs (limits.morph_cooldown_s)."""
        if user_id is None:
            return
        wait = await self.store.take_cooldown(kind, user_id, self.limits.morph_cooldown_s)
        if wait:
            raise BreedError(f"Slow down: you can ask for another {what} in {math.ceil(wait)} s.")

    # --- melody ids ------------------------------------------------------------------------

    async def melody(self, text: str | MelodyRef, guild_id: int | None) -> tuple[MelodyRef, Breed]:
        """The candidate a melody id names and its breed; BreedError when it is not one of this server's."""
        ref = parse_melody_id(text) if isinstance(text, str) else text
        breed = await self.store.get_breed(ref.breed_id)
        if breed is None:
            raise BreedError(await self._gone(ref, guild_id))
        if breed.guild_id != guild_id:
            raise BreedError(OTHER_SERVER)
        if not 0 <= ref.generation <= breed.generation:
            made = f"generations 1 to {breed.generation + 1}" if breed.generation >= 0 else "no generation yet"
            raise BreedError(f"There is no melody `{ref}`: breed `{breed.breed_id}` has {made}.")
        if not 0 <= ref.index < breed.params.population:
            raise BreedError(f"There is no melody `{ref}`: breed `{breed.breed_id}` has candidates 1 to "
                             f"{breed.params.population}.")
        return ref, breed

    async def _gone(self, ref: MelodyRef, guild_id: int | None) -> str:
        """Why a melody whose breed is not stored cannot be used: it never was, or its retention passed."""
        days = round(self.store.retention_s / 86400)
        winner = await self.store.gallery_winner(str(ref))
        if winner is not None and winner.guild_id == guild_id:
            return (f"`{ref}` is in the gallery, but its breed ended over {days} days ago and is no longer kept: "
                    "it can be played, not branched from or drawn.")
        return (f"There is no melody `{ref}`: breed `{ref.breed_id}` does not exist, or ended over {days} days "
                "ago and is no longer kept.")

    # --- family trees ----------------------------------------------------------------------

    async def request_tree(
        self, text: str | MelodyRef, guild_id: int | None, user_id: int | None = None,
    ) -> tuple[MelodyRef, Breed]:
        """Ask for a candidate's family tree, posted in its breed's thread once per candidate; anyone may."""
        ref, breed = await self.melody(text, guild_id)
        marker = tree_marker(ref.index)
        if await self.store.is_posted(ref.breed_id, ref.generation, marker):
            raise BreedError(f"The family tree of `{ref}` is in the breed's thread already.")
        await self._wait_between("tree", user_id, "family tree")
        await self.store.unmark_posted(ref.breed_id, ref.generation, tree_marker(ref.index, failed=True))
        await self.store.enqueue_job(Job("tree", ref.breed_id, ref.generation, candidate=ref.index))
        log.info("breed %s gen %d: family tree of candidate %d asked for", ref.breed_id, ref.generation, ref.index)
        return ref, breed

    async def tree_ready(
        self, breed_id: str, number: int, index: int, post: Callable[[Breed], Awaitable[None]], *,
        failed: bool = False,
    ) -> bool:
        """A family tree (or its failure) is shown once per candidate; it changes nothing in the breed."""
        breed = await self.store.get_breed(breed_id)
        if breed is None:
            return False
        marker = tree_marker(index, failed=failed)
        if not await self.store.mark_posted(breed_id, number, marker):
            log.info("breed %s gen %d: family tree of candidate %d shown already", breed_id, number, index)
            return False
        try:
            await post(breed)
        except BaseException:
            await self.store.unmark_posted(breed_id, number, marker)
            raise
        return True

    # --- the gallery -----------------------------------------------------------------------

    async def keep_winner(self, breed: Breed, number: int, index: int) -> Winner:
        """Put a finished breed's winner in its server's gallery, with its files and who took part."""
        people = [breed.owner_id]
        for generation in range(breed.generation + 1):
            people.extend(sorted(await self.store.voters(breed.breed_id, generation) - set(people)))
        winner = Winner(
            melody_id=str(MelodyRef(breed.breed_id, number, index)), breed_id=breed.breed_id,
            guild_id=breed.guild_id, owner_id=breed.owner_id, generation=number, index=index,
            finished_at=self.clock(), people=tuple(people), source=breed.source,
            tempo=breed.params.tempo, instrument=breed.params.instrument,
        )
        await self.store.keep_winner(winner)  # its files are the breed's own, kept without TTL
        return winner

    async def gallery(self, guild_id: int | None, page: int = 1) -> GalleryPage:
        """A page of a server's winners, newest first."""
        size = limits.GALLERY_PAGE_SIZE
        if page < 1:
            raise BreedError("Gallery pages start at 1.")
        total = await self.store.gallery_size(guild_id)
        pages = max(1, -(-total // size))
        if page > pages:
            raise BreedError(f"The gallery has {pages} page{'s' if pages > 1 else ''}; there is no page {page}.")
        winners = await self.store.gallery(guild_id, (page - 1) * size, size)
        return GalleryPage(tuple(winners), page, pages, total)

    async def gallery_winner(self, text: str, guild_id: int | None) -> Winner:
        """The gallery's winner a melody id names; BreedError when it is not in this server's gallery."""
        ref = parse_melody_id(text)
        winner = await self.store.gallery_winner(str(ref))
        breed = await self.store.get_breed(ref.breed_id)
        owner_guild = winner.guild_id if winner is not None else breed.guild_id if breed is not None else guild_id
        if owner_guild != guild_id:
            raise BreedError(OTHER_SERVER)
        if winner is None:
            raise BreedError(f"`{ref}` is not in this server's gallery: /breed gallery lists its winners.")
        return winner

    async def play(self, text: str, guild_id: int | None) -> Kept:
        """A gallery winner with its kept files, to post again."""
        winner = await self.gallery_winner(text, guild_id)
        files = []
        for name in artifacts.WINNER_FILES:
            data = await self.store.gallery_file(winner, name)
            if data is not None:
                files.append((name, data))
        return Kept(winner, tuple(files))

    async def remove_from_gallery(self, text: str, guild_id: int | None, actor: Actor) -> Winner:
        """Take a winner out of the gallery: its breed's starter or a member with Manage Messages."""
        winner = await self.gallery_winner(text, guild_id)
        if not may_steer(winner.owner_id, actor):
            raise BreedError(REMOVE_REFUSAL)
        await self.store.remove_winner(winner, artifacts.WINNER_FILES)
        log.info("breed %s gen %d: winner %s removed from the gallery by user %d", winner.breed_id,
                 winner.generation, winner.melody_id, actor.user_id)
        return winner

    # --- compositions ----------------------------------------------------------------------

    async def request_compose(
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
        await self._wait_between("compose", requester_id, "piece")
        composition = Composition(
            composition_id=self.store.new_breed_id(), guild_id=guild_id, channel_id=channel_id,
            requester_id=requester_id, melodies=tuple(str(ref) for ref in refs), smooth=smooth,
            created_at=self.clock(),
        )
        await self.store.create_composition(composition)
        await self.store.enqueue_job(
            Job("compose", composition.composition_id, melodies=composition.melodies, smooth=smooth)
        )
        log.info("composition %s of %s asked for (smooth: %s)", composition.composition_id,
                 " ".join(composition.melodies), smooth)
        return composition

    async def composed(
        self, composition_id: str, post: Callable[[Composition, tuple[tuple[str, bytes], ...]], Awaitable[None]],
    ) -> bool:
        """A composition the worker rendered is posted once, where it was asked for."""
        composition = await self.store.get_composition(composition_id)
        if composition is None:
            log.warning("composition %s: ready, but its request is gone", composition_id)
            return False
        if not await self.store.mark_composition_posted(composition_id):
            return False
        try:
            files = []
            for name in artifacts.COMPOSITION_FILES:
                data = await self.store.composition_file(composition_id, name)
                if data is not None:
                    files.append((name, data))
            await post(composition, tuple(files))
        except BaseException:
            await self.store.unmark_composition_posted(composition_id)
            raise
        return True

