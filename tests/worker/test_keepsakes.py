"""The worker's tree, compose and branch jobs over real Redis, the real model and real FluidSynth."""

from __future__ import annotations

import numpy as np
import pytest

from domain import artifacts
from domain.jobs import ComposeJob, StartJob, TreeJob
from domain.model import Composition
from tests.support.worker_jobs import do_next_job, events_of, new_breed

pytestmark = pytest.mark.slow


async def started(store, worker, **params):
    breed = await new_breed(store, population=4, foreign=1, **params)
    await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    await do_next_job(store, worker)
    return breed


async def test_a_branch_starts_from_the_exact_latent_of_its_source(store, worker) -> None:
    source = await started(store, worker)
    branch = await new_breed(store, population=4, foreign=1)
    await store.streams.jobs.enqueue_job(StartJob(branch.breed_id, source=f"{source.breed_id}-g1-3"))
    await do_next_job(store, worker)

    latents = await store.breeds.get_latents(branch.breed_id, 0)
    assert np.array_equal(latents[0], (await store.breeds.get_latents(source.breed_id, 0))[2])
    first = await store.breeds.get_generation(branch.breed_id, 0)
    assert first.melodies[0] == (await store.breeds.get_generation(source.breed_id, 0)).melodies[2]
    assert [c.parents for c in first.candidates] == [(f"{source.breed_id}-g1-3",)] * 3 + [()]


async def test_a_branch_from_a_melody_that_is_gone_fails_with_its_reason(store, worker) -> None:
    branch = await new_breed(store, population=4, foreign=1)
    await store.streams.jobs.enqueue_job(StartJob(branch.breed_id, source="gone0000-g1-1"))
    await do_next_job(store, worker)
    [error] = [e for e in await events_of(store, branch.breed_id) if e.type == "error"]
    assert error.message == "The melody `gone0000-g1-1` is not stored any more." and error.job == "start"


async def test_a_tree_is_drawn_once_and_its_event_published_again(store, worker) -> None:
    breed = await started(store, worker)
    for _ in range(2):
        await store.streams.jobs.enqueue_job(TreeJob(breed.breed_id, 0, candidate=1))
        await do_next_job(store, worker)
    tree = await store.breeds.get_artifact(breed.breed_id, 0, artifacts.tree_name(1))
    assert tree.startswith(b"\x89PNG")
    ready = [e for e in await events_of(store, breed.breed_id) if e.type == "tree_ready"]
    assert [(e.generation, e.candidate) for e in ready] == [(0, 1), (0, 1)]


async def test_a_composition_plays_its_phrases_in_order(store, worker) -> None:
    from engine.midi import midi_to_notes

    breed = await started(store, worker)
    ids = (f"{breed.breed_id}-g1-2", f"{breed.breed_id}-g1-1")
    await store.compositions.create(Composition("piece1", None, None, 1, ids))
    await store.streams.jobs.enqueue_job(ComposeJob("piece1", melodies=ids))
    await do_next_job(store, worker)

    melodies = (await store.breeds.get_generation(breed.breed_id, 0)).melodies
    notes = midi_to_notes(await store.compositions.file("piece1", artifacts.COMPOSITION_MID))
    assert [n for n in notes if n.start < 32] == list(melodies[1])
    assert len(await store.compositions.file("piece1", artifacts.COMPOSITION_AUDIO)) > 1000
    assert [e.type for e in await events_of(store, "piece1")] == ["composed"]


async def test_a_composition_of_a_melody_that_is_gone_tells_its_channel(store, worker) -> None:
    await store.streams.jobs.enqueue_job(ComposeJob("piece2", melodies=("gone0000-g1-1", "gone0000-g1-2")))
    await do_next_job(store, worker)
    [error] = await events_of(store, "piece2")
    assert (error.type, error.job, error.message) == ("error", "compose",
                                                      "The melody `gone0000-g1-1` is not stored any more.")
