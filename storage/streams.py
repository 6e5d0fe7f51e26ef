"""The job and event streams: consumer groups, at-least-once delivery, reclaiming and dead letters.

Bot -> worker jobs go to the `mb:jobs` stream (group "workers"), worker -> bot events to
`mb:events` (group "bots"). Each message has one field, "payload", holding codec.dump JSON.
A consumer acks a message only after its result is written; a message whose consumer died is
reclaimed with XAUTOCLAIM once it has been idle long enough.

Neither stream is trimmed by length (`MAXLEN` drops entries nobody has read): every `TRIM_EVERY`
messages added or acknowledged, a stream is trimmed (`XTRIM MINID`) up to the oldest entry some
group has not acknowledged or not read yet. The jobs stream is bounded instead by the service,
which refuses new work while `queued_jobs()` is over its bound (backpressure).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError, RedisError, ResponseError

from domain.jobs import Job
from runtime.signals import sleep_or_stop
from storage.codec import Event, dump, dump_job, load_event, load_job
from storage.keys import PREFIX

log = logging.getLogger(__name__)

# --- keys: the streams and their consumer groups (group names live inside a stream, so they need no prefix)

JOBS = f"{PREFIX}jobs"
EVENTS = f"{PREFIX}events"
DEAD_LETTERS = f"{PREFIX}dead-letters"
WORKERS_GROUP = "workers"
BOTS_GROUP = "bots"
# Each front end that reads worker events has its own group on the events stream: each sees every
# event, and handles those of its own breeds.
WEB_GROUP = "web"
EVENT_GROUPS = {"discord": BOTS_GROUP, "web": WEB_GROUP}
# A terminal session reads the events stream in a group of its own, made when it starts and removed
# when it ends: sessions on one Redis must not take each other's events.
SESSION_READER_PREFIX = "terminal:"
# Bot processes that split the shards (SHARD_IDS) each read every event in a group of their shards and
# handle those of their own servers; processes that run every shard share BOTS_GROUP.
SHARDS_GROUP_PREFIX = f"{BOTS_GROUP}-shards-"


def session_reader(session_id: str) -> str:
    """The reader name (and group) of one terminal session on the events stream."""
    return f"{SESSION_READER_PREFIX}{session_id}"


def session_alive_key(session_id: str) -> str:
    """Set, with a short expiry, while a terminal session runs: a session that was killed stops renewing it."""
    return f"{PREFIX}session:{session_id}:alive"


# Jobs whose `breed_id` is the id of the new thing they make (a tune, a piece): the same job is the same
# kind and arguments, whatever new id each request was given.
_NEW_ID_KINDS = frozenset({"tune", "compose"})


def job_identity(raw: str) -> str:
    """What makes two jobs the same job: the payload, less the new id of a tune or a piece."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(payload, dict) and payload.get("type") in _NEW_ID_KINDS:
        payload.pop("breed_id", None)
        return json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return raw


def pending_job_key(raw: str) -> str:
    """Set while the same job (breed, kind, arguments: `job_identity`) is queued or running."""
    return f"{PREFIX}job-pending:{hashlib.sha256(job_identity(raw).encode()).hexdigest()[:32]}"


def watchdog_key(breed_id: str, generation: int, status: str) -> str:
    """When the watchdog first found a breed's step without its job ("seen"), and whether it told ("told")."""
    return f"{PREFIX}watchdog:{breed_id}:{generation}:{status}"


def event_group(reader: str) -> str:
    """The events stream's consumer group of `reader`: a front end ("discord", "web"), the bot processes of
    some shards, or a terminal session."""
    if reader.startswith((SESSION_READER_PREFIX, SHARDS_GROUP_PREFIX)):
        return reader
    return EVENT_GROUPS[reader]


# A consumer that holds no message and has been idle this long is forgotten (ensure_groups), unless it
# is its group's last.
FORGET_CONSUMER_MS = 86_400_000
# A group of the events stream whose consumers have all been idle this long (a front end gone for good)
# no longer keeps the events it has not read from being trimmed.
ABANDONED_READER_MS = 7 * 86_400_000

