"""Terminal sessions on the events stream: each session's own group, made when it starts (reading only
what comes after) and removed when it ends, and its mark of being alive, renewed while it runs."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from storage.keys import PREFIX
from storage.streams.events import SESSION_READER_PREFIX, event_group, session_reader
from storage.streams.log import EVENTS, text


def session_alive_key(session_id: str) -> str:
    """Set, with a short expiry, while a terminal session runs: a session that was killed stops renewing it."""
    return f"{PREFIX}session:{session_id}:alive"


class SessionStream:
    """The terminal sessions' groups of the events stream and their marks of being alive."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def add_session_group(self, session_id: str) -> str:
        """Give a terminal session its own group of the events stream, reading only events added from
        now on; returns the reader name that read_events and the others take as `front`."""
        reader = session_reader(session_id)
        # From the server's clock rather than "$": the group's last id then says when it was made.
        seconds, microseconds = await self._redis.time()
        start = f"{seconds * 1000 + microseconds // 1000}-0"
        await self._redis.xgroup_create(EVENTS, event_group(reader), id=start, mkstream=True)
        return reader

    async def session_groups(self) -> dict[str, float]:
        """Session id -> seconds since its group of the events stream was made or last read (server time)."""
        try:
            groups = await self._redis.xinfo_groups(EVENTS)
        except ResponseError:  # no stream yet
            return {}
        seconds, microseconds = await self._redis.time()
        now_ms = seconds * 1000 + microseconds // 1000
        found = {}
        for group in groups:
            name = text(group["name"])
            if name.startswith(SESSION_READER_PREFIX):
                last_ms = int(text(group["last-delivered-id"]).partition("-")[0])
                found[name.removeprefix(SESSION_READER_PREFIX)] = max(0, now_ms - last_ms) / 1000
        return found

    async def remove_session_group(self, session_id: str) -> None:
        """Remove a terminal session's group of the events stream (its pending events go with it) and its
        mark of being alive."""
        await self._redis.xgroup_destroy(EVENTS, event_group(session_reader(session_id)))
        await self._redis.delete(session_alive_key(session_id))

    async def mark_session_alive(self, session_id: str, for_s: float) -> None:
        """Say that a terminal session runs, for the next `for_s` seconds."""
        await self._redis.set(session_alive_key(session_id), b"1", px=max(1, int(for_s * 1000)))

    async def session_alive(self, session_id: str) -> bool:
        """Whether a terminal session said it runs, and not longer ago than it said."""
        return bool(await self._redis.exists(session_alive_key(session_id)))
