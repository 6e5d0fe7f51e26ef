"""Filling a test Redis (started with a small maxmemory) until it refuses writes, for the tests of a full store."""

from __future__ import annotations

import contextlib

import pytest
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError

FILLER_PREFIX = "mb:test:filler:"


async def fill(redis: Redis) -> None:
    """Fill Redis well past its maxmemory: until a write is refused, then, in room made by deleting a
    filler, one small command that makes a 4 MB value, so that memory stays over the bound however
    the server's buffers come and go (a big write counts its own bytes in transit)."""
    with pytest.raises(OutOfMemoryError):
        for number in range(10_000):
            await redis.set(f"{FILLER_PREFIX}{number}", b"x" * 100_000)
    for spare in range(number):
        await redis.delete(f"{FILLER_PREFIX}{spare}")
        with contextlib.suppress(OutOfMemoryError):
            await redis.setrange(f"{FILLER_PREFIX}over", 4_000_000, b"x")
            break
    with pytest.raises(OutOfMemoryError):
        await redis.set(f"{FILLER_PREFIX}probe", b"1")
