"""The web page's side of a breed: what to show for each step the breeding service takes, pushed live.

Each open page of a breed subscribes to its updates (server-sent events). Worker events reach the
page through the event router (service.router), for which this is the web page's front end: the
service takes each step (opening the vote, finishing, reopening after a failure) and the "post" is
a message to every page that shows the breed, which then fetches the breed's state once. Messages
that make a page read the state go out once the state has changed. The router keeps the deadlines.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict

from domain.model import Breed, Composition, Front, Generation, TuneRequest
from domain.rules import Actor
from service.breeding import BreedingService, Transition
from service.results import Files
from service.router import EventRouter, Morph, Tree
from service.tasks import BackgroundTasks

log = logging.getLogger(__name__)

FRONT = Front.WEB
# The person at the page: the starter of every breed started there (the page serves one person).
LOCAL_USER = 0
QUEUE_SIZE = 100
# Put in a page's queue when the server stops: its stream of updates ends (the browser reconnects later).
GOODBYE = ""


class WebFront:
    """Worker events to page updates, for the breeds started on the web page."""

    def __init__(self, service: BreedingService, consumer: str) -> None:
        self.service = service
        self.tasks = BackgroundTasks()
        self.router = EventRouter(service, self, self.tasks, consumer, reader=FRONT)
        self._watchers: defaultdict[str, set[asyncio.Queue[str]]] = defaultdict(set)

    def shows(self, subject: Breed | Composition | TuneRequest) -> bool:
        """The page's breeds and the tunes asked for on it (no compositions)."""
        return isinstance(subject, Breed | TuneRequest) and subject.front == FRONT

    # --- steps the page asks for ---------------------------------------------------------------

    async def close_voting(self, breed_id: str, actor: Actor | None, generation: int | None = None) -> Transition:
        """Close voting now (Next) or at the deadline (actor None, `generation` given)."""
        closed = await self.service.close_voting(breed_id, actor, generation=generation)
        self.router.voting_closed(breed_id)
        if actor is None:
            self.notify(breed_id, "closed", generation=generation, rerolled=closed.rerolled)
        return closed

    async def close_at_deadline(self, breed_id: str, generation: int) -> None:
        await self.close_voting(breed_id, None, generation)

    def closed(self, breed_id: str) -> None:
        """Voting on the breed closed (Finish, Stop): its deadline is void."""
        self.router.voting_closed(breed_id)

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

    # --- worker events (service.router calls these) ------------------------------------------

    async def show_progress(self, breed: Breed, generation: int, stage: str) -> None:
        self.notify(breed.breed_id, "progress", generation=generation, stage=stage)

    async def show_generation(self, breed: Breed, generation: Generation, deadline: float) -> None:
        """Nothing yet: the pages are told once voting is open, when they read the state."""

    async def voting_opened(self, breed: Breed) -> None:
        self.notify(breed.breed_id, "generation", generation=breed.generation)

    async def show_winner(self, breed: Breed, generation: int, winner: int) -> None:
        """Nothing yet: the pages are told once the breed is finished."""

    async def winner_shown(self, breed: Breed) -> None:
        self.notify(breed.breed_id, "finished", generation=breed.generation)

    async def show_morph(self, breed: Breed, morph: Morph) -> None:
        self.notify(breed.breed_id, "morph", generation=morph.generation, start=morph.start, end=morph.end,
                    failed=morph.failure is not None, message=morph.failure)

    async def show_tree(self, breed: Breed, tree: Tree) -> None:
        """The page asks for no family trees."""

    async def show_composition(
        self, composition: Composition, files: tuple[tuple[str, bytes], ...], failure: str | None,
    ) -> None:
        """The page asks for no compositions (`shows` refuses them)."""

    async def show_tune(self, tune: TuneRequest, files: Files, failure: str | None) -> None:
        """The page that asked for the tune listens on its id; it reads the files once told."""
        self.notify(tune.tune_id, "tune", failed=failure is not None, message=failure)

    async def show_failure(self, before: Breed, after: Breed, message: str) -> None:
        # step_failed calls this once the state changed: the page reads the reopened vote.
        self.notify(after.breed_id, "failed", message=message, status=after.status)
