"""One router of worker events for every front end, and the vote deadlines it keeps.

The worker tells of its results on the events stream (service.events reads it, at least once).
For each event the router takes the step the breeding service defines (open the vote, end the
breed, show a morph once, reopen after a failure) and calls the front end's `FrontEnd` methods for
what people see. A front end (the Discord controller, the web page, a terminal session) implements
`FrontEnd`, owns one `EventRouter` and never reads the events itself. Vote deadlines are armed,
re-armed on start-up and retried here, for the front ends that keep them.

Adding a new kind of worker result:
1. the worker publishes an `Event` (storage.codec) with a new `type`; `kind_of` names its kind;
2. the breeding service (the collaborator of its concept, e.g. `service.results`) gets a method that
   takes the step under the breed's lock and calls a `post` callback once (see
   `WorkerResults.morph_ready`, guarded by a "posted" marker);
3. `FrontEnd` gets a `show_<kind>` method, `EventRouter.handle` calls the service with it, and each
   front end implements it (a front end that does not show it says so in a one-line no-op).

Adding a new request (a command, a button, an API route): add a method on the breeding service, or
on the collaborator whose concept it is, that checks and changes state (and enqueues the job); the
front end calls it and shows its result.
A front end never imports `storage` or `engine` (tests/test_layers.py fails if it does): what it
needs to read comes from the service too (service.reads).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from domain.errors import BreedError
from domain.model import Breed, Composition, Generation, TuneRequest
from domain.rules import refusal
from service.breeding import BreedingService
from service.events import Event, EventConsumer, ExternalWait, wait_plainly
from service.results import Files
from service.tasks import BackgroundTasks
from service.timers import VoteTimers

log = logging.getLogger(__name__)

# A deadline whose closing failed (Redis or the front end away) comes back this much later.
DEADLINE_RETRY_S = 30.0
FAILED = "the worker failed."


@dataclass(frozen=True)
class Morph:
    """A morph the worker made (or failed to make) between two candidates (0-based) of a generation."""

    generation: int
    start: int
    end: int
    steps: int | None = None
    failure: str | None = None


@dataclass(frozen=True)
class Tree:
    """A candidate's family tree the worker drew (or failed to draw)."""

    generation: int
    index: int
    failure: str | None = None


class FrontEnd(Protocol):
    """What a front end shows of the worker's results; the service and the router do the rest.

    `show_*` methods run before the state changes (once: a failure takes the "posted" mark back, so
    the redelivered event tries again); `voting_opened` and `winner_shown` after it changed.
    """

    def shows(self, subject: Breed | Composition | TuneRequest) -> bool:
        """Whether this front end shows the breed (or composition, or tune) and handles its events."""
        ...

    async def show_progress(self, breed: Breed, generation: int, stage: str) -> None: ...

    async def show_generation(self, breed: Breed, generation: Generation, deadline: float) -> int | None:
        """Show a new generation; returns its vote message's id, if the front end has one."""
        ...

    async def voting_opened(self, breed: Breed) -> None: ...

    async def show_winner(self, breed: Breed, generation: int, winner: int) -> None: ...

    async def winner_shown(self, breed: Breed) -> None:
        """The breed is finished: its winner was shown."""
        ...

    async def show_morph(self, breed: Breed, morph: Morph) -> None: ...

    async def show_tree(self, breed: Breed, tree: Tree) -> None: ...

    async def show_composition(
        self, composition: Composition, files: tuple[tuple[str, bytes], ...], failure: str | None,
    ) -> None: ...

    async def show_tune(self, tune: TuneRequest, files: Files, failure: str | None) -> None:
        """Show a tune asked for from a melody id (its files, in order), or why it failed."""
        ...

    async def show_failure(self, before: Breed, after: Breed, message: str) -> None:
        """A step failed: `after` votes again on its last generation, or failed without one."""
        ...

    async def close_at_deadline(self, breed_id: str, generation: int) -> None:
        """Close the vote whose deadline came (BreedError: closed already)."""
        ...


