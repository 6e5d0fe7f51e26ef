"""What outlives a breed: the gallery of winners (`service.gallery`, a collaborator of the breeding service).

A finished breed's winner is kept in its server's gallery with its files and who took part; it
can be listed, played again and removed. When the bot leaves a server (or its admins ask), the
server's gallery and everything that names who took part there is forgotten.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain import artifacts, limits
from domain.errors import BreedError
from domain.ids import MelodyRef, parse_melody_id
from domain.model import Breed, Winner
from domain.rules import Actor, may_steer
from service.melodies import OTHER_SERVER
from service.spacing import RequestSpacing
from service.stores import BreedStates, GalleryRecords, ServerRecords, VoteRecords
from storage.servers import Forgotten

if TYPE_CHECKING:
    from service.media import Media

log = logging.getLogger(__name__)

REPLAY = "replay"  # the kind of request whose cooldown (ServerLimits.play_cooldown_s) spaces a member's replays
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
    """The gallery of every server; `clock()` gives seconds since the epoch."""

    def __init__(self, breeds: BreedStates, gallery: GalleryRecords, votes: VoteRecords,
                 clock: Callable[[], float], *, servers: ServerRecords, spacing: RequestSpacing,
                 media: Media | None = None) -> None:
        """`spacing` spaces a member's replays (by the server's `play_cooldown_s`); `media` renders again the
        files the media store let go (None: the files are read as they are)."""
        self.breeds = breeds
        self.media = media
        self.gallery = gallery
        self.votes = votes
        self.clock = clock
        self.servers = servers
        self.spacing = spacing

    async def forget_server(self, guild_id: int) -> Forgotten:
        """Delete a server's gallery and its breeds with their votes and nudges (who took part), and the
        compositions and tunes asked for there: the bot left the server, or its admins asked."""
        return await self.servers.forget(guild_id)

    async def keep(self, breed: Breed, number: int, index: int) -> Winner:
        """Put a finished breed's winner in its server's gallery, with its files and who took part."""
        people = [breed.owner_id]
        for generation in range(breed.generation + 1):
            people.extend(sorted(await self.votes.voters(breed.breed_id, generation) - set(people)))
        winner = Winner(
            melody_id=str(MelodyRef(breed.breed_id, number, index)), breed_id=breed.breed_id,
            guild_id=breed.guild_id, owner_id=breed.owner_id, generation=number, index=index,
            finished_at=self.clock(), people=tuple(people), source=breed.source,
            tempo=breed.params.tempo, instrument=breed.params.instrument,
        )
        await self.gallery.keep(winner)  # its files are the breed's own, kept without TTL
        return winner

    async def page(self, guild_id: int | None, page: int = 1) -> GalleryPage:
        """A page of a server's winners, newest first."""
        size = limits.GALLERY_PAGE_SIZE
        if page < 1:
            raise BreedError("Gallery pages start at 1.")
        total = await self.gallery.size(guild_id)
        pages = max(1, -(-total // size))
        if page > pages:
            raise BreedError(f"The gallery has {pages} page{'s' if pages > 1 else ''}; there is no page {page}.")
        winners = await self.gallery.winners(guild_id, (page - 1) * size, size)
        return GalleryPage(tuple(winners), page, pages, total)

    async def winner(self, text: str, guild_id: int | None) -> Winner:
        """The gallery's winner a melody id names; BreedError when it is not in this server's gallery."""
        ref = parse_melody_id(text)
        winner = await self.gallery.winner(str(ref))
        breed = await self.breeds.get(ref.breed_id)
        owner_guild = winner.guild_id if winner is not None else breed.guild_id if breed is not None else guild_id
        if owner_guild != guild_id:
            raise BreedError(OTHER_SERVER)
        if winner is None:
            raise BreedError(f"`{ref}` is not in this server's gallery: /breed gallery lists its winners.")
        return winner

    async def play(self, text: str, guild_id: int | None, user_id: int | None = None) -> Kept:
        """A gallery winner with its kept files, to post again; BreedError when `user_id` asked for a
        replay too recently (the member's wait starts here: `play_failed` gives it back)."""
        winner = await self.winner(text, guild_id)
        await self.spacing(REPLAY, user_id, "replay")
        if self.media is not None:
            return Kept(winner, (await self.media.gallery_files(winner, artifacts.WINNER_FILES)).found)
        files = []
        for name in artifacts.WINNER_FILES:
            data = await self.gallery.file(winner, name)
            if data is not None:
                files.append((name, data))
        return Kept(winner, tuple(files))

    async def play_failed(self, user_id: int | None) -> None:
        """The replay could not be posted: the member need not wait for their next one."""
        await self.spacing.give_back(REPLAY, user_id)

    async def remove(self, text: str, guild_id: int | None, actor: Actor) -> Winner:
        """Take a winner out of the gallery: its breed's starter or a member with Manage Messages."""
        winner = await self.winner(text, guild_id)
        if not may_steer(winner.owner_id, actor):
            raise BreedError(REMOVE_REFUSAL)
        await self.gallery.remove(winner, artifacts.WINNER_FILES)
        log.info("breed %s gen %d: winner %s removed from the gallery by user %d", winner.breed_id,
                 winner.generation, winner.melody_id, actor.user_id)
        return winner
