"""The job and event streams in memory: the twin of storage.streams.MessageStreams.

Each stream is a log of entries with Redis-like ids ("ms-seq", from the store's clock) and consumer
groups that keep, per group, the last entry handed out and the pending entries (who holds each, since
when, how often it was handed out). Reading, reclaiming (`claim_stale_*`, by idle time on the clock),
acknowledging, dead letters, unique jobs, trimming and the terminal sessions' groups behave as the
Redis streams do, as far as tests/contract pins them down.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ResponseError

from runtime.signals import sleep_or_stop
from storage import streams as redis_streams
from storage.codec import Event, Job, dump, load_event, load_job
from storage.memory.space import Space
from storage.streams import (
    DEAD_LETTERS_MAXLEN,
    EVENT_GROUPS,
    EVENTS,
    FORGET_CONSUMER_MS,
    JOBS,
    PENDING_JOB_TTL_MS,
    SESSION_READER_PREFIX,
    SHARDS_GROUP_PREFIX,
    WATCHDOG_TTL_MS,
    WORKERS_GROUP,
    Delivery,
    LeaseLost,
    event_group,
    job_identity,
    session_reader,
)

EntryId = tuple[int, int]
Loader = Callable[[bytes | str], Job | Event]


def _text_id(entry_id: EntryId) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


def _parse_id(text: str) -> EntryId:
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


@dataclass
class _Held:
    """A pending entry of a group: who holds it, when it was last handed out (ms), how often."""

    consumer: str
    since_ms: int
    times: int = 1


@dataclass
class _Group:
    last: EntryId
    pending: dict[EntryId, _Held] = field(default_factory=dict)
    # Consumer -> when it last read or claimed (ms).
    consumers: dict[str, int] = field(default_factory=dict)


@dataclass
class _Log:
    entries: dict[EntryId, str] = field(default_factory=dict)  # insertion order is id order
    groups: dict[str, _Group] = field(default_factory=dict)
    last_id: EntryId = (0, 0)
    since_trim: int = 0
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


class MemoryStreams:
    """The job and event streams of the in-memory store: enqueue, read, reclaim, ack and dead-letter."""

    def __init__(self, space: Space) -> None:
        self._space = space
        self._logs = {JOBS: _Log(), EVENTS: _Log()}
        self._dead_letters: list[dict[str, Any]] = []
        self._shard_groups: set[str] = set()

    def _now_ms(self) -> int:
        return int(self._space.clock() * 1000)

    def messages(self, stream: str) -> list[str]:
        """Every payload `stream` holds, oldest first, acknowledged or not (what XRANGE shows of a Redis
        stream): for a test that looks at what was sent."""
        return list(self._logs[stream].entries.values())

    def state(self) -> object:
        """What the streams hold (entries, groups, dead letters), to compare before and after."""
        return copy.deepcopy(({name: (log.entries, log.groups) for name, log in self._logs.items()},
                              self._dead_letters))

    # --- groups ------------------------------------------------------------------------------

    def events_group(self, front: str) -> str:
        if front.startswith(SHARDS_GROUP_PREFIX):
            self._shard_groups.add(front)
        return event_group(front)

    async def ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        """Create the consumer groups if missing (from the first entry); forget consumers that hold nothing
        and were idle for `forget_idle_ms`, but each group's most recently active one."""
        self._ensure_groups(forget_idle_ms)

    def _ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        groups = [*EVENT_GROUPS.values(), *sorted(self._shard_groups)]
        now = self._now_ms()
        for stream, group in [(JOBS, WORKERS_GROUP), *((EVENTS, group) for group in groups)]:
            found = self._logs[stream].groups.setdefault(group, _Group(last=(0, 0)))
            by_idle = sorted(found.consumers.items(), key=lambda item: now - item[1])
            for name, seen in by_idle[1:]:
                holds = any(held.consumer == name for held in found.pending.values())
                if not holds and now - seen >= forget_idle_ms:
                    del found.consumers[name]

    def _group(self, stream: str, group: str) -> _Group:
        found = self._logs[stream].groups.get(group)
        if found is None:
            raise ResponseError(f"NOGROUP No such key '{stream}' or consumer group '{group}'")
        return found

    def _known(self, group: str) -> bool:
        return group in (WORKERS_GROUP, *EVENT_GROUPS.values(), *self._shard_groups)

    # --- adding, reading, claiming -----------------------------------------------------------

    def _add(self, stream: str, raw: str) -> str:
        log = self._logs[stream]
        now = self._now_ms()
        entry_id = (now, 0) if now > log.last_id[0] else (log.last_id[0], log.last_id[1] + 1)
        log.entries[entry_id] = raw
        log.last_id = entry_id
        for waiter in log.waiters:
            if not waiter.done():
                waiter.set_result(None)
        log.waiters.clear()
        self._count(stream)
        return _text_id(entry_id)

    def add_job_now(self, job: Job) -> str:
        """Append a job at once (a breed's state change and its job happen together)."""
        return self._add(JOBS, dump(job))

    async def _read(self, stream: str, group: str, consumer: str, count: int, block_ms: int | None,
                    loader: Loader, start: str = ">") -> list[Delivery]:
        log = self._logs[stream]
        if group not in log.groups and self._known(group):
            self._ensure_groups()  # as after Redis lost its data: the group is made again
        deliveries = self._take(stream, group, consumer, count, loader, start)
        if deliveries or block_ms is None or start != ">":
            return deliveries
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        log.waiters.append(waiter)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, None if block_ms == 0 else block_ms / 1000)
        return self._take(stream, group, consumer, count, loader, start)

    def _take(self, stream: str, group: str, consumer: str, count: int, loader: Loader,
              start: str) -> list[Delivery]:
        log = self._logs[stream]
        found = self._group(stream, group)
        now = self._now_ms()
        found.consumers[consumer] = now
        if start != ">":
            own = [entry_id for entry_id, held in sorted(found.pending.items()) if held.consumer == consumer]
            return [_delivery(entry_id, log.entries.get(entry_id), loader) for entry_id in own[:count]]
        fresh = [entry_id for entry_id in log.entries if entry_id > found.last][:count]
        for entry_id in fresh:
            found.pending[entry_id] = _Held(consumer, now)
            found.last = entry_id
        return [_delivery(entry_id, log.entries[entry_id], loader) for entry_id in fresh]

    def _claim(self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int,
               loader: Loader) -> list[Delivery]:
        log = self._logs[stream]
        found = log.groups.get(group)
        if found is None:
            if self._known(group):
                self._ensure_groups()
            return []
        now = self._now_ms()
        found.consumers[consumer] = now
        deliveries = []
        for entry_id, held in sorted(found.pending.items()):
            if len(deliveries) >= count:
                break
            if now - held.since_ms < min_idle_ms:
                continue
            if entry_id not in log.entries:
                del found.pending[entry_id]  # trimmed meanwhile: XAUTOCLAIM drops it too
                continue
            held.consumer, held.since_ms, held.times = consumer, now, held.times + 1
            delivery = _delivery(entry_id, log.entries[entry_id], loader)
            deliveries.append(Delivery(delivery.message_id, delivery.raw, delivery.payload, delivery.error,
                                       deliveries=held.times))
        return deliveries

    def _ack(self, stream: str, group: str, message_id: str) -> bool:
        found = self._logs[stream].groups.get(group)
        acked = found is not None and found.pending.pop(_parse_id(message_id), None) is not None
        self._count(stream)
        return acked

    def _dead_letter(self, stream: str, group: str, delivery: Delivery, reason: str) -> None:
        self._dead_letters.append({"id": delivery.message_id, "stream": stream, "raw": delivery.raw,
                                   "reason": reason, "deliveries": str(delivery.deliveries), "time": time.time()})
        del self._dead_letters[:-DEAD_LETTERS_MAXLEN]
        self._ack(stream, group, delivery.message_id)
        if stream == JOBS and delivery.raw:
            self._space.delete(("job-pending", job_identity(delivery.raw)))

    # --- jobs --------------------------------------------------------------------------------

    async def enqueue_job(self, job: Job) -> str:
        return self._add(JOBS, dump(job))

    async def enqueue_unique_job(self, job: Job) -> str | None:
        """Append a job unless the same job is queued or running; its message id, or None."""
        raw = dump(job)
        mark = ("job-pending", job_identity(raw))
        if not self._space.set(mark, "", PENDING_JOB_TTL_MS / 1000, nx=True):
            return None
        message_id = self._add(JOBS, raw)
        self._space.set(mark, message_id, PENDING_JOB_TTL_MS / 1000)
        return message_id

    async def queued_jobs(self) -> int:
        log = self._logs[JOBS]
        found = log.groups.get(WORKERS_GROUP)
        if found is None:
            return len(log.entries)
        return sum(1 for entry_id in log.entries if entry_id > found.last) + len(found.pending)

    async def jobs_in_flight(self) -> list[Job]:
        log = self._logs[JOBS]
        found = log.groups.get(WORKERS_GROUP)
        if found is None:
            return []
        jobs = []
        for entry_id, raw in log.entries.items():
            if entry_id in found.pending or entry_id > found.last:
                payload = _delivery(entry_id, raw, load_job).payload
                if isinstance(payload, Job):
                    jobs.append(payload)
        return jobs

    async def read_jobs(self, consumer: str, count: int = 1, block_ms: int | None = 1000) -> list[Delivery]:
        return await self._read(JOBS, WORKERS_GROUP, consumer, count, block_ms, load_job)

    async def claim_stale_jobs(self, consumer: str, min_idle_ms: int, count: int = 10) -> list[Delivery]:
        return self._claim(JOBS, WORKERS_GROUP, consumer, min_idle_ms, count, load_job)

    @contextlib.asynccontextmanager
    async def job_lease(self, message_id: str, consumer: str, timeout_ms: int) -> AsyncIterator[MemoryJobLease]:
        lease = MemoryJobLease(self, message_id, consumer)
        done = asyncio.Event()
        beat = asyncio.create_task(lease.keep_alive(timeout_ms / 3000, done), name=f"lease {message_id}")
        try:
            yield lease
        finally:
            done.set()
            await beat

    def _renew(self, message_id: str, consumer: str) -> bool:
        found = self._logs[JOBS].groups.get(WORKERS_GROUP)
        held = found.pending.get(_parse_id(message_id)) if found is not None else None
        if held is None or held.consumer != consumer:
            return False
        held.since_ms = self._now_ms()
        return True

    async def ack_job(self, message_id: str, raw: str = "") -> bool:
        acked = self._ack(JOBS, WORKERS_GROUP, message_id)
        if raw:
            self._space.delete(("job-pending", job_identity(raw)))
        return acked

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        self._dead_letter(JOBS, WORKERS_GROUP, delivery, reason)

    async def dead_letters(self, limit: int = 50) -> list[dict[str, Any]]:
        return [dict(record) for record in reversed(self._dead_letters[-limit:])] if limit > 0 else []

    # --- events ------------------------------------------------------------------------------

    async def publish_event(self, event: Event) -> str:
        return self._add(EVENTS, dump(event))

    async def read_events(self, consumer: str, count: int = 10, block_ms: int | None = 1000,
                          front: str = "discord", *, own_pending: bool = False) -> list[Delivery]:
        return await self._read(EVENTS, self.events_group(front), consumer, count, block_ms, load_event,
                                start="0" if own_pending else ">")

    async def claim_stale_events(self, consumer: str, min_idle_ms: int, count: int = 10,
                                 front: str = "discord") -> list[Delivery]:
        return self._claim(EVENTS, self.events_group(front), consumer, min_idle_ms, count, load_event)

    async def ack_event(self, message_id: str, front: str = "discord") -> bool:
        return self._ack(EVENTS, self.events_group(front), message_id)

    async def dead_letter_event(self, delivery: Delivery, reason: str, front: str = "discord") -> None:
        self._dead_letter(EVENTS, self.events_group(front), delivery, reason)

    # --- terminal sessions -------------------------------------------------------------------

    async def add_session_group(self, session_id: str) -> str:
        reader = session_reader(session_id)
        groups = self._logs[EVENTS].groups
        if event_group(reader) in groups:
            raise ResponseError("BUSYGROUP Consumer Group name already exists")
        groups[event_group(reader)] = _Group(last=(self._now_ms(), 0))
        return reader

    async def session_groups(self) -> dict[str, float]:
        now = self._now_ms()
        return {name.removeprefix(SESSION_READER_PREFIX): max(0, now - group.last[0]) / 1000
                for name, group in self._logs[EVENTS].groups.items() if name.startswith(SESSION_READER_PREFIX)}

    async def remove_session_group(self, session_id: str) -> None:
        self._logs[EVENTS].groups.pop(event_group(session_reader(session_id)), None)
        self._space.delete(("session-alive", session_id))

    async def mark_session_alive(self, session_id: str, for_s: float) -> None:
        self._space.set(("session-alive", session_id), True, max(0.001, for_s))

    async def session_alive(self, session_id: str) -> bool:
        return self._space.exists(("session-alive", session_id))

    # --- the watchdog's marks ----------------------------------------------------------------

    def _watchdog(self, breed_id: str, generation: int, status: str) -> dict[str, float | bool]:
        key = ("watchdog", breed_id, generation, status)
        marks: dict[str, float | bool] = self._space.setdefault(key, dict)
        self._space.expire(key, WATCHDOG_TTL_MS / 1000)
        return marks

    async def missing_since(self, breed_id: str, generation: int, status: str, now: float) -> float:
        return float(self._watchdog(breed_id, generation, status).setdefault("seen", now))

    async def found_again(self, breed_id: str, generation: int, status: str) -> None:
        key = ("watchdog", breed_id, generation, status)
        if "told" not in self._space.get(key, {}):
            self._space.delete(key)

    async def tell_once(self, breed_id: str, generation: int, status: str) -> bool:
        marks = self._watchdog(breed_id, generation, status)
        if "told" in marks:
            return False
        marks["told"] = True
        return True

    # --- trimming ----------------------------------------------------------------------------

    async def trim(self, stream: str) -> int:
        """Remove the entries every group that holds the stream back has acknowledged; how many went."""
        return self._trim(stream)

    def _trim(self, stream: str) -> int:
        log = self._logs[stream]
        now = self._now_ms()
        bound: EntryId | None = None
        for group in log.groups.values():
            abandoned = all(now - seen >= redis_streams.ABANDONED_READER_MS for seen in group.consumers.values())
            if stream == EVENTS and not group.pending and abandoned:
                continue
            oldest = min(group.pending) if group.pending else group.last
            bound = oldest if bound is None else min(bound, oldest)
        if bound is None or bound == (0, 0):
            return 0
        gone = [entry_id for entry_id in log.entries if entry_id < bound]
        for entry_id in gone:
            del log.entries[entry_id]
        return len(gone)

    def _count(self, stream: str) -> None:
        log = self._logs[stream]
        log.since_trim += 1
        if log.since_trim >= redis_streams.TRIM_EVERY:
            log.since_trim = 0
            self._trim(stream)