def kind_of(event: Event) -> str:
    """What an event is about: progress, generation, winner, morph, tree, composition, tune or failure."""
    if event.type == "error":
        return {"morph": "morph", "tree": "tree", "compose": "composition", "tune": "tune", "render": "render"}.get(
            event.job or "", "failure")
    return {
        "progress": "progress", "generation_ready": "generation", "finished": "winner", "morph_ready": "morph",
        "tree_ready": "tree", "composed": "composition", "tune_ready": "tune",
    }.get(event.type, "unknown")


class EventRouter:
    """Worker events to one front end, through the breeding service; and that front end's vote deadlines.

    `reader`: whose group of the events stream this reads (a front end, or one terminal session);
    `deadlines`: whether voting closes by itself at its deadline (not in a terminal, where typing does).
    """

    def __init__(
        self, service: BreedingService, front_end: FrontEnd, tasks: BackgroundTasks, consumer: str, *,
        reader: str, deadlines: bool = True, external_wait: ExternalWait = wait_plainly,
        max_deliveries: int | None = None, block_ms: int | None = None,
    ) -> None:
        self.service = service
        self.front_end = front_end
        self.keeps_deadlines = deadlines
        self.timers = VoteTimers(tasks, service.clock, self._deadline_reached)
        options: dict[str, int] = {}
        if max_deliveries is not None:
            options["max_deliveries"] = max_deliveries
        if block_ms is not None:
            options["block_ms"] = block_ms
        self.events = EventConsumer(service.store.streams.events, self.handle, consumer, external_wait=external_wait,
                                    front=reader, **options)

    # --- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Handle events until `stop()`."""
        await self.events.run()

    def stop(self) -> None:
        """Make `run` return after the read in hand (at most its block time)."""
        self.events.stop()

    @property
    def stop_within_s(self) -> float:
        """How long `run` may take to return after `stop()`."""
        return self.events.block_ms / 1000 + 5

    # --- vote deadlines ------------------------------------------------------------------------

    async def resume(self) -> int:
        """Re-arm the deadline of every voting breed this front end shows; returns how many."""
        armed = 0
        if not self.keeps_deadlines:
            return armed
        for breed in await self.service.reads.open_breeds():
            if self.front_end.shows(breed) and self._arm(breed):
                armed += 1
        log.info("re-armed %d vote deadlines", armed)
        return armed

    def voting_closed(self, breed_id: str) -> None:
        """Voting on the breed closed (next, finish, stop): its deadline is void."""
        self.timers.cancel(breed_id)

    def armed(self, breed_id: str) -> bool:
        return self.timers.armed(breed_id)

    def _arm(self, breed: Breed) -> bool:
        if not self.keeps_deadlines or breed.status != "voting" or breed.vote_deadline is None:
            return False
        self.timers.arm(breed.breed_id, breed.generation, breed.vote_deadline)
        return True

    async def _deadline_reached(self, breed_id: str, generation: int) -> None:
        try:
            await self.front_end.close_at_deadline(breed_id, generation)
        except BreedError as error:
            log.info("breed %s gen %d: deadline reached, but %s", breed_id, generation, error)
        # Redis or the front end failed: the vote must still close, so the deadline comes back a bit later.
        except Exception:
            log.exception("breed %s gen %d: closing the vote failed; trying again in %.0f s",
                          breed_id, generation, DEADLINE_RETRY_S)
            self.timers.arm(breed_id, generation, self.service.clock() + DEADLINE_RETRY_S)

    # --- events --------------------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        """Take the step an event asks for and show it; safe to call again with the same event."""
        kind = kind_of(event)
        if kind == "composition":
            await self._composition(event)
            return
        if kind == "tune":
            await self._tune(event)
            return
        if kind == "render":
            # Files rendered again are read by whoever asked (service.media waits for them): nothing to show.
            log.info("%s: rendering files again failed: %s", event.breed_id, event.message)
            return
        breed = await self.service.reads.lookup(event.breed_id)
        if breed is None:
            log.warning("breed %s gen %d: %s event for an unknown breed", event.breed_id, event.generation, event.type)
            return
        if not self.front_end.shows(breed):
            log.debug("breed %s: %s event for another front end", event.breed_id, event.type)
            return
        handler = self._handlers().get(kind)
        if handler is None:
            log.debug("breed %s: ignoring %s event", event.breed_id, event.type)
            return
        await handler(breed, event)

    def _handlers(self) -> dict[str, Callable[[Breed, Event], Awaitable[None]]]:
        return {
            "progress": self._progress, "generation": self._generation, "winner": self._winner,
            "morph": self._morph, "tree": self._tree, "failure": self._failure,
        }

    async def _progress(self, breed: Breed, event: Event) -> None:
        if refusal(breed, "post") is None and event.stage:
            await self.front_end.show_progress(breed, event.generation, event.stage)

    async def _generation(self, breed: Breed, event: Event) -> None:
        metrics = self.service.metrics

        async def show_generation(shown: Breed, generation: Generation, deadline: float) -> int | None:
            with metrics.stage("post"):
                return await self.front_end.show_generation(shown, generation, deadline)

        opened = await self.service.results.generation_ready(breed.breed_id, event.generation, show_generation)
        if opened is not None:
            # From the vote's close (if it closed in this process) to the generation it led to, posted.
            metrics.generation_posted(breed.breed_id, event.generation)
            self._arm(opened)
            await self.front_end.voting_opened(opened)

    async def _winner(self, breed: Breed, event: Event) -> None:
        finished = await self.service.results.winner_ready(breed.breed_id, event.generation, self.front_end.show_winner)
        if finished is not None:
            await self.front_end.winner_shown(finished)

    async def _morph(self, breed: Breed, event: Event) -> None:
        failure = (event.message or FAILED) if event.type == "error" else None
        if failure is not None:
            log.warning("breed %s gen %d: morph %s -> %s failed: %s", breed.breed_id, event.generation,
                        event.candidate, event.other, failure)
        if event.candidate is None or event.other is None:
            if failure is None:
                log.warning("breed %s gen %d: morph_ready event without its candidates", breed.breed_id,
                            event.generation)
            return
        morph = Morph(event.generation, event.candidate, event.other, event.steps, failure)

        async def post(shown: Breed) -> None:
            await self.front_end.show_morph(shown, morph)

        # Shown once per pair and generation, whatever the breed does meanwhile: it is about that generation.
        await self.service.results.morph_ready(breed.breed_id, event.generation, morph.start, morph.end, post,
                                       failed=failure is not None)

    async def _tree(self, breed: Breed, event: Event) -> None:
        if event.candidate is None:
            log.warning("breed %s gen %d: tree event without its candidate", breed.breed_id, event.generation)
            return
        tree = Tree(event.generation, event.candidate, (event.message or FAILED) if event.type == "error" else None)

        async def post(shown: Breed) -> None:
            await self.front_end.show_tree(shown, tree)

        await self.service.melodies.tree_ready(breed.breed_id, event.generation, tree.index, post,
                                      failed=tree.failure is not None)

    async def _failure(self, breed: Breed, event: Event) -> None:
        message = event.message or FAILED

        async def post(before: Breed, after: Breed) -> None:
            await self.front_end.show_failure(before, after, message)

        # Only the step the breed waits for is undone: not a newer version's job, nor an older step's.
        await self.service.results.step_failed(breed.breed_id, post, job=event.job, generation=event.generation)

    async def _composition(self, event: Event) -> None:
        composition = await self.service.compositions.get(event.composition_id)
        if composition is None:
            log.warning("composition %s: %s event, but its request is gone", event.composition_id, event.type)
            return
        if not self.front_end.shows(composition):
            return
        failure = (event.message or FAILED) if event.type == "error" else None

        async def post(shown: Composition, files: tuple[tuple[str, bytes], ...]) -> None:
            await self.front_end.show_composition(shown, files, failure)

        await self.service.compositions.composed(composition.composition_id, post)

    async def _tune(self, event: Event) -> None:
        tune = await self.service.tunes.lookup(event.breed_id)
        if tune is None:
            log.warning("tune %s: %s event, but its request is gone", event.breed_id, event.type)
            return
        if not self.front_end.shows(tune):
            return
        failure = (event.message or FAILED) if event.type == "error" else None

        async def post(shown: TuneRequest, files: Files) -> None:
            await self.front_end.show_tune(shown, files, failure)

        await self.service.tunes.ready(tune.tune_id, post, failure=failure)
