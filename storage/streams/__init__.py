"""The job and event streams: consumer groups, at-least-once delivery, reclaiming and dead letters.

The store's `streams` has three parts, each in its module: `jobs` (bot -> worker jobs in `mb:jobs`,
group "workers": storage.streams.jobs), `events` (worker -> front end events in `mb:events`, a group per
front end: storage.streams.events) and `sessions` (terminal sessions' own groups of the events stream:
storage.streams.sessions). What they share, reading a stream in groups and trimming it, is
storage.streams.log.
"""

from __future__ import annotations

from redis.asyncio import Redis

from storage.streams.events import (
    ABANDONED_READER_MS,
    BOTS_GROUP,
    EVENT_GROUPS,
    SESSION_READER_PREFIX,
    SHARDS_GROUP_PREFIX,
    WEB_GROUP,
    EventStream,
    event_group,
    session_reader,
    shards_front,
)
from storage.streams.jobs import (
    PENDING_JOB_TTL_MS,
    WATCHDOG_TTL_MS,
    WORKERS_GROUP,
    JobLease,
    JobStream,
    LeaseLost,
    job_identity,
    pending_job_key,
    watchdog_key,
)
from storage.streams.log import (
    DEAD_LETTERS,
    DEAD_LETTERS_MAXLEN,
    EVENTS,
    FORGET_CONSUMER_MS,
    JOBS,
    PAYLOAD_FIELD,
    Delivery,
    StreamStats,
)
from storage.streams.sessions import SessionStream, session_alive_key

__all__ = [
    "ABANDONED_READER_MS", "BOTS_GROUP", "DEAD_LETTERS", "DEAD_LETTERS_MAXLEN", "EVENTS", "EVENT_GROUPS",
    "FORGET_CONSUMER_MS", "JOBS", "PAYLOAD_FIELD", "PENDING_JOB_TTL_MS", "SESSION_READER_PREFIX",
    "SHARDS_GROUP_PREFIX", "WATCHDOG_TTL_MS", "WEB_GROUP", "WORKERS_GROUP", "Delivery", "EventStream", "JobLease",
    "StreamStats",
    "JobStream", "LeaseLost", "MessageStreams", "SessionStream", "event_group", "job_identity", "pending_job_key",
    "session_alive_key", "session_reader", "shards_front", "watchdog_key",
]


class MessageStreams:
    """The store's streams: `jobs`, `events` and `sessions`, and their consumer groups made in one step."""

    def __init__(self, redis: Redis) -> None:
        self.jobs = JobStream(redis)
        self.events = EventStream(redis)
        self.sessions = SessionStream(redis)

    async def ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        """Create the streams and their consumer groups if missing (safe to call on every start).

        Consumers that hold nothing and were idle for `forget_idle_ms` go: each bot process reads as
        bot-<host>-<pid>, so every restart would leave one more behind. One still alive but idle is
        made again by its next read, as any new consumer is.
        """
        await self.jobs.ensure_groups(forget_idle_ms)
        await self.events.ensure_groups(forget_idle_ms)

    async def stats(self) -> list[StreamStats]:
        """The numbers of both streams, for the metrics (runtime.metrics)."""
        return [await self.jobs.stats(), await self.events.stats()]
