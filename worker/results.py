"""What a job leaves: files written while its lease is held, and the events that tell the front ends."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from domain.jobs import CANDIDATE_JOBS, Job
from domain.model import Generation
from storage.codec import Event
from worker.lease import confirm_held

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from storage.store import BreedStore

log = logging.getLogger(__name__)


class Results:
    """Writes a job's results (only while its lease is held) and publishes its events."""

    def __init__(self, store: BreedStore) -> None:
        self.store = store

    async def publish(self, event: Event) -> None:
        await self.store.streams.events.publish_event(event)

    async def progress(self, breed_id: str, generation: int, stage: str) -> None:
        await self.publish(Event("progress", breed_id, generation, stage=stage))

    async def error(self, breed_id: str, generation: int, message: str, **about: Any) -> None:
        await self.publish(Event("error", breed_id, generation, message=message, **about))

    async def job_failed(self, job: Job, message: str) -> None:
        """Tell a job's front end it failed; a failed morph or tree names its candidates, so that only a failed
        step changes the breed."""
        about: dict[str, Any] = {}
        if job.kind in CANDIDATE_JOBS:
            about = {"candidate": getattr(job, "candidate", None), "other": getattr(job, "other", None)}
        await self.error(job.subject_id, job.generation, message, job=str(job.kind), **about)

    async def generation(self, generation: Generation, latents: NDArray[np.float32], files: dict[str, bytes]) -> bool:
        """Write a generation once; False when it was written already."""
        await confirm_held()
        return await self.store.breeds.write_generation(generation, latents.astype(np.float32), files)

    async def breed_files(self, breed_id: str, number: int, files: dict[str, bytes], *, keep: bool = False) -> None:
        """Add files to a generation (`keep`: without expiry, like a winner's)."""
        await confirm_held()
        await self.store.breeds.add_artifacts(breed_id, number, files, keep=keep)