PAYLOAD_FIELD = b"payload"
# The dead letters are a record nobody reads in a group: only they are trimmed by length.
DEAD_LETTERS_MAXLEN = 10_000
# A stream is trimmed up to what every group has acknowledged once per this many adds and acks.
TRIM_EVERY = 100
# A queued or running job's mark that refuses the same job again (pending_job_key). It goes when the job
# is acknowledged or dead-lettered; the expiry only tidies up after a lost Redis write.
PENDING_JOB_TTL_MS = 3_600_000
# A breed the watchdog found without its job keeps its marks this long.
WATCHDOG_TTL_MS = 86_400_000
# At most this many entries are read when listing the jobs in flight (far above any queue bound).
_MAX_IN_FLIGHT = 100_000
# XAUTOCLAIM scans a bounded slice of the pending list per call; this bounds the calls per claim.
_MAX_CLAIM_SCANS = 10


# Resets a job's idle time only while `consumer` still holds it: XCLAIM ... JUSTID neither counts a
# delivery nor (thanks to the XPENDING check first) takes the job from a consumer that reclaimed it.
_RENEW_IF_MINE = """
local held = redis.call("XPENDING", KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #held == 0 then
    return 0
end
redis.call("XCLAIM", KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], "JUSTID")
return 1
"""


# Adds a job unless the same one is queued or running: its mark is set with the job, in one step.
_ADD_UNLESS_PENDING = """
if not redis.call("SET", KEYS[2], "1", "NX", "PX", ARGV[2]) then
    return false
end
local id = redis.call("XADD", KEYS[1], "*", ARGV[3], ARGV[1])
redis.call("SET", KEYS[2], id, "PX", ARGV[2])
return id
"""


def _stream_id(text: str) -> tuple[int, int]:
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


class LeaseLost(RuntimeError):
    """The job is no longer held by this consumer: another one reclaimed it, or it was dead-lettered."""


class JobLease:
    """A worker's hold on one job: renewed while the job runs, so only a dead worker's job is reclaimed."""

    def __init__(self, redis: Redis, message_id: str, consumer: str) -> None:
        self._redis = redis
        self.message_id = message_id
        self.consumer = consumer
        self.lost = False

    async def renew(self) -> bool:
        """Reset the job's idle time if this consumer still holds it; False (and `lost`) when it does not."""
        held = bool(await self._redis.eval(_RENEW_IF_MINE, 1, JOBS, WORKERS_GROUP, self.consumer,
                                           self.message_id))
        if not held:
            self.lost = True
        return held

    async def confirm(self) -> None:
        """LeaseLost unless this consumer still holds the job (call before writing a result)."""
        if self.lost or not await self.renew():
            raise LeaseLost(f"job {self.message_id} is no longer held by {self.consumer}")

    async def keep_alive(self, interval_s: float, done: asyncio.Event) -> None:
        """Renew every `interval_s` until `done` is set or the job is lost; a Redis outage only skips a beat.

        It ends cooperatively, never cancelled: cancelling a task inside a redis-py call can leave
        the awaiting task hanging (see service.events), and a renewal in flight takes milliseconds.
        """
        while not self.lost:
            await sleep_or_stop(done, interval_s)
            if done.is_set():
                return
            try:
                if not await self.renew():
                    log.warning("job %s was taken from %s while it ran", self.message_id, self.consumer)
            except Exception as error:  # noqa: BLE001 - a missed beat; confirm() decides before the write
                log.info("job %s: lease not renewed (%s)", self.message_id, error)


