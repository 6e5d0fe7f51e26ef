"""Nudges in the store: each generation's nudges, kept beside its votes.

A generation's nudges are a Redis list of codec.Nudge JSON in the order they came, with no TTL
(like the votes), so a restart loses none and the rule that combines them (domain.nudges) can
tell each member's latest.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from storage import keys
from storage.codec import Nudge, dump, load_nudge

log = logging.getLogger(__name__)


def nudges_key(breed_id: str, number: int) -> str:
    """A list of the generation's nudges (codec.Nudge JSON), in the order they came."""
    return f"{keys.generation_prefix(breed_id, number)}:nudges"


class NudgeStore:
    """Nudges in Redis."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def add(self, breed_id: str, number: int, nudge: Nudge) -> int:
        """Append a member's nudge to a generation's; returns how many the generation has now."""
        count = int(await self._redis.rpush(nudges_key(breed_id, number), dump(nudge)))
        log.info("breed %s gen %d: user %d nudged %s by %+g", breed_id, number, nudge.user_id, nudge.attribute,
                 nudge.amount)
        return count

    async def read(self, breed_id: str, number: int) -> list[Nudge]:
        """A generation's nudges, oldest first."""
        return [load_nudge(raw) for raw in await self._redis.lrange(nudges_key(breed_id, number), 0, -1)]
