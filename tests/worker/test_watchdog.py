"""The watchdog: a breed whose step's job is neither queued, held nor done is told once, after a while."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from domain import artifacts
from domain.jobs import EvolveJob, Job, StartJob
from domain.model import Breed, BreedParams, Candidate, Generation
from storage.codec import Event
from tests.support.waiting import wait_for
from worker.runner import Worker
from worker.watchdog import LOST, Watchdog

AFTER_S = 180.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def _breed(store, status: str = "starting", generation: int = -1, job: Job | None = None) -> Breed:
    breed = Breed(store.new_breed_id(), owner_id=1, params=BreedParams(population=2, foreign=0),
                  created_at=time.time(), front="discord")
    await store.breeds.create(breed)
    return await store.breeds.update(breed.breed_id, job=job, status=status, generation=generation,
                                     opened=max(generation, -1))


async def _errors(store) -> list[Event]:
    deliveries = await store.streams.events.read_events("test-bot", count=100, block_ms=None, front="discord")
    return [d.payload for d in deliveries if d.payload is not None and d.payload.type == "error"]


async def _write_generation(store, breed_id: str, number: int) -> None:
    candidates = tuple(Candidate(f"g{number}-{i + 1}", i, ("foreign",), ()) for i in range(2))
    await store.breeds.write_generation(Generation(breed_id, number, candidates, ((), ())),
                                        np.zeros((2, 4), np.float32), {})


async def test_a_breed_whose_job_is_nowhere_is_told_once_after_the_wait(store) -> None:
    clock = Clock()
    watchdog = Watchdog(store, AFTER_S, clock)
    lost = await _breed(store, "evolving", 2)  # its evolve job was lost
    assert await watchdog.check() == []
    clock.now += AFTER_S - 1
    assert await watchdog.check() == []
    clock.now += 2
    assert await watchdog.check() == [lost.breed_id]
    clock.now += AFTER_S * 10
    assert await watchdog.check() == []  # told once
    [told] = await _errors(store)
    assert (told.breed_id, told.generation, told.job, told.message) == (lost.breed_id, 2, "evolve", LOST)


async def test_a_breed_whose_job_is_queued_held_or_done_is_never_told(store) -> None:
    clock = Clock()
    watchdog = Watchdog(store, AFTER_S, clock)
    queued = await _breed(store, job=StartJob("placeholder"))
    await store.breeds.update(queued.breed_id, job=StartJob(queued.breed_id))
    held = await _breed(store, "evolving", 0)
    await store.streams.jobs.enqueue_job(EvolveJob(held.breed_id, 0, fitness=(1, 0)))
    done = await _breed(store, "evolving", 0)
    await _write_generation(store, done.breed_id, 1)  # its vote not opened yet: the front end was away
    done_and_found = await _breed(store, "evolving", 0)
    await _write_generation(store, done_and_found.breed_id, 1)
    await store.breeds.update(done_and_found.breed_id, generation=0)
    finishing = await _breed(store, "evolving", 1)
    await store.breeds.update(finishing.breed_id, winner=0, winner_generation=0)
    await store.breeds.add_artifacts(finishing.breed_id, 0, {artifacts.WINNER_MID: b"MThd"}, keep=True)
    voting = await _breed(store, "voting", 0)
    # The placeholder job and the start job are read by a worker that never acknowledges them; the evolve waits.
    await store.streams.jobs.read_jobs("stalled-worker", count=2, block_ms=None)
    for _ in range(3):
        assert await watchdog.check() == []
        clock.now += AFTER_S
    assert await _errors(store) == []
    assert voting.status == "voting"


async def test_a_job_found_again_starts_the_wait_over(store) -> None:
    clock = Clock()
    watchdog = Watchdog(store, AFTER_S, clock)
    breed = await _breed(store, "evolving", 0)
    await watchdog.check()
    clock.now += AFTER_S - 10
    message_id = await store.streams.jobs.enqueue_job(EvolveJob(breed.breed_id, 0, fitness=(1, 0)))
    assert await watchdog.check() == []
    [delivery] = await store.streams.jobs.read_jobs("w1", block_ms=None)
    assert delivery.message_id == message_id
    await store.streams.jobs.ack_job(message_id)  # acknowledged without its result: lost again
    clock.now += 20
    assert await watchdog.check() == []  # the wait started again when it was found missing again
    clock.now += AFTER_S
    assert await watchdog.check() == [breed.breed_id]


async def test_the_running_worker_tells_a_breed_whose_start_job_is_lost(store, melody_model, renderer) -> None:
    lost = await _breed(store)
    worker = Worker(store, melody_model, renderer, "watching-worker", job_timeout_s=0.2, max_deliveries=2,
                    block_ms=50)
    assert worker.watchdog.after_s == 0.2 * 2
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        told: list[Event] = []

        async def told_once() -> bool:
            told.extend(await _errors(store))
            return bool(told)

        await wait_for(told_once, timeout=30, what="the watchdog's error event")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert [(event.breed_id, event.job, event.generation) for event in told] == [(lost.breed_id, "start", -1)]