@dataclass(frozen=True)
class Delivery:
    """One message read from a stream. A payload that does not decode has payload None and an error."""

    message_id: str
    raw: str
    payload: Job | Event | None
    error: str | None
    # How often the stream has handed this message out, counted by Redis itself (XPENDING), so it
    # survives restarts: 1 for a fresh read, more each time it was reclaimed from a consumer that died.
    deliveries: int = 1


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _delivery(message_id: bytes | str, fields: dict[bytes, bytes] | None,
              loader: Callable[[bytes], Job | Event]) -> Delivery:
    mid = _text(message_id)
    if fields is None:
        return Delivery(mid, "", None, "the message was trimmed from the stream before delivery")
    raw = fields.get(PAYLOAD_FIELD)
    if raw is None:
        return Delivery(mid, "", None, "the message has no payload field")
    try:
        payload = loader(raw)
    # Broad on purpose: a stream message is untrusted input, and no payload may kill a consumer loop.
    except Exception as error:
        return Delivery(mid, _text(raw), None, str(error) or type(error).__name__)
    return Delivery(mid, _text(raw), payload, None)


def _deliveries(messages: list[Any], loader: Callable[[bytes], Job | Event]) -> list[Delivery]:
    # A (None, None) entry is a pending message that was deleted; old servers report it without an id.
    return [_delivery(mid, fields, loader) for mid, fields in messages if mid is not None]


def shards_front(shard_ids: list[int]) -> str:
    """The `front` to read events as for bot processes running exactly `shard_ids`: their own events group."""
    return SHARDS_GROUP_PREFIX + "-".join(str(shard) for shard in sorted(shard_ids))


