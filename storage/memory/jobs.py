"""The jobs stream in memory: the twin of storage.streams.jobs.JobStream, with the watchdog's marks."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from domain.jobs import Job
from storage.codec import dump_job, load_job
from storage.memory.log import MemoryLog, parse_id
from storage.streams.jobs import PENDING_JOB_TTL_MS, WATCHDOG_TTL_MS, WORKERS_GROUP, Lease, job_identity
from storage.streams.log import FORGET_CONSUMER_MS, JOBS, DeadLetter, Delivery


class MemoryJobs(MemoryLog):
    """The workers' queue in memory: enqueue (once), read, lease, reclaim, acknowledge, dead-letter, count."""

    name = JOBS

    def _known(self, group: str) -> bool:
        return group == WORKERS_GROUP

    def _ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        self._ensure_group(WORKERS_GROUP, forget_idle_ms)

    async def ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        self._ensure_groups(forget_idle_ms)

    def add_job_now(self, job: Job) -> str:
        """Append a job at once (a breed's state change and its job happen together)."""
        return self._add(dump_job(job))

    async def enqueue_job(self, job: Job) -> str:
        return self._add(dump_job(job))

    async def enqueue_unique_job(self, job: Job) -> str | None:
        """Append a job unless the same job is queued or running; its message id, or None."""
        raw = dump_job(job)
        mark = ("job-pending", job_identity(raw))
        if not self._space.set(mark, "", PENDING_JOB_TTL_MS / 1000, nx=True):
            return None
        message_id = self._add(raw)
        self._space.set(mark, message_id, PENDING_JOB_TTL_MS / 1000)
        return message_id

    async def queued_jobs(self) -> int:
        found = self.groups.get(WORKERS_GROUP)
        if found is None:
            return len(self.entries)
        return sum(1 for entry_id in self.entries if entry_id > found.last) + len(found.pending)

    async def jobs_in_flight(self) -> list[Job]:
        found = self.groups.get(WORKERS_GROUP)
        if found is None:
            return []
        jobs = []
        for entry_id, raw in self.entries.items():
            if entry_id in found.pending or entry_id > found.last:
                try:
                    jobs.append(load_job(raw))
                except ValueError:
                    continue  # a job that does not decode is nobody's work
        return jobs

    async def read_jobs(self, consumer: str, count: int = 1, block_ms: int | None = 1000) -> list[Delivery]:
        return await self._read(WORKERS_GROUP, consumer, count, block_ms, load_job)

    async def claim_stale_jobs(self, consumer: str, min_idle_ms: int, count: int = 10) -> list[Delivery]:
        return self._claim(WORKERS_GROUP, consumer, min_idle_ms, count, load_job)

    def job_lease(self, message_id: str, consumer: str, timeout_ms: int) -> AbstractAsyncContextManager[Lease]:
        return MemoryJobLease(self, message_id, consumer).held(timeout_ms)

    def renew(self, message_id: str, consumer: str) -> bool:
        """Reset a job's idle time if `consumer` still holds it."""
        found = self.groups.get(WORKERS_GROUP)
        held = found.pending.get(parse_id(message_id)) if found is not None else None
        if held is None or held.consumer != consumer:
            return False
        held.since_ms = self.now_ms()
        return True

    async def ack_job(self, message_id: str, raw: str = "") -> bool:
        acked = self._ack(WORKERS_GROUP, message_id)
        if raw:
            self._space.delete(("job-pending", job_identity(raw)))
        return acked

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        self._dead_letter(WORKERS_GROUP, delivery, reason)
        if delivery.raw:
            self._space.delete(("job-pending", job_identity(delivery.raw)))

    async def dead_letters(self, limit: int = 50) -> list[DeadLetter]:
        return [dict(record) for record in reversed(self._dead_letters[-limit:])] if limit > 0 else []

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


class MemoryJobLease(Lease):
    """The lease of a job of the in-memory jobs stream (storage.streams.jobs.JobLease's twin)."""

    def __init__(self, jobs: MemoryJobs, message_id: str, consumer: str) -> None:
        super().__init__(message_id, consumer)
        self._jobs = jobs

    async def _renew(self) -> bool:
        return self._jobs.renew(self.message_id, self.consumer)
