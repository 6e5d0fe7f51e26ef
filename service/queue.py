"""The jobs people ask for (`service.queue`): bounded, and each asked once while it is waiting or running.

New work (a start, a morph, a family tree, a piece, a tune) is refused with one line while the workers'
queue holds `max_queued` jobs or more (backpressure): the streams are never trimmed past what is
unacknowledged, so this bound is what keeps them small. The steps of open breeds (close a vote,
finish) are never refused: there is one at most per open breed, and the open breeds are bounded.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from domain.errors import BreedError
from service.errors import QueueFull

if TYPE_CHECKING:
    from domain.jobs import Job
    from service.stores import JobStream

log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED_JOBS = 1000
QUEUE_FULL = "The workers have too much to do right now; try again in a few minutes."


class JobQueue:
    """The workers' queue as the service sees it: its bound, and the jobs waiting or running."""

    def __init__(self, streams: JobStream, max_queued: int = DEFAULT_MAX_QUEUED_JOBS) -> None:
        if max_queued < 1:
            raise ValueError("max_queued must be at least 1")
        self._streams = streams
        self.max_queued = max_queued
        self._refusing = False  # logged when refusing begins and ends, not once per refusal in a flood

    async def check(self) -> None:
        """QueueFull while the queue holds `max_queued` jobs or more."""
        queued = await self._streams.queued_jobs()
        if queued >= self.max_queued:
            if not self._refusing:
                log.warning("new work refused from now on: %d jobs queued (at most %d)", queued, self.max_queued)
                self._refusing = True
            raise QueueFull(QUEUE_FULL)
        if self._refusing:
            log.info("new work accepted again: %d jobs queued (at most %d)", queued, self.max_queued)
            self._refusing = False

    async def add(self, job: Job, already: str) -> str:
        """Queue a job; BreedError(`already`) when the same job is waiting or running (nothing changes)."""
        message_id = await self._streams.enqueue_unique_job(job)
        if message_id is None:
            raise BreedError(already)
        return message_id