class MessageStreams:
    """The job and event streams of the store: enqueue, read, reclaim, ack and dead-letter."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._shard_groups: set[str] = set()
        # Adds and acks per stream since it was last trimmed (by this process).
        self._since_trim: dict[str, int] = {JOBS: 0, EVENTS: 0}

    def events_group(self, front: str) -> str:
        """The events group a reader reads: "discord", "web", a shards group (made by ensure_groups from
        then on) or a terminal session's."""
        if front.startswith(SHARDS_GROUP_PREFIX):
            self._shard_groups.add(front)
        return event_group(front)

    async def ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        """Create the streams and their consumer groups if missing (safe to call on every start).

        Consumers that hold nothing and were idle for `forget_idle_ms` go: each bot process reads as
        bot-<host>-<pid>, so every restart would leave one more behind. One still alive but idle is
        made again by its next read, as any new consumer is.
        """
        groups = [*EVENT_GROUPS.values(), *sorted(self._shard_groups)]
        pairs = [(JOBS, WORKERS_GROUP), *((EVENTS, group) for group in groups)]
        for stream, group in pairs:
            try:
                # From id 0: messages added before the group existed are still delivered.
                await self._redis.xgroup_create(stream, group, id="0", mkstream=True)
            except OutOfMemoryError:
                # A full Redis refuses even a group that exists: a process still starts if it needs none.
                if not await self._has_group(stream, group):
                    raise
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise
            # The most recently active consumer stays: a group left without one would no longer hold the
            # events it has not read against trimming (a bot down for a day, coming back).
            consumers = sorted(await self._redis.xinfo_consumers(stream, group), key=lambda c: int(c["idle"]))
            for consumer in consumers[1:]:
                if int(consumer["pending"]) == 0 and int(consumer["idle"]) >= forget_idle_ms:
                    await self._redis.xgroup_delconsumer(stream, group, consumer["name"])

    async def _has_group(self, stream: str, group: str) -> bool:
        return await self._group(stream, group) is not None

    async def _group(self, stream: str, group: str) -> dict[str, Any] | None:
        """The stream's XINFO GROUPS entry of `group`; None when there is no such group (or no stream)."""
        try:
            groups = await self._redis.xinfo_groups(stream)
        except ResponseError:  # no stream
            return None
        return next((found for found in groups if _text(found["name"]) == group), None)

    # --- jobs --------------------------------------------------------------------------------

    async def enqueue_job(self, job: Job) -> str:
        """Append a job for the workers; returns its message id."""
        return await self._add(JOBS, dump_job(job))

    async def enqueue_unique_job(self, job: Job) -> str | None:
        """Append a job unless the same job (breed, kind, arguments) is queued or running; its message id,
        or None when it is there already."""
        raw = dump_job(job)
        added = await self._redis.eval(_ADD_UNLESS_PENDING, 2, JOBS, pending_job_key(raw), raw,
                                       PENDING_JOB_TTL_MS, PAYLOAD_FIELD)
        if added is None:
            return None
        await self._count(JOBS)
        return _text(added)

    def queue_job(self, pipe: Any, job: Job) -> None:
        """Queue the XADD of a job on a transaction's pipeline (a state change and its job happen together)."""
        pipe.xadd(JOBS, {PAYLOAD_FIELD: dump_job(job)})

    async def queued_jobs(self) -> int:
        """Jobs not done yet: waiting for a worker (the group's lag) and held by one (pending)."""
        group = await self._group(JOBS, WORKERS_GROUP)
        if group is None:
            return int(await self._redis.xlen(JOBS))  # 0 without a stream
        lag = group.get("lag")
        if lag is None:
            # Redis cannot tell the lag (an entry was deleted in the unread range): count the unread.
            unread = await self._redis.xrange(JOBS, min=f"({_text(group['last-delivered-id'])}", max="+",
                                              count=_MAX_IN_FLIGHT)
            lag = len(unread)
        return int(lag) + int(group["pending"])

    async def jobs_in_flight(self) -> list[Job]:
        """The jobs waiting for a worker or held by one (those that decode), oldest first."""
        group = await self._group(JOBS, WORKERS_GROUP)
        if group is None:
            return []
        last_read = _stream_id(_text(group["last-delivered-id"]))
        held = {_text(entry["message_id"]) for entry in await self._redis.xpending_range(
            JOBS, WORKERS_GROUP, min="-", max="+", count=_MAX_IN_FLIGHT)}
        jobs = []
        for message_id, fields in await self._redis.xrange(JOBS, count=_MAX_IN_FLIGHT):
            mid = _text(message_id)
            if mid not in held and _stream_id(mid) <= last_read:
                continue  # done: acknowledged, not trimmed yet
            delivery = _delivery(mid, fields, load_job)
            if isinstance(delivery.payload, Job):
                jobs.append(delivery.payload)
        return jobs

    async def read_jobs(self, consumer: str, count: int = 1, block_ms: int | None = 1000) -> list[Delivery]:
        """New jobs for `consumer`, waiting up to block_ms (None: no wait) when there are none."""
        return await self._read(JOBS, WORKERS_GROUP, consumer, count, block_ms, load_job)

    async def claim_stale_jobs(self, consumer: str, min_idle_ms: int, count: int = 10) -> list[Delivery]:
        """Take over jobs that another consumer read but has not acked for min_idle_ms."""
        return await self._claim(JOBS, WORKERS_GROUP, consumer, min_idle_ms, count, load_job)

    @contextlib.asynccontextmanager
    async def job_lease(self, message_id: str, consumer: str, timeout_ms: int) -> AsyncIterator[JobLease]:
        """Hold a job while it runs: its lease is renewed three times per `timeout_ms`, the reclaim timeout."""
        lease = JobLease(self._redis, message_id, consumer)
        done = asyncio.Event()
        beat = asyncio.create_task(lease.keep_alive(timeout_ms / 3000, done), name=f"lease {message_id}")
        try:
            yield lease
        finally:
            done.set()
            await beat

    async def ack_job(self, message_id: str, raw: str = "") -> bool:
        """Mark a job done; True if it was pending. `raw`: its payload, so that the same job may be asked again."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(JOBS, WORKERS_GROUP, message_id)
            if raw:
                pipe.delete(pending_job_key(raw))
            acked = (await pipe.execute())[0]
        await self._count(JOBS)
        return bool(acked)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Record a job that cannot be done (with the reason) and ack it, in one transaction."""
        await self._dead_letter(JOBS, WORKERS_GROUP, delivery, reason)

    async def _dead_letter(self, stream: str, group: str, delivery: Delivery, reason: str) -> None:
        record = {"id": delivery.message_id, "stream": stream, "raw": delivery.raw, "reason": reason,
                  "deliveries": str(delivery.deliveries), "time": repr(time.time())}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(DEAD_LETTERS, record, maxlen=DEAD_LETTERS_MAXLEN, approximate=True)
            pipe.xack(stream, group, delivery.message_id)
            if stream == JOBS and delivery.raw:
                pipe.delete(pending_job_key(delivery.raw))
            await pipe.execute()
        await self._count(stream)
        log.warning("%s message %s dead-lettered: %s", stream, delivery.message_id, reason)

    async def dead_letters(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest dead-letter records first: {id, raw, reason, time}."""
        entries = await self._redis.xrevrange(DEAD_LETTERS, count=limit)
        records = []
        for _entry_id, fields in entries:
            record: dict[str, Any] = {_text(name): _text(value) for name, value in fields.items()}
            record["time"] = float(record.get("time", 0.0))
            records.append(record)
        return records

    # --- events ------------------------------------------------------------------------------

    async def publish_event(self, event: Event) -> str:
        """Append an event for the bots; returns its message id."""
        return await self._add(EVENTS, dump(event))

    async def read_events(self, consumer: str, count: int = 10, block_ms: int | None = 1000,
                          front: str = "discord", *, own_pending: bool = False) -> list[Delivery]:
        """New events for `consumer` of `front`'s group, waiting up to block_ms (None: no wait) when there are none.

        `own_pending`: instead, the events this consumer read before and has not acknowledged (a restart).
        """
        return await self._read(EVENTS, self.events_group(front), consumer, count, block_ms, load_event,
                                start="0" if own_pending else ">")

    async def claim_stale_events(self, consumer: str, min_idle_ms: int, count: int = 10,
                                 front: str = "discord") -> list[Delivery]:
        """Take over events that another consumer of `front` read but has not acked for min_idle_ms."""
        return await self._claim(EVENTS, self.events_group(front), consumer, min_idle_ms, count, load_event)

    async def ack_event(self, message_id: str, front: str = "discord") -> bool:
        """Mark an event handled by `front`; True if it was pending."""
        acked = bool(await self._redis.xack(EVENTS, self.events_group(front), message_id))
        await self._count(EVENTS)
        return acked

    async def dead_letter_event(self, delivery: Delivery, reason: str, front: str = "discord") -> None:
        """Record an event `front` gave up on (with the reason) and ack it, in one transaction."""
        await self._dead_letter(EVENTS, self.events_group(front), delivery, reason)

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
            name = _text(group["name"])
            if name.startswith(SESSION_READER_PREFIX):
                last_ms = int(_text(group["last-delivered-id"]).partition("-")[0])
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

    # --- internals ---------------------------------------------------------------------------

    # --- the watchdog's marks ------------------------------------------------------------------

    async def missing_since(self, breed_id: str, generation: int, status: str, now: float) -> float:
        """When a breed's step was first found without its job (`now` if this is the first time)."""
        key = watchdog_key(breed_id, generation, status)
        await self._redis.hsetnx(key, "seen", repr(now))
        await self._redis.pexpire(key, WATCHDOG_TTL_MS)
        return float(_text(await self._redis.hget(key, "seen") or repr(now)))

    async def found_again(self, breed_id: str, generation: int, status: str) -> None:
        """The step's job (or its result) is there after all: forget that it was missing, unless told."""
        key = watchdog_key(breed_id, generation, status)
        if not await self._redis.hexists(key, "told"):
            await self._redis.delete(key)

    async def tell_once(self, breed_id: str, generation: int, status: str) -> bool:
        """True the first time only: the watchdog tells a stuck step once, whichever worker finds it."""
        key = watchdog_key(breed_id, generation, status)
        told = bool(await self._redis.hsetnx(key, "told", b"1"))
        await self._redis.pexpire(key, WATCHDOG_TTL_MS)
        return told

    # --- trimming ------------------------------------------------------------------------------

    async def trim(self, stream: str) -> int:
        """Remove the entries every group that holds the stream back has acknowledged; how many went.

        On the jobs stream that is the workers' group; on the events stream every group with a pending
        event or a consumer active in the last `ABANDONED_READER_MS` (a front end that never ran here, or
        has been gone that long, holds nothing back).
        """
        try:
            groups = await self._redis.xinfo_groups(stream)
        except ResponseError:  # no stream yet
            return 0
        bound: tuple[int, int] | None = None
        for group in groups:
            pending = int(group["pending"])
            if stream == EVENTS and not pending and await self._abandoned(stream, group["name"]):
                continue
            # The oldest pending entry; with none (or none left since XINFO: acknowledged meanwhile), the
            # last delivered, kept itself: one acked entry more is harmless.
            oldest_pending = (await self._redis.xpending(stream, group["name"]))["min"] if pending else None
            oldest = _stream_id(_text(oldest_pending if oldest_pending is not None else group["last-delivered-id"]))
            bound = oldest if bound is None else min(bound, oldest)
        if bound is None or bound == (0, 0):
            return 0
        return int(await self._redis.xtrim(stream, minid=f"{bound[0]}-{bound[1]}", approximate=False))

    async def _abandoned(self, stream: str, group: Any) -> bool:
        """No consumer of the group ever read here, or none for `ABANDONED_READER_MS`."""
        consumers = await self._redis.xinfo_consumers(stream, group)
        return all(int(consumer["idle"]) >= ABANDONED_READER_MS for consumer in consumers)

    async def _count(self, stream: str) -> None:
        """Count an add or ack; trim the stream every TRIM_EVERY of them (a failed trim waits for the next)."""
        self._since_trim[stream] += 1
        if self._since_trim[stream] < TRIM_EVERY:
            return
        self._since_trim[stream] = 0
        try:
            removed = await self.trim(stream)
        except RedisError as error:
            log.info("%s not trimmed (%s)", stream, error)
            return
        except Exception:  # housekeeping: it never fails the add or acknowledgement it follows
            log.exception("%s not trimmed", stream)
            return
        log.debug("%s trimmed by %d entries", stream, removed)

    async def _add(self, stream: str, payload: str) -> str:
        message_id = await self._redis.xadd(stream, {PAYLOAD_FIELD: payload})
        await self._count(stream)
        return _text(message_id)

    async def _read(self, stream: str, group: str, consumer: str, count: int, block_ms: int | None,
                    loader: Callable[[bytes], Job | Event], start: str = ">") -> list[Delivery]:
        streams = {stream: start}
        try:
            response = await self._redis.xreadgroup(group, consumer, streams, count=count, block=block_ms)
        except ResponseError as error:
            # The group is gone when Redis lost its data (no AOF, FLUSHALL): recreate it and go on.
            if "NOGROUP" not in str(error):
                raise
            log.warning("consumer group %s of %s was missing; creating it", group, stream)
            await self.ensure_groups()
            response = await self._redis.xreadgroup(group, consumer, streams, count=count, block=block_ms)
        deliveries: list[Delivery] = []
        for _stream, messages in response or []:
            deliveries.extend(_deliveries(messages, loader))
        return deliveries

    async def _delivery_counts(self, stream: str, group: str, message_ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message_id in message_ids:
            entries = await self._redis.xpending_range(stream, group, min=message_id, max=message_id, count=1)
            for entry in entries:
                counts[_text(entry["message_id"])] = int(entry["times_delivered"])
        return counts

    async def _claim(self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int,
                     loader: Callable[[bytes], Job | Event]) -> list[Delivery]:
        deliveries: list[Delivery] = []
        start: bytes | str = "0-0"
        for _ in range(_MAX_CLAIM_SCANS):
            try:
                response = await self._redis.xautoclaim(
                    stream, group, consumer, min_idle_time=min_idle_ms, start_id=start,
                    count=count - len(deliveries),
                )
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                await self.ensure_groups()
                return []
            start, messages = response[0], response[1]
            claimed = _deliveries(messages, loader)
            counts = await self._delivery_counts(stream, group, [d.message_id for d in claimed])
            deliveries.extend(dataclasses.replace(d, deliveries=counts.get(d.message_id, 1)) for d in claimed)
            if _text(start) == "0-0" or len(deliveries) >= count:
                break
        for delivery in deliveries:
            log.info("reclaimed %s message %s for %s", stream, delivery.message_id, consumer)
        return deliveries
