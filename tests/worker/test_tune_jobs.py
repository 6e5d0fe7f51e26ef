"""The worker's backing and tunes over real Redis, the real model and real FluidSynth."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import soundfile

from domain import artifacts
from domain.jobs import ComposeJob, FinishJob, TuneJob
from domain.model import Front, TuneRequest
from engine.midi import midi_to_notes, read_midi, step_seconds
from storage.breeds import breed_key, generation_key, latents_key
from tests.support.worker_jobs import do_next_job, events_of, started_breed
from worker.handlers.tune import runner_up

pytestmark = pytest.mark.slow

async def started(store, worker, **params):
    return await started_breed(store, worker, population=4, foreign=1, **params)


def parts(data: bytes) -> list[tuple[bool, int]]:
    """(is drum, program) of each track of a MIDI file that has notes, in order."""
    return [(track.is_drum, track.program) for track in read_midi(data).instruments if track.notes]


def test_the_runner_up_is_the_most_voted_other_candidate_if_any_has_votes() -> None:
    assert runner_up([3, 5, 5, 0], 1) == 2
    assert runner_up([0, 4, 1, 1], 1) == 2
    assert runner_up([0, 4, 0, 0], 1) is None
    assert runner_up([], 0) is None


@pytest.mark.parametrize("backing, drums", [("chords", False), ("band", True)])
async def test_every_clip_of_a_generation_has_the_breeds_backing_under_the_melody(
    store, worker, backing: str, drums: bool,
) -> None:
    breed = await started(store, worker, backing=backing, instrument=73, tempo=100)
    generation = await store.breeds.get_generation(breed.breed_id, 0)
    for index, melody in enumerate(generation.melodies):
        data = await store.breeds.get_artifact(breed.breed_id, 0, artifacts.midi_name(index))
        tracks = parts(data)
        if melody:
            assert tracks[0] == (False, 73)
            assert midi_to_notes(data) == list(melody)
        assert len(tracks) >= 2
        assert any(is_drum for is_drum, _program in tracks) == drums
        audio, rate = soundfile.read(io.BytesIO(await store.breeds.get_artifact(breed.breed_id, 0,
                                                                         artifacts.clip_name(index))))
        assert 32 * step_seconds(100) <= len(audio) / rate <= 32 * step_seconds(100) + 2.0
        assert np.sqrt(np.mean(np.square(audio))) > 0.01


async def test_without_backing_a_clip_is_the_melody_alone(store, worker) -> None:
    breed = await started(store, worker, backing="none")
    data = await store.breeds.get_artifact(breed.breed_id, 0, artifacts.midi_name(0))
    assert len(read_midi(data).instruments) == 1


@pytest.mark.parametrize("bars", [8, 16])
async def test_a_finish_writes_a_tune_that_opens_with_the_winner(store, worker, bars: int) -> None:
    breed = await started(store, worker, bars=bars, backing="band", tempo=120)
    await store.votes.add(breed.breed_id, 0, 1, 20)
    await store.streams.jobs.enqueue_job(FinishJob(breed.breed_id, 0, candidate=2))
    await do_next_job(store, worker)
    winner = (await store.breeds.get_generation(breed.breed_id, 0)).melodies[2]
    tune = await store.breeds.get_artifact(breed.breed_id, 0, artifacts.TUNE_MID)
    notes = midi_to_notes(tune)
    assert [n for n in notes if n.start < 32] == list(winner)
    assert max(n.end for n in notes) <= bars * 16
    assert read_midi(tune).get_end_time() >= (bars - 1) * 16 * step_seconds(120)
    assert any(is_drum for is_drum, _program in parts(tune))
    audio, rate = soundfile.read(io.BytesIO(await store.breeds.get_artifact(breed.breed_id, 0, artifacts.TUNE_AUDIO)))
    assert len(audio) / rate >= (bars - 1) * 16 * step_seconds(120)
    assert (await store.breeds.get_artifact(breed.breed_id, 0, artifacts.TUNE_PNG)).startswith(b"\x89PNG")
    assert "finished" in [e.type for e in await events_of(store, breed.breed_id)]


async def test_a_tune_job_makes_a_tune_from_any_candidate_once(store, worker) -> None:
    breed = await started(store, worker, tempo=90, instrument=40)
    melody = f"{breed.breed_id}-g1-3"
    await store.tunes.create(TuneRequest("tune1", melody, breed.breed_id, 16, "chords", Front.DISCORD))
    for _ in range(2):
        await store.streams.jobs.enqueue_job(TuneJob("tune1", source=melody, bars=16, backing="chords"))
        await do_next_job(store, worker)
    data = await store.tunes.file("tune1", artifacts.TUNE_MID)
    candidate = (await store.breeds.get_generation(breed.breed_id, 0)).melodies[2]
    assert [n for n in midi_to_notes(data) if n.start < 32] == list(candidate)
    assert parts(data)[0] == (False, 40)
    assert not any(is_drum for is_drum, _program in parts(data))
    assert read_midi(data).get_end_time() >= 15 * 16 * step_seconds(90)
    assert await store.tunes.file("tune1", artifacts.TUNE_AUDIO)
    assert (await store.tunes.file("tune1", artifacts.TUNE_PNG)).startswith(b"\x89PNG")
    assert [e.type for e in await events_of(store, "tune1")] == ["tune_ready", "tune_ready"]


async def test_a_gallery_winner_makes_a_tune_after_its_breeds_latents_expired(store, worker) -> None:
    breed = await started(store, worker)
    await store.streams.jobs.enqueue_job(FinishJob(breed.breed_id, 0, candidate=0))
    await do_next_job(store, worker)
    from domain.model import Winner

    melody = f"{breed.breed_id}-g1-1"
    winner_mid = await store.breeds.get_artifact(breed.breed_id, 0, artifacts.WINNER_MID)
    await store.gallery.keep(Winner(melody, breed.breed_id, None, 1, 0, 0, 1.0))  # its files are the breed's own
    await store.redis.delete(latents_key(breed.breed_id, 0), generation_key(breed.breed_id, 0))
    await store.streams.jobs.enqueue_job(TuneJob("tune2", source=melody, bars=8, backing="none"))
    await do_next_job(store, worker)
    # Its kept MIDI file gives the theme's notes, and the model's reading of them the latent.
    data = await store.tunes.file("tune2", artifacts.TUNE_MID)
    assert [n for n in midi_to_notes(data) if n.start < 32] == midi_to_notes(winner_mid)
    assert len(read_midi(data).instruments) == 1
    assert [e.type for e in await events_of(store, "tune2")] == ["tune_ready"]


async def test_a_gallery_winner_whose_breed_expired_makes_tunes_and_pieces_in_its_own_sound(store, worker) -> None:
    from domain.model import Winner

    breed = await started(store, worker)  # tempo 120, piano
    await store.streams.jobs.enqueue_job(FinishJob(breed.breed_id, 0, candidate=0))
    await do_next_job(store, worker)
    melody = f"{breed.breed_id}-g1-1"
    winner_mid = await store.breeds.get_artifact(breed.breed_id, 0, artifacts.WINNER_MID)
    await store.gallery.keep(Winner(melody, breed.breed_id, None, 1, 0, 0, 1.0, tempo=90, instrument=40))
    # Its breed's retention passed: state, generations and latents are gone, the winner's files kept.
    await store.redis.delete(breed_key(breed.breed_id), latents_key(breed.breed_id, 0),
                             generation_key(breed.breed_id, 0))
    await store.streams.jobs.enqueue_job(TuneJob("tune4", source=melody, bars=8, backing="chords"))
    await do_next_job(store, worker)
    await store.streams.jobs.enqueue_job(ComposeJob("piece4", melodies=(melody, melody), smooth=True))
    await do_next_job(store, worker)

    tune = read_midi(await store.tunes.file("tune4", artifacts.TUNE_MID))
    piece = read_midi(await store.compositions.file("piece4", artifacts.COMPOSITION_MID))
    for made in (tune, piece):  # the gallery's tempo and instrument
        assert round(made.get_tempo_changes()[1][0]) == 90
        assert made.instruments[0].program == 40
    opening = [n for n in midi_to_notes(await store.tunes.file("tune4", artifacts.TUNE_MID)) if n.start < 32]
    assert opening == midi_to_notes(winner_mid)
    theme = midi_to_notes(winner_mid)
    assert midi_to_notes(await store.compositions.file("piece4", artifacts.COMPOSITION_MID)) == [
        *theme, *(replace(n, start=n.start + 32, end=n.end + 32) for n in theme)]


async def test_a_tune_of_a_melody_that_is_gone_fails_with_its_reason(store, worker) -> None:
    await store.streams.jobs.enqueue_job(TuneJob("tune3", source="gone0000-g1-1", bars=8, backing="band"))
    await do_next_job(store, worker)
    [error] = await events_of(store, "tune3")
    assert (error.type, error.job, error.message) == (
        "error", "tune", "The melody `gone0000-g1-1` is not stored any more.")
    assert await store.tunes.file("tune3", artifacts.TUNE_MID) is None
