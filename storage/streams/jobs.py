"""The jobs stream: bot -> worker jobs in `mb:jobs`, read by the workers' group at least once.

A worker holds a job under a lease it renews while the job runs, so only a dead worker's job is
reclaimed; a job that cannot be done goes to the dead letters. The same job (breed, kind, arguments)
is queued once while it waits or runs. The stream is bounded by the service, which refuses new work
while `queued_jobs()` is over its bound (backpressure). The watchdog's marks of a breed's step found
without its job live here too.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from domain.jobs import Job
from runtime.signals import sleep_or_stop
from storage.client import stored_text
from storage.codec import dump_job, load_job
from storage.keys import PREFIX
from storage.streams.log import (
    DEAD_LETTERS,
    FORGET_CONSUMER_MS,
    JOBS,
    PAYLOAD_FIELD,
    DeadLetter,
    Delivery,
    GroupStream,
    stream_id,
    text,
    to_delivery,
)

log = logging.getLogger(__name__)

WORKERS_GROUP = "workers"

# Jobs whose `breed_id` is the id of the new thing they make (a tune, a piece): the same job is the same
# kind and arguments, whatever new id each request was given.
_NEW_ID_KINDS = frozenset({"tune", "compose"})
# A queued or running job's mark that refuses the same job again (pending_job_key). It goes when the job
# is acknowledged or dead-lettered; the expiry only tidies up after a lost Redis write.
PENDING_JOB_TTL_MS = 3_600_000
# A breed the watchdog found without its job keeps its marks this long.
WATCHDOG_TTL_MS = 86_400_000
# At most this many entries are read when listing the jobs in flight (far above any queue bound).
_MAX_IN_FLIGHT = 100_000


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


class LeaseLost(RuntimeError):
    """The job is no longer held by this consumer: another one reclaimed it, or it was dead-lettered."""


class Lease(abc.ABC):
    """A worker's hold on one job: renewed while the job runs, so only a dead worker's job is reclaimed.
    A store says how it renews (`_renew`); the rest is the same for every store."""

    def __init__(self, message_id: str, consumer: str) -> None:
        self.message_id = message_id
        self.consumer = consumer
        self.lost = False

    @abc.abstractmethod
    async def _renew(self) -> bool:
        """Reset the job's idle time if this consumer still holds it; whether it does."""

    async def renew(self) -> bool:
        """Reset the job's idle time if this consumer still holds it; False (and `lost`) when it does not."""
        held = await self._renew()
        if not held:
            self.lost = True
        return held

    async def confirm(self) -> None:
        """LeaseLost unless this consumer still holds the job (call before writing a result)."""
        if self.lost or not await self.renew():
            raise LeaseLost(f"job {self.message_id} is no longer held by {self.consumer}")

    @contextlib.asynccontextmanager
    async def held(self, timeout_ms: int) -> AsyncIterator[Lease]:
        """This lease while the block runs, renewed three times per `timeout_ms` (the reclaim timeout)."""
        done = asyncio.Event()
        beat = asyncio.create_task(self.keep_alive(timeout_ms / 3000, done), name=f"lease {self.message_id}")
        try:
            yield self
        finally:
            done.set()
            await beat

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


class JobLease(Lease):
    """The lease of a job of the Redis jobs stream."""

    def __init__(self, redis: Redis, message_id: str, consumer: str) -> None:
        super().__init__(message_id, consumer)
        self._redis = redis

    async def _renew(self) -> bool:
        return bool(await self._redis.eval(_RENEW_IF_MINE, 1, JOBS, WORKERS_GROUP, self.consumer, self.message_id))


