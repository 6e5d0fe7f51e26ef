"""People's votes on a generation: reactions mirrored, ballots typed or clicked, and the tally.

A collaborator of the breeding service (`service.votes`): it owns the vote rule's use
(domain.votes) and the vote records in the store, and nothing else about a breed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence

from domain.errors import BreedError
from domain.model import Breed
from domain.rules import refusal
from domain.votes import ballot_counts
from service.stores import BreedStates, VoteRecords

# Reads the votes where people cast them (e.g. a Discord message's reactions): candidate index ->
# voters, or None when they cannot be read (the mirrored votes in Redis then count).
ReadVotes = Callable[[Breed], Awaitable[Mapping[int, set[int]] | None]]


class Votes:
    """The votes of every breed. `get` finds a breed (BreedError if none); `lock` is the breed's lock;
    `counted(n)` is told of each vote counted (a reaction added, a ballot's picks), for the metrics."""

    def __init__(
        self, votes: VoteRecords, breeds: BreedStates, get: Callable[[str], Awaitable[Breed]],
        lock: Callable[[str], contextlib.AbstractAsyncContextManager[None]],
        counted: Callable[[int], None] = lambda votes: None,
    ) -> None:
        self.votes = votes
        self.breeds = breeds
        self.get = get
        self.lock = lock
        self.counted = counted

    async def record(self, message_id: int, index: int, user_id: int, *, added: bool) -> bool:
        """Mirror one reaction on a linked message; False when it is not a vote on an open generation."""
        target = await self.breeds.message_target(message_id)
        if target is None:
            return False
        breed_id, generation = target
        breed = await self.breeds.get(breed_id)
        if breed is None or refusal(breed, "vote") or breed.generation != generation:
            return False
        if not 0 <= index < breed.params.population:
            return False
        if added:
            recorded = await self.votes.add(breed_id, generation, index, user_id)
            if recorded:
                self.counted(1)
            return recorded
        return await self.votes.remove(breed_id, generation, index, user_id)

    async def cast_ballot(self, breed_id: str, generation: int, user_id: int, picks: Sequence[int]) -> tuple[int, ...]:
        """Replace one person's votes on the generation up for votes with `picks` (0-based; repeats count
        twice, as typed in the terminal or clicked on the page). Returns the generation's tally."""
        async with self.lock(breed_id):
            breed = await self.get(breed_id)
            reason = refusal(breed, "vote")
            if reason is not None:
                raise BreedError(reason)
            if generation != breed.generation:
                raise BreedError(f"Generation {generation + 1} is not up for votes; generation "
                                 f"{breed.generation + 1} is.")
            try:
                counts = ballot_counts(picks, breed.params.population)
            except ValueError as error:
                raise BreedError(f"Cannot vote: {error}.") from None
            await self.votes.set_ballot(breed_id, generation, user_id, counts)
            self.counted(sum(counts))
            return tuple(await self.votes.tally(breed_id, generation, breed.params.population))

    async def ballot(self, breed: Breed, user_id: int) -> tuple[int, ...]:
        """One person's votes per candidate on the breed's current generation."""
        if breed.generation < 0:
            return ()
        return tuple(await self.votes.ballot(breed.breed_id, breed.generation, user_id))

    async def link_message(self, message_id: int, breed_id: str, number: int) -> None:
        """Remember that `message_id` shows the vote on generation `number`, so reactions on it count."""
        await self.breeds.link_message(message_id, breed_id, number)

    async def shows_votes(self, breed: Breed, message_id: int | None) -> bool:
        """Whether `message_id` is the vote message of the breed's current generation."""
        if message_id is None:
            return False
        return await self.breeds.message_target(message_id) == (breed.breed_id, breed.generation)

    async def tally(self, breed: Breed, generation: int | None = None) -> tuple[int, ...]:
        """The votes per candidate of a generation (default: the current one)."""
        number = breed.generation if generation is None else generation
        return tuple(await self.votes.tally(breed.breed_id, number, breed.params.population))

    async def fitness(self, breed: Breed, read_votes: ReadVotes | None) -> tuple[int, ...]:
        """The current generation's votes; those read where people cast them replace the mirror first."""
        votes = await read_votes(breed) if read_votes is not None else None
        if votes is not None:
            await self.votes.replace(breed.breed_id, breed.generation, dict(votes))
        return await self.tally(breed)
