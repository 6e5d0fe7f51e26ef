"""What front ends read to show a breed, and the service's connection: a part of the breeding service.

Front ends never reach the store: what a page, a post or a terminal shows comes from here, so the
store's keys and calls can change without a front end noticing.
"""

from __future__ import annotations

from domain.model import OPEN_STATUSES, Breed, Composition, Generation
from domain.rules import morph_marker
from storage import BreedStore

# A session's group of the events stream made or read this long ago, whose breed is not going, is a
# killed session's.
STALE_SESSION_S = 60.0


class Reads:
    """Lookups for front ends and the connection's life: mixed into BreedingService."""

    store: BreedStore

    async def prepare(self) -> None:
        """Create the streams and their groups if missing (safe on every start; needs Redis up)."""
        await self.store.ensure_groups()

    async def close(self) -> None:
        """Close the connection to Redis (after the events loop stopped: it reads on it)."""
        await self.store.close()

    async def open_session_events(self, session_id: str) -> str:
        """Give a terminal session its own group of the events stream, from now on; returns its reader
        name (for service.router.EventRouter).

        Groups left by sessions that were killed (their breed is over, or never started) go first;
        one younger than a minute may be a session's that is starting its breed right now.
        """
        for other, idle_s in (await self.store.session_groups()).items():
            breed = await self.store.get_breed(other)
            if idle_s > STALE_SESSION_S and (breed is None or breed.status not in OPEN_STATUSES):
                await self.store.remove_session_group(other)
        return await self.store.add_session_group(session_id)

    async def close_session_events(self, session_id: str) -> None:
        """Remove a terminal session's group of the events stream."""
        await self.store.remove_session_group(session_id)

    async def lookup(self, breed_id: str) -> Breed | None:
        """The breed, or None when there is none (`get` refuses that with a message instead)."""
        return await self.store.get_breed(breed_id)

    async def open_breeds(self, front: str | None = None) -> list[Breed]:
        """Breeds still going (of one front end, if given), oldest first."""
        return [breed for breed in await self.store.open_breeds() if front is None or breed.front == front]

    async def generation(self, breed_id: str, number: int) -> Generation | None:
        return await self.store.get_generation(breed_id, number)

    async def ballot(self, breed: Breed, user_id: int) -> tuple[int, ...]:
        """One person's votes per candidate on the breed's current generation."""
        if breed.generation < 0:
            return ()
        return tuple(await self.store.ballot(breed.breed_id, breed.generation, user_id))

    async def made_morphs(self, breed: Breed) -> list[tuple[int, int]]:
        """The pairs (0-based) whose morph of the current generation was made and shown."""
        population = range(breed.params.population)
        pairs = {morph_marker(a, b): (a, b) for a in population for b in population if a != b}
        made = await self.store.posted_kinds(breed.breed_id, breed.generation, list(pairs))
        return [pair for marker, pair in pairs.items() if marker in made]

    async def artifact(self, breed_id: str, number: int, name: str) -> bytes | None:
        """One rendered file of a generation, or None (never made, or expired)."""
        return await self.store.get_artifact(breed_id, number, name)

    async def link_vote_message(self, message_id: int, breed_id: str, number: int) -> None:
        """Remember that `message_id` shows the vote on generation `number`, so reactions on it count."""
        await self.store.link_message(message_id, breed_id, number)

    async def composition(self, composition_id: str) -> Composition | None:
        return await self.store.get_composition(composition_id)
