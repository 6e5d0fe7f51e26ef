"""A flood of 12,000 requests through the service, with the real worker: most are refused by the queue's
bound, and no job that was accepted is lost (the breed evolving among them gets its next generation)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import pytest

from domain import artifacts, limits
from domain.errors import BreedError
from domain.model import Breed, BreedParams
from domain.rules import Actor
from service.breeding import BreedingService
from service.errors import QueueFull
from storage import BreedStore
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

SUBMISSIONS = 12_000
MAX_QUEUED = 20  # lowered from MAX_QUEUED_JOBS's 1000 for speed: the 12,000 submissions are real
OWNER = Actor(1)
PAIRS = [(a, b, steps) for a, b in itertools.permutations(range(1, 5), 2)
         for steps in range(int(limits.MORPH_STEPS.low), int(limits.MORPH_STEPS.high) + 1)]


async def _voting_breed(service: BreedingService) -> Breed:
    breed = await service.start(owner_id=OWNER.user_id, params=service.params(), front="web")
    await wait_for(lambda: service.store.breeds.get_generation(breed.breed_id, 0), timeout=60,
                   what=f"generation 1 of breed {breed.breed_id}")

    async def post(breed: Breed, shown: object, deadline: float) -> None:
        return None

    opened = await service.results.generation_ready(breed.breed_id, 0, post)
    assert opened is not None and opened.status == "voting"
    return opened


async def test_a_flood_of_morphs_loses_no_accepted_job(store: BreedStore, worker) -> None:
    service = BreedingService(store, time.time, BreedParams(population=4, foreign=1, backing="none"),
                              max_queued_jobs=MAX_QUEUED)
    await service.prepare()
    evolving = await _voting_breed(service)
    targets = [await _voting_breed(service) for _ in range(2)]
    outcomes: Counter[str] = Counter()
    accepted: list[tuple[str, int, int]] = []
    evolve_queued_behind = asyncio.Event()

    async def flood(breed: Breed, count: int, close_at: int | None) -> None:
        for i in range(count):
            if i == close_at:
                await worker.stop()  # let the queue fill up while the vote closes
            start, end, steps = PAIRS[i % len(PAIRS)]
            try:
                await service.request_morph(breed.breed_id, start, end, steps)
            except QueueFull:
                outcomes["refused: queue full"] += 1
                if close_at is not None and i >= close_at and not evolve_queued_behind.is_set():
                    # The vote closes while the queue is full: the evolve job is queued all the same.
                    assert await store.streams.jobs.queued_jobs() >= MAX_QUEUED
                    await service.close_voting(evolving.breed_id, OWNER)
                    evolve_queued_behind.set()
                    worker.start()
            except BreedError:
                outcomes["refused: being made already"] += 1
            else:
                outcomes["accepted"] += 1
                accepted.append((breed.breed_id, start - 1, end - 1))

    await asyncio.gather(flood(targets[0], SUBMISSIONS // 2, SUBMISSIONS // 8),
                         flood(targets[1], SUBMISSIONS // 2, None))
    assert evolve_queued_behind.is_set()
    assert sum(outcomes.values()) == SUBMISSIONS
    assert outcomes["refused: queue full"] > SUBMISSIONS // 2, outcomes
    assert outcomes["accepted"] > 0, outcomes

    # Nothing accepted is lost: the evolving breed's next generation arrives, every morph is made.
    await wait_for(lambda: store.breeds.get_generation(evolving.breed_id, 1), timeout=120,
                   what="the generation the evolve job makes")

    async def drained() -> bool:
        return await store.streams.jobs.queued_jobs() == 0

    await wait_for(drained, timeout=120, what="the accepted jobs to be done")
    for breed_id, a, b in accepted:
        assert await store.breeds.get_artifact(breed_id, 0, artifacts.morph_name(a, b, "ogg")) is not None
    assert await store.streams.jobs.dead_letters() == []
