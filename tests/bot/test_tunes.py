"""Backing and tunes on simulated Discord, with the real worker: chosen at the start, heard in every clip,
a tune at the finish, and `/breed tune` from a gallery winner or any candidate."""

from __future__ import annotations

import pytest

from domain.ids import melody_id
from engine.midi import midi_to_notes, read_midi, step_seconds
from storage.codec import load_job
from storage.streams import JOBS
from tests.bot.flows import start_breed
from tests.bot.simulation import World, answer_of
from tests.support.bot import bot_posts, finish_with, names

pytestmark = pytest.mark.slow

TUNE_FILES = ["tune.mid", "tune.ogg", "tune.png"]


def has_drums(data: bytes) -> bool:
    return any(track.is_drum and track.notes for track in read_midi(data).instruments)


async def test_a_band_breed_of_16_bars_backs_every_clip_and_finishes_with_its_tune(world: World, worker) -> None:
    breed = await start_breed(world, backing="band", bars=16, tempo=100)
    assert (breed.params.backing, breed.params.bars) == ("band", 16)
    assert "band backing · 16-bar tune" in world.channel.history()[0].content
    generation = await world.store.breeds.get_generation(breed.breed_id, 0)
    clip = await world.store.breeds.get_artifact(breed.breed_id, 0, "clip-2.mid")
    assert has_drums(clip) and midi_to_notes(clip) == list(generation.melodies[1])

    post = await finish_with(world, breed, 2)

    assert names(post)[-3:] == TUNE_FILES and "16-bar tune" in post.content
    tune = await post.attachments[4].read()
    assert [n for n in midi_to_notes(tune) if n.start < 32] == list(generation.melodies[1])
    assert has_drums(tune)
    assert read_midi(tune).get_end_time() >= 15 * 16 * step_seconds(100)


async def test_breed_tune_makes_a_tune_from_a_gallery_winner_and_from_any_candidate(world: World, worker) -> None:
    breed = await start_breed(world, backing="none")
    await finish_with(world, breed, 1)
    winner_id, candidate_id = melody_id(breed.breed_id, 0, 0), melody_id(breed.breed_id, 0, 2)
    bea, cy, _dot = world.voters

    asked = await bea.slash(world.channel, "breed tune", melody=winner_id)
    assert asked.ephemeral and answer_of(asked) == (
        f"Making a 8-bar tune from `{winner_id}` with no backing: it will be posted here.")
    again = await cy.slash(world.thread_of(breed), "breed tune", melody="3", bars=16, backing="chords")
    assert answer_of(again) == (
        f"Making a 16-bar tune from `{candidate_id}` with chords backing: it will be posted here.")
    assert await tune_jobs(world) == [(winner_id, 8, "none"), (candidate_id, 16, "chords")]

    async def posted() -> bool:
        thread = world.thread_of(breed)
        return len(bot_posts(world, world.channel, "🎶")) == 1 and len(bot_posts(world, thread, "🎶")) == 1

    await world.wait_for(posted, "both tunes to be posted")
    [from_winner] = bot_posts(world, world.channel, "🎶")
    [from_candidate] = bot_posts(world, world.thread_of(breed), "🎶")
    assert names(from_winner) == TUNE_FILES and names(from_candidate) == TUNE_FILES
    assert f"<@{bea.id}>" in from_winner.content and f"`{candidate_id}`" in from_candidate.content
    melodies = (await world.store.breeds.get_generation(breed.breed_id, 0)).melodies
    first = midi_to_notes(await from_winner.attachments[0].read())
    second = midi_to_notes(await from_candidate.attachments[0].read())
    assert [n for n in first if n.start < 32] == list(melodies[0])
    assert [n for n in second if n.start < 32] == list(melodies[2])
    assert len(read_midi(await from_winner.attachments[0].read()).instruments) == 1
    assert read_midi(await from_candidate.attachments[0].read()).get_end_time() >= 15 * 16 * step_seconds(120)
    assert world.refusals() == []


async def tune_jobs(world: World) -> list[tuple[str | None, int, str | None]]:
    """(melody, bars, backing) of every tune job sent to the workers, in order."""
    entries = await world.store.redis.xrange(JOBS)
    jobs = [load_job(fields[b"payload"]) for _id, fields in entries]
    return [(job.source, job.bars, job.backing) for job in jobs if job.kind == "tune"]
