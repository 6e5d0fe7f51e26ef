"""Votes in the store: who voted for which candidate of a generation, one set per generation.

A member "i:user" is one vote of `user` for candidate i (a reaction makes exactly one); a ballot
typed or clicked may give a candidate more, "i:user:2", "i:user:3", ...
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from storage import keys
from storage.client import transaction


def votes_key(breed_id: str, number: int) -> str:
    """A set of "candidate:user" members: one vote per user per candidate (it expires with its breed)."""
    return f"{keys.generation_prefix(breed_id, number)}:votes"


class VoteStore:
    """Votes in Redis."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def add(self, breed_id: str, number: int, candidate_index: int, user_id: int) -> bool:
        """Count a user's vote for a candidate; False if that user already voted for it."""
        member = _vote_member(candidate_index, user_id)
        return bool(await self._redis.sadd(votes_key(breed_id, number), member))

    async def remove(self, breed_id: str, number: int, candidate_index: int, user_id: int) -> bool:
        """Take a user's vote for a candidate back; False if there was none."""
        member = _vote_member(candidate_index, user_id)
        return bool(await self._redis.srem(votes_key(breed_id, number), member))

    async def replace(self, breed_id: str, number: int, votes: dict[int, set[int]]) -> None:
        """Replace the whole tally of a generation: candidate index -> user ids, atomically."""
        members = [_vote_member(index, user) for index, users in votes.items() for user in users]
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
        suffix = f":{user_id}"

        async def write(pipe: Pipeline) -> None:
            mine = [m for m in await pipe.smembers(key) if m.decode().split(":")[1:2] == [suffix[1:]]]
            members = [_vote_member(i, user_id) + (f":{k}" if k > 1 else "")
                       for i, count in enumerate(counts) for k in range(1, count + 1)]
            pipe.multi()
            if mine:
                pipe.srem(key, *mine)
            if members:
                pipe.sadd(key, *members)
            await pipe.execute()

        await transaction(self._redis, [key], write)

    async def voters(self, breed_id: str, number: int) -> set[int]:
        """Everyone who voted on a generation."""
        return {int(member.split(b":")[1]) for member in await self._redis.smembers(votes_key(breed_id, number))}

    async def ballot(self, breed_id: str, number: int, user_id: int) -> tuple[int, ...]:
        """One user's votes on a generation, as candidate indexes (a candidate voted for twice comes twice)."""
        picks = []
        for member in await self._redis.smembers(votes_key(breed_id, number)):
            parts = member.decode().split(":")
            if len(parts) >= 2 and parts[1] == str(user_id):
                picks.append(int(parts[0]))
        return tuple(sorted(picks))

    async def tally(self, breed_id: str, number: int, population: int) -> list[int]:
        """Votes per candidate index (0..population-1); votes for other indexes are ignored."""
        counts = [0] * population
        for member in await self._redis.smembers(votes_key(breed_id, number)):
            index = int(member.split(b":", 1)[0])
            if 0 <= index < population:
                counts[index] += 1
        return counts


def _vote_member(candidate_index: int, user_id: int) -> str:
    if candidate_index < 0:
        raise ValueError(f"candidate index must be 0 or more, not {candidate_index}")
    return f"{candidate_index}:{user_id}"
