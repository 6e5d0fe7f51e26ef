"""The runner: reads jobs from the `jobs` stream and has the handler of each job's kind do it.

Delivery is at-least-once, so every job is idempotent on (breed, generation): the random
generator of a step is seeded from the breed id and the generation number, and a generation
(or a winner's files, or the morph of a pair of candidates) that is already written is never
written again (the event is simply published once more).
Jobs whose worker died are reclaimed after `job_timeout_s` (XAUTOCLAIM). A bad job goes to
the dead-letter record with its reason, and an error event tells the front end; the loop goes on.
Every job has a hard deadline (`job_deadline_s`): past it, the job is abandoned like a bad one,
and a render still running for it is ended (`engine.render_process`). The watchdog
(`worker.watchdog`) tells a breed whose step's job is nowhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from domain.jobs import CANDIDATE_JOBS, Job
from engine.render_process import render_owner
from runtime.backoff import Outage
from runtime.metrics import JOB_KINDS, Metrics
from runtime.signals import sleep_or_stop
from storage import UNAVAILABLE
from storage.streams import LeaseLost
from worker import batching
from worker.errors import JobError
from worker.handlers import Kit, handlers
from worker.handlers.base import step_rng
from worker.lease import holding
from worker.melodies import Melodies
from worker.results import Results
from worker.sounds import Sounds
from worker.watchdog import Watchdog

if TYPE_CHECKING:
    from engine.attributes import AttributeVectors
    from engine.preference import Subspace
    from engine.render import Renderer
    from engine.sampling import LatentModel
    from storage import BreedStore, Delivery

log = logging.getLogger(__name__)

__all__ = ["Worker", "step_rng"]


class Worker:
    """One worker process's job loop. The model and renderer are loaded once by the caller."""

    def __init__(
        self,
        store: BreedStore,
        model: LatentModel,
        renderer: Renderer,
        consumer: str,
        *,
        job_timeout_s: float = 60.0,
        temperature: float = 0.0,
        block_ms: int = 1000,
        max_deliveries: int = 3,
        max_backoff_s: float = 30.0,
        subspace: Subspace | None = None,
        attributes: AttributeVectors | None = None,
        batch: int = 1,
        job_deadline_s: float = 120.0,
        metrics: Metrics | None = None,
    ) -> None:
        """`subspace`: where the model's melodies live (`engine.subspace.load()` for the shipped model), for
        the strategies that search there; None: the whole latent space. `attributes`: the model's attribute
        vectors (`engine.attributes.load()`), that nudges move along; None: nudges are not applied.
        `batch`: how many waiting jobs are taken at once (`worker.batching`). `job_deadline_s`: how long
        one job may run before it is abandoned. `metrics`: where its jobs and stages are counted and timed
        (the process's, served on /metrics)."""
        self.store = store
        self.metrics = metrics or Metrics()
        # Set once the jobs group is joined, cleared while Redis is away: /readyz reads it.
        self.joined = False
        self.model = model
        self.subspace = subspace
        self.attributes = attributes
        self.renderer = renderer
        self.consumer = consumer
        self.job_timeout_ms = int(job_timeout_s * 1000)
        self.job_deadline_s = job_deadline_s
        # A breed whose step's job is nowhere for longer than any job is retried is told (worker.watchdog).
        self.watchdog = Watchdog(store, after_s=job_timeout_s * max_deliveries)
        self.watch_every_s = min(job_timeout_s, 60.0)
        self._next_watch = 0.0
        self.temperature = temperature
        self.block_ms = block_ms
        self.max_deliveries = max_deliveries
        self.outage = Outage(log, f"worker {consumer}", max_s=max_backoff_s)
        self.batch = batch
        # Jobs read but not done when Redis went away: they are finished first when Redis is back.
        self._in_hand: list[Delivery] = []
        self.melodies = Melodies(store, model, temperature)
        self.sounds = Sounds(model, renderer, temperature, subspace)
        self.results = Results(store)
        kit = Kit(store, model, self.melodies, self.sounds, self.results, subspace=subspace, attributes=attributes,
                  metrics=self.metrics)
        self.handlers = handlers(kit)

    async def run(self, stop: asyncio.Event) -> None:
        """Handle jobs until `stop` is set; the job in hand is always finished first.

        Redis being away (not up yet, restarting, loading) never ends the loop: it waits with
        capped back-off, logged once per outage, and then finishes the job it had in hand.
        """
        ready = False
        while not stop.is_set():
            try:
                if not ready:
                    await self.store.streams.ensure_groups()
                    ready = self.joined = True
                    log.info("worker %s waiting for jobs", self.consumer)
                await self.step()
                await self._watch()
                self.outage.recovered()
            except UNAVAILABLE as error:
                ready = self.joined = False
                await sleep_or_stop(stop, self.outage.failed(error))

    async def step(self) -> None:
        """Do the jobs in hand, else reclaimed ones, else wait up to block_ms for new ones (up to `batch`)."""
        if not self._in_hand:
            jobs = self.store.streams.jobs
            deliveries = await jobs.claim_stale_jobs(self.consumer, self.job_timeout_ms, count=self.batch)
            if not deliveries:
                deliveries = await jobs.read_jobs(self.consumer, count=self.batch, block_ms=self.block_ms)
            if not deliveries:
                return
            self._in_hand = list(deliveries)
        if len(self._in_hand) == 1:
            await self.handle(self._in_hand[0])
            self._in_hand = []
            return
        await self._handle_together(self._in_hand)

    async def _watch(self) -> None:
        """Let the watchdog look, every `watch_every_s`; only Redis being away stops the loop meanwhile."""
        if time.monotonic() < self._next_watch:
            return
        self._next_watch = time.monotonic() + self.watch_every_s
        try:
            await self.watchdog.check()
        except UNAVAILABLE:
            raise
        except Exception:  # the loop must never die on the watchdog
            log.exception("worker %s: the watchdog failed", self.consumer)

    async def _handle_together(self, deliveries: list[Delivery]) -> None:
        """Handle jobs of several breeds at once, decoding their populations together (`worker.batching`)."""
        groups = batching.by_breed([(_breed_id_of(d.raw) or d.message_id, d) for d in deliveries])
        batch = batching.DecodeBatch(lambda latents: self.model.decode(latents, self.temperature), len(groups))

        async def in_order(group: list[Delivery]) -> None:
            try:
                for delivery in group:
                    await self.handle(delivery)
                    self._in_hand.remove(delivery)
            finally:
                await batch.leave()

        token = batching.current.set(batch)
        try:
            outcomes = await asyncio.gather(*(in_order(group) for group in groups), return_exceptions=True)
        finally:
            batching.current.reset(token)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # Redis went away: the jobs not done stay in hand

    async def handle(self, delivery: Delivery) -> None:
        """Do one job; acknowledge it only after its result is written.

        Raises only when Redis is unavailable (the job stays pending, to be done again); any other
        failure dead-letters the job and tells the breed's front end.
        """
        if delivery.deliveries > self.max_deliveries:
            await self._poisoned(delivery)
            return
        job = delivery.payload
        if not isinstance(job, Job):
            reason = delivery.error or "not a job"
            log.warning("dead-lettering malformed job %s: %s", delivery.message_id, reason)
            await self.store.streams.jobs.dead_letter(delivery, reason)
            about = _what_job(delivery.raw)
            if about is not None:
                # Its breed, kind and generation, so that the front end undoes only what failed (a morph
                # from a newer version must not revert a breed that is evolving).
                breed_id, generation, rest = about
                await self.results.error(breed_id, generation, f"The worker could not read a job: {reason}", **rest)
            self._dead_lettered(delivery)
            return
        deadline = asyncio.timeout(self.job_deadline_s)
        owner = render_owner.set(delivery.message_id)
        began = time.perf_counter()
        outcome: str | None = None  # none when the job was not finished here (its lease lost, Redis away)
        try:
            async with deadline:
                # The lease is renewed while the job runs: only a dead worker's job is taken over.
                async with holding(self.store, delivery.message_id, self.consumer, self.job_timeout_ms):
                    await self.handlers[job.kind].handle(job)
        except TimeoutError:
            if not deadline.expired():
                log.exception("breed %s gen %d: %s job failed", job.subject_id, job.generation, job.kind)
                await self._fail(delivery, job, "Something went wrong in the worker (TimeoutError).")
                outcome = "failed"
            else:
                await self._abandon(delivery, job)
                outcome = "abandoned"
        except LeaseLost as lost:
            log.warning("breed %s gen %d: %s job result dropped: %s", job.subject_id, job.generation, job.kind, lost)
        except UNAVAILABLE:
            raise
        except JobError as error:
            await self._fail(delivery, job, str(error))
            outcome = "failed"
        except Exception as error:  # the loop must never die on one payload
            log.exception("breed %s gen %d: %s job failed", job.subject_id, job.generation, job.kind)
            await self._fail(delivery, job, f"Something went wrong in the worker ({type(error).__name__}).")
            outcome = "failed"
        else:
            await self.store.streams.jobs.ack_job(delivery.message_id, delivery.raw)
            outcome = "done"
        finally:
            render_owner.reset(owner)
        if outcome is not None:
            self.metrics.job_done(job.kind, outcome, time.perf_counter() - began)

    async def _abandon(self, delivery: Delivery, job: Job) -> None:
        """A job past its deadline: end its render if one runs, dead-letter it and tell its breed."""
        log.error("breed %s gen %d: %s job passed its deadline of %g s: abandoned", job.subject_id, job.generation,
                  job.kind, self.job_deadline_s)
        abandon = getattr(self.renderer, "abandon", None)
        if abandon is not None:
            abandon(delivery.message_id)
        await self._fail(delivery, job, f"This took longer than {self.job_deadline_s:g} s and was given up; "
                                        "try again.")

    async def _poisoned(self, delivery: Delivery) -> None:
        """A job handed out more than max_deliveries times: its workers died on it. Never again."""
        job = delivery.payload
        message = (f"The worker stopped {delivery.deliveries - 1} times while doing this; "
                   "it will not be tried again.")
        log.error("job %s delivered %d times (max %d): dead-lettered", delivery.message_id, delivery.deliveries,
                  self.max_deliveries)
        if isinstance(job, Job):
            await self._fail(delivery, job, message)
        else:
            await self.store.streams.jobs.dead_letter(delivery, message)
        self._dead_lettered(delivery)

    def _dead_lettered(self, delivery: Delivery) -> None:
        """Count a job dead-lettered without being run, by the kind it names (none readable: not counted)."""
        if isinstance(delivery.payload, Job):
            kind: str | None = delivery.payload.kind
        else:
            about = _what_job(delivery.raw)
            kind = about[2]["job"] if about is not None else None
        if kind is not None and kind in JOB_KINDS:
            self.metrics.job_done(kind, "dead_lettered")

    async def _fail(self, delivery: Delivery, job: Job, message: str) -> None:
        log.warning("breed %s gen %d: %s job dead-lettered: %s", job.subject_id, job.generation, job.kind, message)
        await self.store.streams.jobs.dead_letter(delivery, message)
        await self.results.job_failed(job, message)


def _breed_id_of(raw: str) -> str | None:
    about = _what_job(raw)
    return about[0] if about is not None else None


def _what_job(raw: str) -> tuple[str, int, dict[str, Any]] | None:
    """The breed, generation and the event fields naming the job (kind, candidates) of a job that did not
    decode, as far as they are readable; None without a breed id."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("breed_id"), str) or not payload["breed_id"]:
        return None

    def number(name: str) -> int | None:
        value = payload.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    kind = payload.get("type")
    about: dict[str, Any] = {"job": kind if isinstance(kind, str) else None}
    if about["job"] in CANDIDATE_JOBS:
        about.update(candidate=number("candidate"), other=number("other"))
    generation = number("generation")
    return payload["breed_id"], generation if generation is not None else -1, about