class MemoryJobLease:
    """A worker's hold on one job of the in-memory jobs stream (storage.streams.JobLease's twin)."""

    def __init__(self, streams: MemoryStreams, message_id: str, consumer: str) -> None:
        self._streams = streams
        self.message_id = message_id
        self.consumer = consumer
        self.lost = False

    async def renew(self) -> bool:
        held = self._streams._renew(self.message_id, self.consumer)
        if not held:
            self.lost = True
        return held

    async def confirm(self) -> None:
        if self.lost or not await self.renew():
            raise LeaseLost(f"job {self.message_id} is no longer held by {self.consumer}")

    async def keep_alive(self, interval_s: float, done: asyncio.Event) -> None:
        while not self.lost:
            await sleep_or_stop(done, interval_s)
            if done.is_set():
                return
            await self.renew()


def _delivery(entry_id: EntryId, raw: str | None, loader: Loader) -> Delivery:
    message_id = _text_id(entry_id)
    if raw is None:
        return Delivery(message_id, "", None, "the message was trimmed from the stream before delivery")
    try:
        payload = loader(raw)
    except Exception as error:  # as the Redis streams: no payload may kill a consumer loop
        return Delivery(message_id, raw, None, str(error) or type(error).__name__)
    return Delivery(message_id, raw, payload, None)
