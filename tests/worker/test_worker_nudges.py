"""The worker applies an evolve job's nudges: fewer notes asked for, fewer notes made, and recorded."""

from __future__ import annotations

import time

import numpy as np
import pytest

from domain.jobs import EvolveJob, StartJob
from domain.model import Breed, BreedParams

pytestmark = pytest.mark.slow


async def evolved(store, worker, breed_id: str, nudges: tuple[tuple[str, float], ...], first):
    """Generation 1 of a breed whose generation 0 is `first`'s, made with `nudges`."""
    breed = Breed(breed_id, owner_id=1, params=BreedParams(population=8, strategy="classic"), created_at=time.time(),
                  front="discord")
    await store.breeds.create(breed)
    generation, latents = first
    await store.breeds.write_generation(generation.__class__(breed_id, 0, generation.candidates, generation.melodies),
                                 latents, {})
    job = EvolveJob(breed_id, 0, fitness=(2, 1, 1, 0, 0, 1, 0, 0), sigma=0.2, nudges=nudges)
    await store.streams.jobs.enqueue_job(job)
    [delivery] = await store.streams.jobs.read_jobs(worker.consumer, count=1, block_ms=1000)
    await worker.handle(delivery)
    return await store.breeds.get_generation(breed_id, 1)


async def test_an_evolve_job_moves_the_next_generation_along_its_nudges(store, worker):
    seed = Breed("seed", owner_id=1, params=BreedParams(population=8), created_at=time.time(), front="discord")
    await store.breeds.create(seed)
    await store.streams.jobs.enqueue_job(StartJob("seed"))
    [delivery] = await store.streams.jobs.read_jobs(worker.consumer, count=1, block_ms=1000)
    await worker.handle(delivery)
    first = (await store.breeds.get_generation("seed", 0), await store.breeds.get_latents("seed", 0))

    fewer = await evolved(store, worker, "fewer", (("density", -2.0),), first)
    more = await evolved(store, worker, "more", (("density", 2.0),), first)
    plain = await evolved(store, worker, "plain", (), first)

    def nudged_notes(generation) -> list[int]:
        return [len(m) for c, m in zip(generation.candidates, generation.melodies, strict=True)
                if "nudged" in c.operators]

    assert len(nudged_notes(fewer)) == len(nudged_notes(more)) >= 3
    assert np.mean(nudged_notes(fewer)) + 6 < np.mean(nudged_notes(more))  # notes in 2 bars
    assert fewer.nudges == (("density", -2.0),) and plain.nudges == ()
    assert nudged_notes(plain) == []
