"""Opening a Redis connection for the store, and the helpers every concept of the store writes with."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

log = logging.getLogger(__name__)

# Stream reads wait on the server for up to their block_ms, so the socket gets no read timeout
# (it would cut such reads short); only connecting is bounded.
CONNECT_TIMEOUT_S = 5.0

T = TypeVar("T")


def connect(url: str) -> Redis:
    """An asyncio Redis client for `url` with bytes responses; it connects lazily on first use."""
    return Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        # Re-checks a pooled connection idle this long, so a Redis restart surfaces as a reconnect.
        health_check_interval=30,
    )


def ttl_ms(seconds: float) -> int:
    """A TTL in milliseconds for Redis's PX, never 0 (which Redis refuses)."""
    return max(1, round(seconds * 1000))


async def transaction(redis: Redis, watched: list[str], body: Callable[[Pipeline], Awaitable[T]]) -> T:
    """Run `body` on a pipeline WATCHing `watched`, again whenever a watched key changed meanwhile.

    `body` reads in immediate mode, then calls pipe.multi(), queues writes and executes.
    """
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(*watched)
                return await body(pipe)
            except WatchError:
                log.debug("watched keys %s changed during a transaction; retrying", watched)
            finally:
                await pipe.reset()
