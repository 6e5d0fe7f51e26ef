"""The web page's side of a breed: what to show for each step the breeding service takes, pushed live.

Each open page of a breed subscribes to its updates (server-sent events). Worker events of web
breeds come through the web page's own group of the events stream; for each, the service takes
the step (opening the vote, finishing, reopening after a failure) and the "post" is a message to
every page that shows the breed, which then fetches the breed's state once. Vote deadlines are
kept as the bot keeps them: timers armed from the deadline stored in Redis, re-armed on start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict

from domain.errors import BreedError
from domain.model import Breed, Generation, TuneRequest
from service.breeding import BreedingService
from service.events import EventConsumer
from service.results import Files
from service.tasks import BackgroundTasks
from service.timers import VoteTimers
from storage.codec import Event

log = logging.getLogger(__name__)

FRONT = "web"
# The person at the page: the starter of every breed started there (the page serves one person).
LOCAL_USER = 0
QUEUE_SIZE = 100
# Put in a page's queue when the server stops: its stream of updates ends (the browser reconnects later).
GOODBYE = ""


class WebFront:
    """Worker events to page updates, for the breeds started on the web page."""

    def __init__(self, service: BreedingService, consumer: str) -> None:
        self.service = service
        self.events = EventConsumer(service.store, self.handle_event, consumer, front=FRONT)
        self.tasks = BackgroundTasks()
        self.timers = VoteTimers(self.tasks, service.clock, self._deadline_reached)
        self._watchers: defaultdict[str, set[asyncio.Queue[str]]] = defaultdict(set)

    async def resume(self) -> int:
        """Re-arm the vote deadline of every web breed that is voting; returns how many."""
        armed = 0
        for breed in await self.service.store.open_breeds():
            if breed.front == FRONT and breed.status == "voting" and breed.vote_deadline is not None:
                self.timers.arm(breed.breed_id, breed.generation, breed.vote_deadline)
                armed += 1
        return armed

    async def _deadline_reached(self, breed_id: str, generation: int) -> None:
        try:
            closed = await self.service.close_voting(breed_id, None, generation=generation)
        except BreedError as error:
            log.info("breed %s gen %d: deadline reached, but %s", breed_id, generation, error)
            return
        except Exception:
            log.exception("breed %s gen %d: closing the vote failed; trying again in 30 s", breed_id, generation)
            self.timers.arm(breed_id, generation, self.service.clock() + 30)
            return
        self.notify(breed_id, "closed", generation=generation, rerolled=closed.rerolled)

    async def closed(self, breed_id: str) -> None:
        """Voting on the breed closed (Next, Finish, Stop): its deadline is void."""
        self.timers.cancel(breed_id)

    # --- pages that watch a breed ------------------------------------------------------------

    def watch(self, breed_id: str) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._watchers[breed_id].add(queue)
        return queue

    def unwatch(self, breed_id: str, queue: asyncio.Queue[str]) -> None:
        watchers = self._watchers.get(breed_id)
        if watchers is not None:
            watchers.discard(queue)
            if not watchers:
                del self._watchers[breed_id]

    def close_pages(self) -> None:
        """End every page's stream of updates, so that stopping does not wait for the pages to go."""
        for queues in self._watchers.values():
            for queue in queues:
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(GOODBYE)

    def notify(self, breed_id: str, kind: str, **details: object) -> None:
        """Tell every page of the breed that something happened (a page too slow to read misses nothing
        important: every update makes it fetch the whole state)."""
        message = json.dumps({"type": kind, **details})
        for queue in list(self._watchers.get(breed_id, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)

    # --- worker events -----------------------------------------------------------------------

    async def handle_event(self, event: Event) -> None:
        """Take the step an event asks for, for a web breed; safe to call again with the same event."""
        if not await self.service.shows(FRONT, event.breed_id):
            return
        breed_id = event.breed_id
        if event.type == "tune_ready" or (event.type == "error" and event.job == "tune"):
            failed = event.type == "error"

            async def tune(request: TuneRequest, files: Files) -> None:
                self.notify(request.tune_id, "tune", failed=failed, message=event.message)

            await self.service.tune_ready(breed_id, FRONT, tune)
            return
        if event.type == "progress":
            self.notify(breed_id, "progress", generation=event.generation, stage=event.stage)
        elif event.type == "generation_ready":

            async def shown(breed: Breed, generation: Generation, deadline: float) -> None:
                return None  # the pages are told below, once voting is open: they read the state then

            opened = await self.service.generation_ready(breed_id, event.generation, shown)
            if opened is not None:
                self.notify(breed_id, "generation", generation=opened.generation)
                if opened.vote_deadline is not None:
                    self.timers.arm(breed_id, opened.generation, opened.vote_deadline)
        elif event.type == "finished":

            async def finished(breed: Breed, number: int, winner: int) -> None:
                return None  # told below, once the breed is finished

            if await self.service.finished(breed_id, event.generation, finished):
                self.notify(breed_id, "finished", generation=event.generation)
        elif event.type == "morph_ready" or (event.type == "error" and event.job == "morph"):
            if event.candidate is None or event.other is None:
                return
            failed = event.type == "error"

            async def morph(breed: Breed) -> None:
                self.notify(breed_id, "morph", generation=event.generation, start=event.candidate,
                            end=event.other, failed=failed, message=event.message)

            await self.service.morph_ready(breed_id, event.generation, event.candidate, event.other, morph,
                                           failed=failed)
        elif event.type == "error" and event.job in (None, "start", "evolve", "finish"):

            async def failed_step(before: Breed, after: Breed) -> None:
                return None  # told below: step_failed has changed the state by then

            after = await self.service.step_failed(breed_id, failed_step)
            if after is not None:
                self.notify(breed_id, "failed", message=event.message or "the worker failed.", status=after.status)
        else:
            log.debug("breed %s: the web page ignores %s events", breed_id, event.type)
