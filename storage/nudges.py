"""The nudge half of the store: each generation's nudges, kept beside its votes.

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


class NudgeStore:
    """Nudges in Redis; mixed into BreedStore, whose client it uses."""

    _redis: Redis

    async def add_nudge(self, breed_id: str, number: int, nudge: Nudge) -> int:
        """Append a member's nudge to a generation's; returns how many the generation has now."""
        count = int(await self._redis.rpush(keys.nudges(breed_id, number), dump(nudge)))
        log.info("breed %s gen %d: user %d nudged %s by %+g", breed_id, number, nudge.user_id, nudge.attribute,
                 nudge.amount)
        return count

    async def nudges(self, breed_id: str, number: int) -> list[Nudge]:
        """A generation's nudges, oldest first."""
        return [load_nudge(raw) for raw in await self._redis.lrange(keys.nudges(breed_id, number), 0, -1)]
