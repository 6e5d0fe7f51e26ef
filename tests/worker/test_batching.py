"""A worker taking several waiting jobs at once: one decode for all, each job acknowledged on its own."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from domain.jobs import EvolveJob, StartJob
from engine.subspace import load as load_subspace
from tests.support.waiting import wait_for
from tests.support.worker_jobs import new_breed, pending_jobs, running, worker_process
from worker.runner import Worker

pytestmark = pytest.mark.slow


@pytest.fixture
def batch_worker(store, melody_model, renderer) -> Worker:
    return Worker(store, melody_model, renderer, "batch-worker", job_timeout_s=30.0, block_ms=50,
                  subspace=load_subspace(), batch=4)


async def events_of_all(store) -> list:
    deliveries = await store.streams.events.read_events("test-bot", count=1000, block_ms=None, front="discord")
    return [d.payload for d in deliveries if d.payload is not None]


class CountingDecoder:
    """The real model, counting the calls of its decoder."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def decode(self, latents, temperature=0.0):
        self.calls.append(len(latents))
        return self.model.decode(latents, temperature)


async def test_waiting_jobs_of_several_breeds_are_decoded_in_one_call(store, batch_worker, redis_client):
    counting = CountingDecoder(batch_worker.model)
    batch_worker.model = counting
    breeds = [await new_breed(store, population=population) for population in (4, 6, 8)]
    for breed in breeds:
        await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    await batch_worker.step()
    assert counting.calls == [4 + 6 + 8]
    assert await pending_jobs(redis_client) == 0
    events = await events_of_all(store)
    for breed in breeds:
        generation = await store.breeds.get_generation(breed.breed_id, 0)
        latents = await store.breeds.get_latents(breed.breed_id, 0)
        # Each breed got its own melodies back: those its latents decode to alone.
        assert [list(m) for m in generation.melodies] == counting.model.decode(latents)
        assert len(generation.artifacts) == breed.params.population * 2 + 1
        assert [(e.type, e.breed_id) for e in events].count(("generation_ready", breed.breed_id)) == 1


async def test_jobs_of_one_breed_in_a_batch_run_in_stream_order(store, batch_worker, redis_client):
    breed, other = await new_breed(store, population=4), await new_breed(store, population=4)
    await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    await store.streams.jobs.enqueue_job(StartJob(other.breed_id))
    await store.streams.jobs.enqueue_job(EvolveJob(breed.breed_id, 0, fitness=(2, 0, 1, 0), sigma=0.5))
    await batch_worker.step()  # the evolve needs what the start writes
    assert await store.breeds.get_generation(breed.breed_id, 1) is not None
    assert await store.breeds.get_generation(other.breed_id, 0) is not None
    assert await pending_jobs(redis_client) == 0 and await store.streams.jobs.dead_letters() == []


async def test_a_killed_worker_holding_a_batch_loses_none_of_its_jobs(
    store, melody_model, renderer, redis_client, redis_url
):
    # The survivor takes over jobs idle for 3 s (its own jobs' leases are renewed every second meanwhile).
    batch_worker = Worker(store, melody_model, renderer, "survivor", job_timeout_s=3.0, block_ms=50,
                          subspace=load_subspace(), batch=4)
    breeds = [await new_breed(store, population=4) for _ in range(4)]
    process = worker_process(redis_url, "doomed-batch", JOB_BATCH="4")
    try:
        for breed in breeds:  # all waiting before the worker is ready: it takes the four at once
            await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
        deadline = time.monotonic() + 120
        while (await pending_jobs(redis_client)) < len(breeds):
            assert time.monotonic() < deadline and process.poll() is None, "the worker never took the jobs"
            await asyncio.sleep(0.002)
        process.send_signal(signal.SIGSTOP)  # freeze it holding the batch, then kill it: it acks no more
        held = await pending_jobs(redis_client)
        process.kill()
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    written_before = [await store.breeds.get_generation(b.breed_id, 0) is not None for b in breeds]
    if all(written_before):
        pytest.fail("the worker finished the batch before it could be killed; the test could not stage a crash")
    assert held > 0

    async def all_done() -> bool:
        made = [await store.breeds.get_generation(b.breed_id, 0) is not None for b in breeds]
        return all(made) and await pending_jobs(redis_client) == 0

    async with running(batch_worker):
        await wait_for(all_done, timeout=60)
    assert await store.streams.jobs.dead_letters() == []
    events = await events_of_all(store)
    for breed in breeds:
        assert [(e.type, e.breed_id) for e in events].count(("generation_ready", breed.breed_id)) == 1
