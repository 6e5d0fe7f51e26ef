"""Every job's hard deadline: a hung render is ended with its child process, the breed is told, the next job runs."""

from __future__ import annotations

import asyncio
import functools
import io
import os
import time
from collections.abc import Sequence

import pytest
import soundfile

from domain.jobs import StartJob
from domain.model import Breed, BreedParams, Front, Note
from domain.tune import Backing
from engine.attributes import load as load_attributes
from engine.midi import MidiError
from engine.render import Renderer
from engine.render_process import RenderProcess
from engine.subspace import load as load_subspace
from tests.support.waiting import wait_for
from worker.runner import Worker

pytestmark = pytest.mark.slow

HANGING_TEMPO = 61  # a breed at this tempo hangs the renderer below


class HangingRenderer(Renderer):
    """The real renderer, except that clips at HANGING_TEMPO never come back (as a stuck FluidSynth)."""

    def render_clips(self, melodies: Sequence[Sequence[Note]], tempo: int, instrument: int,
                     steps: int = 32) -> list[bytes]:
        if tempo == HANGING_TEMPO:
            while True:
                time.sleep(1)
        return super().render_clips(melodies, tempo, instrument, steps)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child ended but not reaped yet is a zombie: it no longer runs.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


async def _new_breed(store, tempo: int) -> Breed:
    breed = Breed(store.new_breed_id(), owner_id=1, created_at=time.time(), front=Front.TERMINAL,
                  params=BreedParams(population=3, foreign=1, tempo=tempo, backing=Backing.NONE))
    await store.breeds.create(breed, StartJob(breed.breed_id))
    return breed


async def test_a_hung_render_is_ended_at_the_deadline_and_the_next_job_runs(store, melody_model) -> None:
    renderer = RenderProcess(functools.partial(HangingRenderer))
    renderer.check()
    first_child = renderer.pid
    assert first_child is not None
    worker = Worker(store, melody_model, renderer, "deadline-worker", job_timeout_s=30.0, block_ms=50,
                    subspace=load_subspace(), attributes=load_attributes(), job_deadline_s=5.0)
    hung = await _new_breed(store, HANGING_TEMPO)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_for(store.streams.jobs.dead_letters, timeout=60, what="the hung job to be given up")
        # The next job runs (with time to start a fresh child on a loaded machine): its breed gets its generation.
        worker.job_deadline_s = 120.0
        fine = await _new_breed(store, 120)
        await wait_for(lambda: store.breeds.get_generation(fine.breed_id, 0), timeout=90,
                       what="the job after the hung one")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        renderer.close()
    assert await store.breeds.get_generation(hung.breed_id, 0) is None
    # The hung job was given up: dead-lettered with the reason, and its breed told.
    [letter] = await store.streams.jobs.dead_letters()
    assert "took longer than 5 s" in letter["reason"] and hung.breed_id in letter["raw"]
    told = [d.payload for d in await store.streams.events.read_events("test-bot", count=100, block_ms=None,
                                                                      front="discord")
            if d.payload is not None and d.payload.type == "error"]
    assert [(event.breed_id, event.job) for event in told] == [(hung.breed_id, "start")]
    assert "took longer than 5 s" in (told[0].message or "")
    # The child that hung was ended, and another one served the next job.
    assert not _alive(first_child)
    assert renderer.restarts == 1
    assert await store.streams.jobs.queued_jobs() == 0


async def test_a_render_process_renders_as_the_renderer_does_and_sends_its_errors_back(renderer) -> None:
    melodies = [[Note(60, 0, 4), Note(64, 4, 8)], [Note(67, 0, 8)]]
    process = RenderProcess(functools.partial(Renderer))
    try:
        clips = await asyncio.to_thread(process.render_clips, melodies, 120, 0)
        expected = renderer.render_clips(melodies, 120, 0)
        for clip, same in zip(clips, expected, strict=True):
            audio, rate = soundfile.read(io.BytesIO(clip))
            reference, reference_rate = soundfile.read(io.BytesIO(same))
            assert rate == reference_rate and audio.shape == reference.shape
        child = process.pid
        assert process.abandon("another-job") is False  # nothing of that job runs: the child stays
        with pytest.raises(MidiError, match="not a MIDI file"):
            await asyncio.to_thread(process.render_midi, b"not midi")
        assert process.pid == child and process.restarts == 0
    finally:
        process.close()
    assert process.pid is None
