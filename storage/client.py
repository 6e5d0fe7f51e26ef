"""Opening a Redis connection for the store."""

from __future__ import annotations

from redis.asyncio import Redis

# Stream reads wait on the server for up to their block_ms, so the socket gets no read timeout
# (it would cut such reads short); only connecting is bounded.
CONNECT_TIMEOUT_S = 5.0


def connect(url: str) -> Redis:
    """An asyncio Redis client for `url` with bytes responses; it connects lazily on first use."""
    return Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        # Re-checks a pooled connection idle this long, so a Redis restart surfaces as a reconnect.
        health_check_interval=30,
    )
