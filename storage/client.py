"""Opening a Redis connection for the store, and the helpers every concept of the store writes with."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import BusyLoadingError, WatchError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# What Redis raises while it is away, restarting or loading its data: wait and try again.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, BusyLoadingError)

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


def stored(reply: object) -> bytes:
    """A string as the store's client returns it (a value, a field, an id): bytes, since `connect` decodes
    nothing (decode_responses=False), whatever redis-py's types allow (bytes | str, or int beside them)."""
    if not isinstance(reply, bytes):
        raise TypeError(f"the store's Redis client must return bytes (decode_responses=False), not {type(reply)}")
    return reply


def stored_or_none(reply: bytes | str | None) -> bytes | None:
    """`stored` of a reply that may be missing (a GET of no key)."""
    return None if reply is None else stored(reply)


def stored_text(reply: object) -> str:
    """A stored id or name (UTF-8) as text."""
    return stored(reply).decode()


def begin(pipe: Pipeline) -> None:
    """Start a transaction's queued writes on a WATCHing pipeline (MULTI)."""
    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py 8.1 leaves Pipeline.multi unannotated


def ttl_ms(seconds: float) -> int:
    """A TTL in milliseconds for Redis's PX, never 0 (which Redis refuses)."""
    return max(1, round(seconds * 1000))


async def transaction(redis: Redis, watched: list[str], body: Callable[[Pipeline], Awaitable[T]]) -> T:
    """Run `body` on a pipeline WATCHing `watched`, again whenever a watched key changed meanwhile.

    `body` reads in immediate mode, then calls begin(pipe), queues writes and executes.
    """
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(*watched)
                return await body(pipe)
            except WatchError:
                log.debug("watched keys %s changed during a transaction; retrying", watched)
            finally:
                await pipe.reset()  # type: ignore[no-untyped-call]  # redis-py 8.1 leaves Pipeline.reset unannotated
