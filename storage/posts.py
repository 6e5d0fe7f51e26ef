"""Posting markers in the store: what a front end showed of a generation, so nothing is shown twice.

A marker is set the first time a post of a kind (a generation, its winner, a morph, a family tree)
is shown, and taken back when the post fails; a post's parts sent so far are noted, so a retried
post goes on from there. Both carry the breed's retention from the start.
"""

from __future__ import annotations

from redis.asyncio import Redis

from storage import keys
from storage.client import stored_text, ttl_ms

# --- keys --------------------------------------------------------------------------------------


def posted_key(breed_id: str, number: int, kind: str) -> str:
    """A marker set the first time the bot posts `kind` for a generation."""
    return f"{keys.generation_prefix(breed_id, number)}:posted:{kind}"


def posted_parts_key(breed_id: str, number: int, kind: str) -> str:
    """A hash of the parts of a post of `kind` sent so far (part -> message id), so a retry goes on from there."""
    return f"{keys.generation_prefix(breed_id, number)}:parts:{kind}"


class PostStore:
    """Posting markers and post parts in Redis, kept for `retention_s` (a breed's retention)."""

    def __init__(self, redis: Redis, retention_s: float) -> None:
        self._redis = redis
        self._retention_ms = ttl_ms(retention_s)

    async def mark_posted(self, breed_id: str, number: int, kind: str = "generation") -> bool:
        """True only the first time for (breed, generation, kind): nothing is posted twice."""
        return bool(await self._redis.set(posted_key(breed_id, number, kind), b"1", nx=True, px=self._retention_ms))

    async def is_posted(self, breed_id: str, number: int, kind: str = "generation") -> bool:
        """Whether `kind` of the generation is marked as posted."""
        return bool(await self._redis.exists(posted_key(breed_id, number, kind)))

    async def posted_kinds(self, breed_id: str, number: int, kinds: list[str]) -> set[str]:
        """Which of `kinds` of the generation are marked as posted, in one round trip."""
        if not kinds:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for kind in kinds:
                pipe.exists(posted_key(breed_id, number, kind))
            found = await pipe.execute()
        return {kind for kind, exists in zip(kinds, found, strict=True) if exists}

    async def unmark_posted(self, breed_id: str, number: int, kind: str = "generation") -> None:
        """Forget a posting marker, so that a post that failed after mark_posted can be retried."""
        await self._redis.delete(posted_key(breed_id, number, kind))

    async def post_part(self, breed_id: str, number: int, kind: str, part: str) -> str | None:
        """What a part of a post of `kind` left when it was sent (a message id), or None if it was not."""
        value = await self._redis.hget(posted_parts_key(breed_id, number, kind), part)
        return stored_text(value) if value is not None else None

    async def record_post_part(self, breed_id: str, number: int, kind: str, part: str, value: str) -> None:
        """Note that a part of a post of `kind` was sent, so that a retried post does not send it again."""
        key = posted_parts_key(breed_id, number, kind)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, part, value)
            pipe.pexpire(key, self._retention_ms)
            await pipe.execute()
