"""An ended breed's latents go before its melodies (storage.breeds.ENDED_LATENTS_S): its melodies still make
tunes and branches, from the model's reading of their notes (real model, real Redis)."""

from __future__ import annotations

import pytest

from domain import artifacts
from domain.jobs import StartJob, TuneJob
from domain.tune import Backing
from engine.midi import midi_to_notes
from storage.breeds import latents_key
from tests.support.worker_jobs import do_next_job, events_of, new_breed, started_breed

pytestmark = pytest.mark.slow


async def test_a_melody_of_an_ended_breed_without_latents_makes_a_tune_and_a_branch(store, worker) -> None:
    breed = await started_breed(store, worker, population=4, foreign=1)
    await store.breeds.update(breed.breed_id, status="stopped")
    await store.redis.delete(latents_key(breed.breed_id, 0))  # ENDED_LATENTS_S passed
    melody = f"{breed.breed_id}-g1-3"
    notes = list((await store.breeds.get_generation(breed.breed_id, 0)).melodies[2])

    await store.streams.jobs.enqueue_job(TuneJob("tune5", source=melody, bars=8, backing=Backing.NONE))
    await do_next_job(store, worker)
    branch = await new_breed(store, population=4, foreign=0, sigma=0.1)
    await store.streams.jobs.enqueue_job(StartJob(branch.breed_id, source=melody))
    await do_next_job(store, worker)

    tune = await store.tunes.file("tune5", artifacts.TUNE_MID)
    assert [n for n in midi_to_notes(tune) if n.start < 32] == notes  # the theme is the melody itself
    assert [e.type for e in await events_of(store, "tune5")] == ["tune_ready"]
    seeded = await store.breeds.get_generation(branch.breed_id, 0)
    assert seeded is not None and seeded.candidates[0].parents == (melody,)


async def test_an_open_breed_without_its_latents_has_lost_the_melody(store, worker) -> None:
    breed = await started_breed(store, worker, population=4, foreign=1)
    await store.redis.delete(latents_key(breed.breed_id, 0))
    await store.streams.jobs.enqueue_job(TuneJob("tune6", source=f"{breed.breed_id}-g1-1", bars=8,
                                                 backing=Backing.NONE))
    await do_next_job(store, worker)
    [failed] = await events_of(store, "tune6")
    assert (failed.type, failed.message) == ("error", f"The melody `{breed.breed_id}-g1-1` is not stored any more.")
