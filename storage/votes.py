"""Votes in the store: who voted for which candidate of a generation, one set per generation.

A member "i:user" is one vote of `user` for candidate i (a reaction makes exactly one); a ballot
typed or clicked may give a candidate more, "i:user:2", "i:user:3", ...
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from storage import keys
from storage.client import begin, transaction


def votes_key(breed_id: str, number: int) -> str:
    """A set of "candidate:user" members: one vote per user per candidate (it expires with its breed)."""
    return f"{keys.generation_prefix(breed_id, number)}:votes"


class VoteStore:
    """Votes in Redis."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def add(self, breed_id: str, number: int, candidate_index: int, user_id: int) -> bool:
        """Count a user's vote for a candidate; False if that user already voted for it."""
        member = vote_member(candidate_index, user_id)
        return bool(await self._redis.sadd(votes_key(breed_id, number), member))

    async def remove(self, breed_id: str, number: int, candidate_index: int, user_id: int) -> bool:
        """Take a user's vote for a candidate back; False if there was none."""
        member = vote_member(candidate_index, user_id)
        return bool(await self._redis.srem(votes_key(breed_id, number), member))

    async def replace(self, breed_id: str, number: int, votes: dict[int, set[int]]) -> None:
        """Replace the whole tally of a generation: candidate index -> user ids, atomically."""
        members = [vote_member(index, user) for index, users in votes.items() for user in users]
        key = votes_key(breed_id, number)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if members:
                pipe.sadd(key, *members)
            await pipe.execute()

    async def set_ballot(self, breed_id: str, number: int, user_id: int, counts: tuple[int, ...]) -> None:
        """Replace all of one user's votes on a generation: `counts[i]` votes for candidate i.

        One vote per candidate is the member "i:user" (as a reaction makes it); further votes of the
        same person for it (typed or clicked twice) are "i:user:2", "i:user:3", ...
        """
        key = votes_key(breed_id, number)

        async def write(pipe: Pipeline) -> None:
            mine = [m for m in await pipe.smembers(key) if is_by(m, user_id)]
            members = ballot_members(user_id, counts)
            begin(pipe)
            if mine:
                pipe.srem(key, *mine)
            if members:
                pipe.sadd(key, *members)
            await pipe.execute()

        await transaction(self._redis, [key], write)

    async def voters(self, breed_id: str, number: int) -> set[int]:
        """Everyone who voted on a generation."""
        return voters_of(await self._redis.smembers(votes_key(breed_id, number)))

    async def ballot(self, breed_id: str, number: int, user_id: int) -> tuple[int, ...]:
        """One user's votes on a generation, as candidate indexes (a candidate voted for twice comes twice)."""
        return ballot_of(await self._redis.smembers(votes_key(breed_id, number)), user_id)

    async def tally(self, breed_id: str, number: int, population: int) -> list[int]:
        """Votes per candidate index (0..population-1); votes for other indexes are ignored."""
        return tally_of(await self._redis.smembers(votes_key(breed_id, number)), population)


# A generation's votes are a set of members "candidate:user"; a person's further votes for the same
# candidate (typed or clicked twice) are "candidate:user:2", "candidate:user:3", ... Both stores keep them so.

def vote_member(candidate_index: int, user_id: int) -> str:
    if candidate_index < 0:
        raise ValueError(f"candidate index must be 0 or more, not {candidate_index}")
    return f"{candidate_index}:{user_id}"


def ballot_members(user_id: int, counts: tuple[int, ...]) -> list[str]:
    """The members of one person's ballot: `counts[i]` votes for candidate i."""
    return [vote_member(i, user_id) + (f":{k}" if k > 1 else "")
            for i, count in enumerate(counts) for k in range(1, count + 1)]


def _parts(member: str | bytes) -> list[str]:
    return (member.decode() if isinstance(member, bytes) else member).split(":")


def is_by(member: str | bytes, user_id: int) -> bool:
    """Whether a member is a vote of this person."""
    return _parts(member)[1:2] == [str(user_id)]


def voters_of(members: Iterable[str | bytes]) -> set[int]:
    return {int(_parts(member)[1]) for member in members}


def ballot_of(members: Iterable[str | bytes], user_id: int) -> tuple[int, ...]:
    """One person's votes as candidate indexes (a candidate voted for twice comes twice)."""
    return tuple(sorted(int(_parts(member)[0]) for member in members if is_by(member, user_id)))


def tally_of(members: Iterable[str | bytes], population: int) -> list[int]:
    """Votes per candidate index (0..population-1); votes for other indexes are ignored."""
    counts = [0] * population
    for member in members:
        index = int(_parts(member)[0])
        if 0 <= index < population:
            counts[index] += 1
    return counts
