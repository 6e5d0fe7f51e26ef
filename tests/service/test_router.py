"""The one event router over the in-memory store: each worker event becomes one step and one show, once,
for the front end that shows the breed; vote deadlines are armed, re-armed and retried in one place."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from domain.errors import BreedError
from domain.model import Breed, BreedParams, Candidate, Composition, Generation, TuneRequest
from service.breeding import BreedingService
from service.events import Event
from service.router import EventRouter, Morph, Tree, kind_of
from service.tasks import BackgroundTasks
from storage.memory import MemoryStore
from tests.support.service import in_memory
from tests.support.waiting import wait_for


class Recorder:
    """A front end that shows what the router hands it, as (what, details) in order."""

    def __init__(self, front: str = "web", *, fail_closing: int = 0) -> None:
        self.front = front
        self.shown: list[tuple[str, object]] = []
        self.fail_closing = fail_closing
        self.closings = asyncio.Event()

    def shows(self, subject: Breed | Composition | TuneRequest) -> bool:
        return isinstance(subject, Breed | TuneRequest) and subject.front == self.front

    async def show_progress(self, breed: Breed, generation: int, stage: str) -> None:
        self.shown.append(("progress", stage))

    async def show_generation(self, breed: Breed, generation: Generation, deadline: float) -> int | None:
        self.shown.append(("generation", (breed.status, generation.number)))
        return None

    async def voting_opened(self, breed: Breed) -> None:
        self.shown.append(("voting", (breed.status, breed.generation)))

    async def show_winner(self, breed: Breed, generation: int, winner: int) -> None:
        self.shown.append(("winner", (breed.status, winner)))

    async def winner_shown(self, breed: Breed) -> None:
        self.shown.append(("finished", breed.status))

    async def show_morph(self, breed: Breed, morph: Morph) -> None:
        self.shown.append(("morph", morph))

    async def show_tree(self, breed: Breed, tree: Tree) -> None:
        self.shown.append(("tree", tree))

    async def show_composition(
        self, composition: Composition, files: tuple[tuple[str, bytes], ...], failure: str | None,
    ) -> None:
        self.shown.append(("composition", failure))

    async def show_tune(self, tune: TuneRequest, files, failure: str | None) -> None:
        self.shown.append(("tune", (tune.tune_id, [name for name, _data in files.found], failure)))

    async def show_failure(self, before: Breed, after: Breed, message: str) -> None:
        self.shown.append(("failure", (after.status, message)))

    async def close_at_deadline(self, breed_id: str, generation: int) -> None:
        self.closings.set()
        if self.fail_closing:
            self.fail_closing -= 1
            raise RuntimeError("Discord is down")
        self.shown.append(("deadline", generation))


@pytest.fixture
async def tasks():
    background = BackgroundTasks()
    yield background
    await background.cancel_all()


@pytest.fixture
async def store() -> MemoryStore:
    """These tests are about the service, not Redis: the in-memory store."""
    return await in_memory()


@pytest.fixture
def service(store: MemoryStore) -> BreedingService:
    return BreedingService(store, time.time)


def router_for(service: BreedingService, front_end: Recorder, tasks: BackgroundTasks, **options: object) -> EventRouter:
    return EventRouter(service, front_end, tasks, "test", reader="web", **options)


async def started(service: BreedingService, breed_id: str = "b1", front: str = "web", **params: object) -> Breed:
    return await service.start(breed_id=breed_id, owner_id=1, params=BreedParams(population=3, **params),
                               front=front)


async def write_generation(store: MemoryStore, breed_id: str, number: int) -> None:
    candidates = tuple(Candidate(f"{breed_id}-{number}-{i}", i, ("foreign",), ()) for i in range(3))
    await store.breeds.write_generation(Generation(breed_id, number, candidates, ((), (), ())),
                                 np.zeros((3, 4), np.float32), {})


def test_every_event_type_has_a_kind_and_a_failed_job_is_told_by_its_job() -> None:
    assert [kind_of(Event(kind, "b1")) for kind in Event.TYPES] == [
        "generation", "winner", "morph", "tree", "composition", "tune", "progress", "failure"]
    assert [kind_of(Event("error", "b1", job=job)) for job in ("start", "evolve", "finish", "morph", "tree",
                                                                "compose", "tune", None)] == [
        "failure", "failure", "failure", "morph", "tree", "composition", "tune", "failure"]


async def test_a_generation_is_shown_before_voting_opens_and_once_though_delivered_twice(service, tasks) -> None:
    front = Recorder()
    router = router_for(service, front, tasks)
    await started(service)
    await write_generation(service.store, "b1", 0)

    await router.handle(Event("progress", "b1", 0, stage="decoding"))
    await router.handle(Event("generation_ready", "b1", 0))
    await router.handle(Event("generation_ready", "b1", 0))

    assert front.shown == [("progress", "decoding"), ("generation", ("starting", 0)), ("voting", ("voting", 0))]
    assert router.armed("b1")  # its deadline is kept
    await router.handle(Event("progress", "b1", 1, stage="late"))  # voting: no step in progress to show
    assert front.shown[-1] == ("voting", ("voting", 0))


async def test_events_of_another_front_ends_breed_or_of_no_breed_show_nothing(service, tasks) -> None:
    front = Recorder("web")
    router = router_for(service, front, tasks)
    await started(service, "d1", front="discord")
    await write_generation(service.store, "d1", 0)

    await router.handle(Event("generation_ready", "d1", 0))
    await router.handle(Event("generation_ready", "nobody", 0))

    assert front.shown == []
    assert (await service.get("d1")).status == "starting"  # left for the front end that shows it


async def test_a_failed_step_reopens_the_vote_and_a_failed_morph_changes_nothing(service, tasks) -> None:
    front = Recorder()
    router = router_for(service, front, tasks)
    await started(service)
    await write_generation(service.store, "b1", 0)
    await router.handle(Event("generation_ready", "b1", 0))
    await service.close_voting("b1", None)

    await router.handle(Event("error", "b1", 0, message="The model is away.", job="evolve"))
    await router.handle(Event("error", "b1", 0, message="Too long.", job="morph", candidate=0, other=2))

    assert front.shown[-2:] == [("failure", ("voting", "The model is away.")),
                                ("morph", Morph(0, 0, 2, None, "Too long."))]
    assert (await service.get("b1")).status == "voting"


async def test_a_winner_is_shown_before_the_breed_finishes_and_the_front_end_told_after(service, tasks) -> None:
    front = Recorder()
    router = router_for(service, front, tasks)
    await started(service)
    await write_generation(service.store, "b1", 0)
    await router.handle(Event("generation_ready", "b1", 0))
    await service.finish("b1", None, 2)

    await router.handle(Event("finished", "b1", 0))
    await router.handle(Event("finished", "b1", 0))

    assert front.shown[-2:] == [("winner", ("evolving", 1)), ("finished", "finished")]


async def test_resume_re_arms_passed_deadlines_which_close_at_once_and_retry_when_closing_fails(
    service, tasks, monkeypatch,
) -> None:
    monkeypatch.setattr("service.router.DEADLINE_RETRY_S", 0.05)
    front = Recorder(fail_closing=1)
    await started(service)
    await write_generation(service.store, "b1", 0)
    await router_for(service, Recorder(), tasks, deadlines=False).handle(Event("generation_ready", "b1", 0))
    await service.store.breeds.update("b1", vote_deadline=time.time() - 60)  # passed while no front end ran

    router = router_for(service, front, tasks)
    assert await router.resume() == 1
    await asyncio.wait_for(front.closings.wait(), 60)
    # The first closing failed: the deadline comes back shortly and closes then.
    await wait_for(lambda: ("deadline", 0) in front.shown, timeout=60, what="the deadline to close the vote")
    assert front.shown == [("deadline", 0)]


async def test_a_router_without_deadlines_arms_none(service, tasks) -> None:
    router = router_for(service, Recorder(), tasks, deadlines=False)
    await started(service)
    await write_generation(service.store, "b1", 0)
    await router.handle(Event("generation_ready", "b1", 0))
    assert not router.armed("b1") and await router.resume() == 0


async def test_a_deadline_that_finds_the_vote_closed_is_not_retried(service, tasks) -> None:
    class Closed(Recorder):
        async def close_at_deadline(self, breed_id: str, generation: int) -> None:
            self.closings.set()
            raise BreedError("That vote was closed already.")

    front = Closed()
    router = router_for(service, front, tasks)
    router.timers.arm("b1", 0, time.time())
    await asyncio.wait_for(front.closings.wait(), 60)
    await wait_for(lambda: not router.armed("b1"), timeout=60, what="the deadline's timer to end, not re-armed")


async def test_a_composition_goes_to_the_front_end_that_shows_compositions_once(service, tasks) -> None:
    class Discordish(Recorder):
        def shows(self, subject: Breed | Composition) -> bool:
            return isinstance(subject, Composition)

    piece = Composition("c1", guild_id=9, channel_id=8, requester_id=1, melodies=("b1-g1-1", "b1-g1-2"))
    await service.store.compositions.create(piece)
    page, bot = Recorder(), Discordish()

    for front in (page, bot, bot):
        await router_for(service, front, tasks).handle(Event("error", "c1", message="No phrases.", job="compose"))

    assert page.shown == [] and bot.shown == [("composition", "No phrases.")]


async def test_a_tune_is_shown_once_by_the_front_end_that_asked_for_it_and_its_failure_too(service, tasks) -> None:
    web, discord = Recorder("web"), Recorder("discord")
    routers = [router_for(service, web, tasks), router_for(service, discord, tasks)]
    await started(service)
    await write_generation(service.store, "b1", 0)
    await service.store.breeds.update("b1", generation=0)
    tune = await service.tunes.request("b1-g1-2", None, None, 0, front="web")
    failing = await service.tunes.request("b1-g1-3", None, None, 0, front="web")
    await service.store.tunes.add_files(tune.tune_id, {"tune.mid": b"M", "tune.ogg": b"O", "tune.png": b"P"})

    for router in routers:
        for _ in range(2):
            await router.handle(Event("tune_ready", tune.tune_id))
            await router.handle(Event("error", failing.tune_id, job="tune", message="The melody is gone."))
        await router.handle(Event("tune_ready", "nothing1"))

    assert web.shown == [("tune", (tune.tune_id, ["tune.mid", "tune.ogg", "tune.png"], None)),
                         ("tune", (failing.tune_id, [], "The melody is gone."))]
    assert discord.shown == []
