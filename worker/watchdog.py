"""The watchdog: notices a breed whose step's job is nowhere, and tells its front end once.

A breed that is starting or evolving waits for one job (start, evolve or finish). That job is
queued, held by a worker, or done (its result written, its event on the way). Should it be none of
these (a job lost with a Redis that lost its data, a bug), the breed would wait forever. Each worker
looks now and then; a breed whose job was nowhere, each time it looked, for `after_s` (JOB_TIMEOUT_S
× MAX_DELIVERIES: longer than any job is reclaimed and retried) gets an error event for that step,
once, whichever worker finds it: its front end puts it back to voting (or failed, at the start) and
tells its thread, as for a job that failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from domain import artifacts
from domain.jobs import JobKind
from domain.model import Status
from storage.codec import Event

if TYPE_CHECKING:
    from domain.model import Breed
    from storage import BreedStore

log = logging.getLogger(__name__)

STEPS = (JobKind.START, JobKind.EVOLVE, JobKind.FINISH)
LOST = "The worker lost track of this step; try again."


def awaited_step(breed: Breed) -> tuple[JobKind, int] | None:
    """The job kind a breed waits for and the generation it reads; None when it waits for none."""
    if breed.status == Status.STARTING:
        return JobKind.START, -1
    if breed.status != Status.EVOLVING:
        return None
    if breed.winner is not None:
        return JobKind.FINISH, breed.generation if breed.winner_generation is None else breed.winner_generation
    return JobKind.EVOLVE, breed.generation


class Watchdog:
    """Looks for breeds whose step's job is nowhere (`check`), telling each once after `after_s`."""

    def __init__(self, store: BreedStore, after_s: float, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.after_s = after_s
        self.clock = clock

    async def check(self) -> list[str]:
        """Look once; the ids of the breeds told now."""
        in_flight = {(job.subject_id, job.kind) for job in await self.store.streams.jobs.jobs_in_flight()
                     if job.kind in STEPS}
        now = self.clock()
        told = []
        for breed in await self.store.breeds.open_breeds():
            step = awaited_step(breed)
            if step is None:
                continue
            kind, generation = step
            if (breed.breed_id, kind) in in_flight or await self._done(breed, kind, generation):
                await self.store.streams.jobs.found_again(breed.breed_id, breed.generation, breed.status)
                continue
            since = await self.store.streams.jobs.missing_since(breed.breed_id, breed.generation, breed.status, now)
            if now - since < self.after_s:
                continue
            if not await self.store.streams.jobs.tell_once(breed.breed_id, breed.generation, breed.status):
                continue
            log.error("breed %s gen %d: its %s job is neither queued, held nor done after %.0f s; telling it",
                      breed.breed_id, breed.generation, kind, now - since)
            lost = Event("error", breed.breed_id, generation, message=LOST, job=str(kind))
            await self.store.streams.events.publish_event(lost)
            told.append(breed.breed_id)
        return told

    async def _done(self, breed: Breed, kind: JobKind, generation: int) -> bool:
        """Whether the step's result is written (its event is then on its way to the front end)."""
        if kind == JobKind.FINISH:
            return await self.store.breeds.get_artifact(breed.breed_id, generation, artifacts.WINNER_MID) is not None
        if kind == JobKind.EVOLVE and breed.opened < breed.generation:
            return True  # the worker wrote the next generation; its vote is not open yet
        made = 0 if kind == JobKind.START else generation + 1
        return await self.store.breeds.get_generation(breed.breed_id, made) is not None