class JobStream(GroupStream):
    """The jobs stream of the store: enqueue (once), read, lease, reclaim, acknowledge, dead-letter, count."""

    name = JOBS

    async def ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        """Create the stream and the workers' group if missing (safe to call on every start)."""
        await self._ensure_group(WORKERS_GROUP, forget_idle_ms)

    async def enqueue_job(self, job: Job) -> str:
        """Append a job for the workers; returns its message id."""
        return await self._add(dump_job(job))

    async def enqueue_unique_job(self, job: Job) -> str | None:
        """Append a job unless the same job (breed, kind, arguments) is queued or running; its message id,
        or None when it is there already."""
        raw = dump_job(job)
        added = await self._redis.eval(_ADD_UNLESS_PENDING, 2, JOBS, pending_job_key(raw), raw,
                                       PENDING_JOB_TTL_MS, PAYLOAD_FIELD)
        if added is None:
            return None
        await self._count()
        return text(added)

    def queue_job(self, pipe: Pipeline, job: Job) -> None:
        """Queue the XADD of a job on a transaction's pipeline (a state change and its job happen together)."""
        pipe.xadd(JOBS, {PAYLOAD_FIELD: dump_job(job)})

    async def queued_jobs(self) -> int:
        """Jobs not done yet: waiting for a worker (the group's lag) and held by one (pending)."""
        group = await self._group(WORKERS_GROUP)
        if group is None:
            return int(await self._redis.xlen(JOBS))  # 0 without a stream
        lag = group.get("lag")
        if lag is None:
            # Redis cannot tell the lag (an entry was deleted in the unread range): count the unread.
            unread = await self._redis.xrange(JOBS, min=f"({text(group['last-delivered-id'])}", max="+",
                                              count=_MAX_IN_FLIGHT)
            lag = len(unread or [])
        return int(lag) + int(group["pending"])

    async def jobs_in_flight(self) -> list[Job]:
        """The jobs waiting for a worker or held by one (those that decode), oldest first."""
        group = await self._group(WORKERS_GROUP)
        if group is None:
            return []
        last_read = stream_id(text(group["last-delivered-id"]))
        held = {stored_text(entry["message_id"]) for entry in await self._redis.xpending_range(
            JOBS, WORKERS_GROUP, min="-", max="+", count=_MAX_IN_FLIGHT)}
        jobs = []
        for message_id, fields in await self._redis.xrange(JOBS, count=_MAX_IN_FLIGHT) or []:
            if message_id is None:
                continue  # an entry deleted meanwhile (XRANGE never returns one; its type allows it)
            mid = stored_text(message_id)
            if mid not in held and stream_id(mid) <= last_read:
                continue  # done: acknowledged, not trimmed yet
            found = to_delivery(mid, fields, load_job)
            if isinstance(found.payload, Job):
                jobs.append(found.payload)
        return jobs

    async def read_jobs(self, consumer: str, count: int = 1, block_ms: int | None = 1000) -> list[Delivery]:
        """New jobs for `consumer`, waiting up to block_ms (None: no wait) when there are none."""
        return await self._read(WORKERS_GROUP, consumer, count, block_ms, load_job)

    async def claim_stale_jobs(self, consumer: str, min_idle_ms: int, count: int = 10) -> list[Delivery]:
        """Take over jobs that another consumer read but has not acked for min_idle_ms."""
        return await self._claim(WORKERS_GROUP, consumer, min_idle_ms, count, load_job)

    def job_lease(self, message_id: str, consumer: str, timeout_ms: int) -> AbstractAsyncContextManager[Lease]:
        """Hold a job while it runs: its lease is renewed three times per `timeout_ms`, the reclaim timeout."""
        return JobLease(self._redis, message_id, consumer).held(timeout_ms)

    async def ack_job(self, message_id: str, raw: str = "") -> bool:
        """Mark a job done; True if it was pending. `raw`: its payload, so that the same job may be asked again."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(JOBS, WORKERS_GROUP, message_id)
            if raw:
                pipe.delete(pending_job_key(raw))
            acked = (await pipe.execute())[0]
        await self._count()
        return bool(acked)

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Record a job that cannot be done (with the reason) and ack it, in one transaction."""
        await self._dead_letter(WORKERS_GROUP, delivery, reason)

    def _queue_dead_letter(self, pipe: Pipeline, delivery: Delivery) -> None:
        if delivery.raw:
            pipe.delete(pending_job_key(delivery.raw))  # the same job may be asked again

    async def dead_letters(self, limit: int = 50) -> list[DeadLetter]:
        """The newest dead-letter records first (of jobs and of events): {id, stream, raw, reason, time}."""
        entries = await self._redis.xrevrange(DEAD_LETTERS, count=limit)
        records = []
        for _entry_id, fields in entries or []:
            if fields is None:
                continue  # an entry deleted meanwhile (XREVRANGE never returns one; its type allows it)
            record: DeadLetter = {text(name): text(value) for name, value in fields.items()}
            record["time"] = float(record.get("time", 0.0))
            records.append(record)
        return records

    # --- the watchdog's marks ------------------------------------------------------------------

    async def missing_since(self, breed_id: str, generation: int, status: str, now: float) -> float:
        """When a breed's step was first found without its job (`now` if this is the first time)."""
        key = watchdog_key(breed_id, generation, status)
        await self._redis.hsetnx(key, "seen", repr(now))
        await self._redis.pexpire(key, WATCHDOG_TTL_MS)
        return float(text(await self._redis.hget(key, "seen") or repr(now)))

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
