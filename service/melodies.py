"""Melody ids and family trees (`service.melodies`, a collaborator of the breeding service).

A melody id (`domain.ids`) names any candidate of any breed; it is only usable in the server its
breed belongs to. Branches, compositions and tunes start from one; a family tree is asked for one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from domain.errors import BreedError
from domain.ids import MelodyRef, parse_melody_id
from domain.jobs import TreeJob
from domain.model import Breed, BreedParams
from domain.rules import tree_marker
from service.queue import JobQueue
from service.spacing import RequestSpacing
from service.stores import BreedStates, GalleryRecords, PostMarks

log = logging.getLogger(__name__)

OTHER_SERVER = "That melody belongs to another server."

# The candidate a melody id names and its breed (Melodies.melody).


class Melodies:
    """Melody ids of every breed, and their family trees."""

    def __init__(self, breeds: BreedStates, gallery: GalleryRecords, posts: PostMarks, queue: JobQueue,
                 spacing: RequestSpacing) -> None:
        self.breeds = breeds
        self.gallery = gallery
        self.posts = posts
        self.queue = queue
        self.spacing = spacing

    async def melody(self, text: str | MelodyRef, guild_id: int | None) -> tuple[MelodyRef, Breed]:
        """The candidate a melody id names and its breed; BreedError when it is not one of this server's."""
        ref = parse_melody_id(text) if isinstance(text, str) else text
        breed = await self.breeds.get(ref.breed_id)
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

    async def sounding(self, text: str | MelodyRef, guild_id: int | None) -> tuple[MelodyRef, BreedParams]:
        """The candidate a melody id names and the options it sounds with, for a tune or a piece.

        Those are its breed's; a gallery winner outlives its breed, and then sounds with its kept
        tempo and instrument (and the default length and backing). BreedError as `melody`.
        """
        ref = parse_melody_id(text) if isinstance(text, str) else text
        try:
            ref, breed = await self.melody(ref, guild_id)
        except BreedError:
            winner = await self.gallery.winner(str(ref))
            if winner is None or winner.guild_id != guild_id or await self.breeds.get(ref.breed_id) is not None:
                raise
            return ref, BreedParams(tempo=winner.tempo, instrument=winner.instrument)
        return ref, breed.params

    async def _gone(self, ref: MelodyRef, guild_id: int | None) -> str:
        """Why a melody whose breed is not stored cannot be used: it never was, or its retention passed."""
        days = round(self.breeds.retention_s / 86400)
        winner = await self.gallery.winner(str(ref))
        if winner is not None and winner.guild_id == guild_id:
            return (f"`{ref}` is in the gallery, but its breed ended over {days} days ago and is no longer kept: "
                    "it can be played, made a tune of or composed with, not branched from or drawn.")
        return (f"There is no melody `{ref}`: breed `{ref.breed_id}` does not exist, or ended over {days} days "
                "ago and is no longer kept.")

    # --- family trees ----------------------------------------------------------------------

    async def request_tree(
        self, text: str | MelodyRef, guild_id: int | None, user_id: int | None = None,
    ) -> tuple[MelodyRef, Breed]:
        """Ask for a candidate's family tree, posted in its breed's thread once per candidate; anyone may."""
        ref, breed = await self.melody(text, guild_id)
        marker = tree_marker(ref.index)
        if await self.posts.is_posted(ref.breed_id, ref.generation, marker):
            raise BreedError(f"The family tree of `{ref}` is in the breed's thread already.")
        await self.queue.check()
        async with self.spacing.taken("tree", user_id, "family tree"):
            await self.posts.unmark_posted(ref.breed_id, ref.generation, tree_marker(ref.index, failed=True))
            await self.queue.add(TreeJob(ref.breed_id, ref.generation, candidate=ref.index),
                                 f"The family tree of `{ref}` is being drawn already.")
        log.info("breed %s gen %d: family tree of candidate %d asked for", ref.breed_id, ref.generation, ref.index)
        return ref, breed

    async def tree_ready(
        self, breed_id: str, number: int, index: int, post: Callable[[Breed], Awaitable[None]], *,
        failed: bool = False,
    ) -> bool:
        """A family tree (or its failure) is shown once per candidate; it changes nothing in the breed."""
        breed = await self.breeds.get(breed_id)
        if breed is None:
            return False
        marker = tree_marker(index, failed=failed)
        if not await self.posts.mark_posted(breed_id, number, marker):
            log.info("breed %s gen %d: family tree of candidate %d shown already", breed_id, number, index)
            return False
        try:
            await post(breed)
        except BaseException:
            await self.posts.unmark_posted(breed_id, number, marker)
            raise
        return True
