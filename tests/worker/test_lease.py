"""A job's lease: renewed while its worker runs, so only a dead worker's job is taken over (real model, Redis)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from domain.jobs import StartJob
from domain.model import Breed, BreedParams
from tests.support.waiting import wait_for
from worker.runner import Worker

pytestmark = pytest.mark.slow

# A job's timeout: its lease is renewed every third of it, so a loaded machine has a second to spare.
TIMEOUT_S = 1.5


class SlowModel:
    """The real model, with each decode longer than twice the timeout: a job that outlasts its timeout."""

    def __init__(self, model) -> None:
        self.model = model

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def decode(self, latents, temperature: float = 0.0):
        time.sleep(2 * TIMEOUT_S + 0.5)  # called on a worker thread, as the decoding of a big batch would be
        return self.model.decode(latents, temperature)


class HeldModel(SlowModel):
    """The real model, whose decode waits (on its worker thread) until the test lets it go on."""

    def __init__(self, model) -> None:
        super().__init__(model)
        self.decoding = threading.Event()
        self.go_on = threading.Event()

    def decode(self, latents, temperature: float = 0.0):
        self.decoding.set()
        assert self.go_on.wait(120), "the test never let the decode go on"
        return self.model.decode(latents, temperature)


async def started_job(store, consumer: str):
    breed = Breed(store.new_breed_id(), owner_id=1, params=BreedParams(population=8), created_at=time.time(),
                  front="discord")
    await store.breeds.create(breed, StartJob(breed.breed_id))
    deliveries = await store.streams.jobs.read_jobs(consumer, count=1, block_ms=1000)
    return breed, deliveries[0]


async def test_a_job_slower_than_the_timeout_is_not_taken_over_while_its_worker_runs(store, melody_model, renderer):
    worker = Worker(store, SlowModel(melody_model), renderer, "slow", job_timeout_s=TIMEOUT_S)
    breed, delivery = await started_job(store, "slow")
    began = time.monotonic()
    running = asyncio.create_task(worker.handle(delivery))
    taken = []
    deadline = time.monotonic() + 120
    while not running.done():
        assert time.monotonic() < deadline, "the job never ended"
        taken += await store.streams.jobs.claim_stale_jobs("other", round(TIMEOUT_S * 1000), count=1)
        await asyncio.sleep(0.02)
    await running
    assert time.monotonic() - began > 2 * TIMEOUT_S, "the job must outlast the timeout for this test to mean much"
    assert taken == []
    assert await store.breeds.get_generation(breed.breed_id, 0) is not None
    assert (await store.redis.xpending("mb:jobs", "workers"))["pending"] == 0


async def test_a_result_for_a_job_no_longer_held_is_dropped(store, melody_model, renderer):
    model = HeldModel(melody_model)
    worker = Worker(store, model, renderer, "late", job_timeout_s=TIMEOUT_S)
    breed, delivery = await started_job(store, "late")
    running = asyncio.create_task(worker.handle(delivery))
    await wait_for(model.decoding.is_set, timeout=60, what="the job to be under way")
    # Given up on while it ran (as after too many hand-outs): the breed went on without it.
    await store.streams.jobs.dead_letter(delivery, "handed out too often")
    model.go_on.set()
    await running
    assert await store.breeds.get_generation(breed.breed_id, 0) is None
    assert (await store.breeds.get(breed.breed_id)).generation == -1
    events = await store.streams.events.read_events("test-bot", count=100, block_ms=None, front="discord")
    assert [e.payload.type for e in events if e.payload.type != "progress"] == []


async def test_a_result_for_a_job_another_worker_took_over_is_dropped(store, melody_model, renderer):
    # A worker that stalled past the timeout (its machine froze): another worker took its job over.
    model = HeldModel(melody_model)
    worker = Worker(store, model, renderer, "stalled", job_timeout_s=TIMEOUT_S)
    breed, delivery = await started_job(store, "stalled")
    running = asyncio.create_task(worker.handle(delivery))
    await wait_for(model.decoding.is_set, timeout=60, what="the job to be under way")
    [taken] = await store.streams.jobs.claim_stale_jobs("other", 0, count=1)  # what XAUTOCLAIM does once it is idle
    assert taken.message_id == delivery.message_id
    model.go_on.set()
    await running
    # The stalled worker wrote nothing and acknowledged nothing: the job is the other worker's to do.
    assert await store.breeds.get_generation(breed.breed_id, 0) is None
    pending = await store.redis.xpending_range("mb:jobs", "workers", min="-", max="+", count=10)
    assert [(p["message_id"].decode(), p["consumer"].decode()) for p in pending] == [(delivery.message_id, "other")]
