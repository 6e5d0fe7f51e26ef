"""The worker over real Redis, the real model and real FluidSynth."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile

from domain import artifacts, limits, model
from domain.jobs import EvolveJob, FinishJob, MorphJob, StartJob
from engine.midi import midi_to_notes, step_seconds
from engine.render import RELEASE_S
from storage.codec import Event
from storage.streams import JOBS
from tests.support.waiting import wait_for
from tests.support.worker_jobs import (
    do_next_job,
    events_of,
    new_breed,
    pending_jobs,
    running,
    started_breed,
    worker_process,
)
from worker.handlers.morph import morph_steps
from worker.runner import Worker

pytestmark = pytest.mark.slow


async def test_start_and_evolve_round_trip(store, worker, redis_client):
    breed = await new_breed(store, population=6, foreign=1)
    await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    await do_next_job(store, worker)
    first = await store.breeds.get_generation(breed.breed_id, 0)
    assert first is not None and len(first.candidates) == 6 and len(first.melodies) == 6
    for i in range(6):
        assert artifacts.clip_name(i) in first.artifacts and artifacts.midi_name(i) in first.artifacts
    assert artifacts.ROLL_PNG in first.artifacts

    await store.streams.jobs.enqueue_job(EvolveJob(breed.breed_id, 0, fitness=(3, 0, 1, 0, 0, 0), sigma=0.4))
    await do_next_job(store, worker)
    second = await store.breeds.get_generation(breed.breed_id, 1)
    assert second is not None and second.fitness == (3, 0, 1, 0, 0, 0) and second.sigma == 0.4
    voted_ids = {first.candidates[0].candidate_id, first.candidates[2].candidate_id}
    for candidate in second.candidates:
        assert set(candidate.parents) <= voted_ids
    assert (await store.breeds.get(breed.breed_id)).generation == 1
    ready = [(e.type, e.generation) for e in await events_of(store, breed.breed_id) if e.type != "progress"]
    assert ready == [("generation_ready", 0), ("generation_ready", 1)]
    assert await pending_jobs(redis_client) == 0


async def test_a_job_delivered_twice_makes_one_generation(store, worker):
    breed = await new_breed(store)
    await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    await do_next_job(store, worker)
    job = EvolveJob(breed.breed_id, 0, fitness=(1, 2, 0, 0, 0, 0, 0, 1), sigma=0.5)
    await store.streams.jobs.enqueue_job(job)
    await do_next_job(store, worker)
    latents = await store.breeds.get_latents(breed.breed_id, 1)
    generation = await store.breeds.get_generation(breed.breed_id, 1)
    await store.streams.jobs.enqueue_job(job)
    await do_next_job(store, worker)
    assert np.array_equal(await store.breeds.get_latents(breed.breed_id, 1), latents)
    assert await store.breeds.get_generation(breed.breed_id, 1) == generation
    assert await store.breeds.get_generation(breed.breed_id, 2) is None


async def test_malformed_and_impossible_jobs_go_to_dead_letters_with_an_error_event(store, worker, redis_client):
    await redis_client.xadd(
        JOBS, {"payload": b'{"v": 1, "type": "evolve", "breed_id": "abc", "generation": 0, "fitness": [-1]}'})
    await redis_client.xadd(JOBS, {"payload": b"not json at all"})
    await store.streams.jobs.enqueue_job(EvolveJob("no-such-breed", 0, fitness=(1, 0)))
    for _ in range(3):
        await do_next_job(store, worker)
    letters = await store.streams.jobs.dead_letters()
    reasons = " | ".join(letter["reason"] for letter in letters)
    assert len(letters) == 3
    assert "non-negative" in reasons and "JSON" in reasons and "Unknown breed" in reasons
    deliveries = await store.streams.events.read_events("test-bot", count=100, block_ms=None, front="discord")
    errors = {d.payload.breed_id: d.payload.message for d in deliveries if d.payload.type == "error"}
    assert "Unknown breed" in errors["no-such-breed"]
    assert "could not read" in errors["abc"]  # the bot can tell the breed's thread
    assert await pending_jobs(redis_client) == 0


async def test_audio_is_audible_and_as_long_as_the_melody_and_midi_parses_back(store, worker):
    breed = await new_breed(store, population=4, tempo=100, instrument=73)
    await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    await do_next_job(store, worker)
    generation = await store.breeds.get_generation(breed.breed_id, 0)
    sixteenth = 60.0 / 100 / 4
    for i, melody in enumerate(generation.melodies):
        clip = await store.breeds.get_artifact(breed.breed_id, 0, artifacts.clip_name(i))
        audio, rate = soundfile.read(io.BytesIO(clip))
        seconds = len(audio) / rate
        assert 32 * sixteenth <= seconds <= 32 * sixteenth + 1.5
        if melody:
            assert np.sqrt(np.mean(np.square(audio))) > 0.01
        data = await store.breeds.get_artifact(breed.breed_id, 0, artifacts.midi_name(i))
        assert [(n.pitch, n.start, n.end) for n in midi_to_notes(data)] == [
            (n.pitch, n.start, n.end) for n in melody
        ]


async def test_finish_writes_the_winners_midi_audio_and_roll(store, worker):
    breed = await new_breed(store, population=3, foreign=0)
    await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    await do_next_job(store, worker)
    await store.streams.jobs.enqueue_job(FinishJob(breed.breed_id, 0, candidate=2))
    await do_next_job(store, worker)
    generation = await store.breeds.get_generation(breed.breed_id, 0)
    winner = midi_to_notes(await store.breeds.get_artifact(breed.breed_id, 0, artifacts.WINNER_MID))
    assert [(n.pitch, n.start, n.end) for n in winner] == [(n.pitch, n.start, n.end) for n in generation.melodies[2]]
    assert await store.breeds.get_artifact(breed.breed_id, 0, artifacts.WINNER_AUDIO)
    assert (await store.breeds.get_artifact(breed.breed_id, 0, artifacts.WINNER_PNG)).startswith(b"\x89PNG")
    assert "finished" in [e.type for e in await events_of(store, breed.breed_id)]


async def test_a_morph_plays_the_path_from_one_candidate_to_the_other_in_one_midi_and_clip(store, worker):
    breed = await started_breed(store, worker, population=4, tempo=100)
    generation = await store.breeds.get_generation(breed.breed_id, 0)
    await events_of(store, breed.breed_id)

    await store.streams.jobs.enqueue_job(MorphJob(breed.breed_id, 0, candidate=1, other=3, steps=4))
    await do_next_job(store, worker)

    notes = midi_to_notes(await store.breeds.get_artifact(breed.breed_id, 0, artifacts.morph_name(1, 3, "mid")))
    assert [n for n in notes if n.start < 32] == list(generation.melodies[1])
    last = [model.Note(n.pitch, n.start - 3 * 32, n.end - 3 * 32) for n in notes if n.start >= 3 * 32]
    assert last == list(generation.melodies[3])
    assert all(n.end <= 4 * 32 for n in notes)
    clip = await store.breeds.get_artifact(breed.breed_id, 0, artifacts.morph_name(1, 3, "ogg"))
    audio, rate = soundfile.read(io.BytesIO(clip))
    assert len(audio) / rate == pytest.approx(4 * 32 * step_seconds(100) + RELEASE_S, abs=0.1)
    assert await events_of(store, breed.breed_id) == [
        Event("morph_ready", breed.breed_id, 0, candidate=1, other=3, steps=4)
    ]
    assert await store.streams.jobs.dead_letters() == []


async def test_a_morph_delivered_again_is_not_rendered_again_and_each_pair_has_its_own_files(store, worker):
    breed = await started_breed(store, worker, population=3, foreign=0)
    await store.streams.jobs.enqueue_job(MorphJob(breed.breed_id, 0, candidate=0, other=2, steps=3))
    await do_next_job(store, worker)
    files = [artifacts.morph_name(0, 2, "mid"), artifacts.morph_name(0, 2, "ogg")]
    first = [await store.breeds.get_artifact(breed.breed_id, 0, name) for name in files]
    await events_of(store, breed.breed_id)

    await store.streams.jobs.enqueue_job(MorphJob(breed.breed_id, 0, candidate=0, other=2, steps=7))
    await do_next_job(store, worker)
    await store.streams.jobs.enqueue_job(MorphJob(breed.breed_id, 0, candidate=2, other=0))
    await do_next_job(store, worker)

    assert [await store.breeds.get_artifact(breed.breed_id, 0, name) for name in files] == first
    generation = await store.breeds.get_generation(breed.breed_id, 0)
    reverse = midi_to_notes(await store.breeds.get_artifact(breed.breed_id, 0, artifacts.morph_name(2, 0, "mid")))
    last = [model.Note(n.pitch, n.start - 4 * 32, n.end - 4 * 32) for n in reverse if n.start >= 4 * 32]
    assert last == list(generation.melodies[0])  # the default: 5 melodies, candidate 1 the fifth
    ready = [(e.candidate, e.other, e.steps) for e in await events_of(store, breed.breed_id)]
    assert ready == [(0, 2, 3), (2, 0, limits.MORPH_DEFAULT_STEPS)]


@pytest.mark.parametrize("requested, steps", [(0, 5), (1, 2), (2, 2), (6, 6), (8, 8), (20, 8)])
def test_morph_steps_default_to_five_and_are_clamped_to_two_to_eight(requested: int, steps: int):
    assert morph_steps(requested) == steps


async def test_a_morph_of_one_candidate_with_itself_or_of_a_missing_one_is_dead_lettered(
    store, worker, redis_client
):
    breed = await started_breed(store, worker, population=4)
    await events_of(store, breed.breed_id)
    await store.streams.jobs.enqueue_job(MorphJob(breed.breed_id, 0, candidate=2, other=2))
    await store.streams.jobs.enqueue_job(MorphJob(breed.breed_id, 0, candidate=0, other=4))
    await redis_client.xadd(JOBS, {"payload": json.dumps(
        {"v": 1, "type": "morph", "breed_id": breed.breed_id, "generation": 0, "candidate": 0})})
    for _ in range(3):
        await do_next_job(store, worker)

    reasons = [letter["reason"] for letter in reversed(await store.streams.jobs.dead_letters())]
    assert reasons == [
        "A morph needs two different candidates, not candidate 3 twice.",
        "There is no candidate 5 in this generation.",
        "a morph job needs other",
    ]
    errors = [(e.type, e.job, e.candidate, e.other, e.message) for e in await events_of(store, breed.breed_id)]
    assert errors == [("error", "morph", 2, 2, reasons[0]), ("error", "morph", 0, 4, reasons[1]),
                      ("error", "morph", 0, None, f"The worker could not read a job: {reasons[2]}")]
    assert await pending_jobs(redis_client) == 0
    assert await store.breeds.get_artifact(breed.breed_id, 0, artifacts.morph_name(2, 2, "ogg")) is None


async def test_a_job_of_a_killed_worker_is_completed_exactly_once_by_another(
    store, melody_model, renderer, redis_client, redis_url
):
    # The survivor takes over a job idle for 3 s (its own jobs' leases are renewed every second meanwhile).
    worker = Worker(store, melody_model, renderer, "survivor", job_timeout_s=3.0, block_ms=50)
    breed = await new_breed(store)
    process = worker_process(redis_url, "doomed")
    try:
        await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
        deadline = time.monotonic() + 120
        while (await pending_jobs(redis_client)) == 0:  # the doomed worker holds the job, not yet acked
            assert time.monotonic() < deadline and process.poll() is None, "the worker never took the job"
            await asyncio.sleep(0.002)
        process.send_signal(signal.SIGSTOP)  # freeze it mid-job, then kill it: it never acks
        still_pending = await pending_jobs(redis_client)
        process.kill()
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    if not still_pending:
        pytest.fail("the worker finished the job before it could be killed; the test could not stage a crash")
    # The surviving worker's own loop takes the job over once it has been idle past the job timeout.
    async with running(worker):
        await wait_for(lambda: generation_and_no_pending(store, breed.breed_id, 0, redis_client), timeout=60)
    assert await pending_jobs(redis_client) == 0
    assert await store.streams.jobs.dead_letters() == []
    ready = [e for e in await events_of(store, breed.breed_id) if e.type == "generation_ready"]
    assert len(ready) == 1


async def generation_and_no_pending(store, breed_id: str, number: int, redis_client) -> bool:
    return await store.breeds.get_generation(breed_id, number) is not None and await pending_jobs(redis_client) == 0


async def test_a_job_that_killed_its_workers_too_often_is_dead_lettered_and_told_once(
    store, melody_model, renderer, redis_client
):
    # A worker that reclaims at once: the job's last holder died a moment ago (the job is never run).
    worker = Worker(store, melody_model, renderer, "reclaiming-worker", job_timeout_s=0.5, block_ms=50)
    breed = await new_breed(store)
    await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    await store.streams.jobs.read_jobs("crashed-1", count=1, block_ms=None)
    for consumer in ("crashed-2", "crashed-3"):  # each reclaimed it and died on it
        [delivery] = await store.streams.jobs.claim_stale_jobs(consumer, 0, count=1)
    assert delivery.deliveries == 3
    async with running(worker):
        await wait_for(lambda: _pending_is(redis_client, 0), timeout=30)
    assert await store.breeds.get_generation(breed.breed_id, 0) is None  # never handled a 4th time
    [letter] = await store.streams.jobs.dead_letters()
    assert "stopped 3 times" in letter["reason"] and letter["deliveries"] == "4"
    errors = [e for e in await events_of(store, breed.breed_id) if e.type == "error"]
    assert len(errors) == 1 and errors[0].job == "start" and "stopped 3 times" in errors[0].message


async def _pending_is(redis_client, count: int) -> bool:
    return await pending_jobs(redis_client) == count


async def test_the_job_in_hand_when_redis_went_away_is_finished_when_it_is_back(
    store, worker, redis_client, monkeypatch, caplog
):
    from redis.exceptions import ConnectionError as RedisConnectionError

    breed = await new_breed(store)
    await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    write = store.breeds.write_generation
    failures = [RedisConnectionError("Connection refused"), RedisConnectionError("Connection refused")]

    async def flaky_write(*args, **kwargs):
        if failures:
            raise failures.pop()
        return await write(*args, **kwargs)

    monkeypatch.setattr(store.breeds, "write_generation", flaky_write)
    worker.outage.min_s = 0.05
    async with running(worker) as task:
        await wait_for(lambda: generation_and_no_pending(store, breed.breed_id, 0, redis_client), timeout=60)
        assert not task.done()
    assert await store.streams.jobs.dead_letters() == []  # an outage is no job failure
    assert caplog.text.count("Redis is unreachable") == 1 and "Redis is back" in caplog.text


async def test_a_worker_process_outlives_a_redis_restart_and_finishes_breeds_afterwards(
    redis_server_factory, tmp_path
):
    from storage import BreedStore, connect

    server = redis_server_factory(appendonly=True)
    port, data_dir = server.port, server.data_dir
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "worker", "--consumer", "alone"],
            env={**os.environ, "REDIS_URL": server.url, "LOG_LEVEL": "INFO", "DATA_DIR": str(tmp_path / "data")},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    store = BreedStore(connect(server.url))

    async def written(breed_id: str, number: int) -> bool:
        assert process.poll() is None, f"the worker ended: {log_path.read_text()[-2000:]}"
        return await _has_generation(store, breed_id, number)

    try:
        await store.streams.ensure_groups()
        first = await new_breed(store)
        await store.streams.jobs.enqueue_job(StartJob(first.breed_id))
        await wait_for(lambda: written(first.breed_id, 0), timeout=120, what="generation 1 of the first breed")

        server.stop()
        await wait_for(lambda: "Redis is unreachable" in log_path.read_text(), timeout=60)  # its reads fail
        assert process.poll() is None
        redis_server_factory(data_dir, port=port, appendonly=True)
        await wait_for(lambda: _up(store), timeout=30)
        second = await new_breed(store)
        await store.streams.jobs.enqueue_job(StartJob(second.breed_id))
        await store.streams.jobs.enqueue_job(EvolveJob(first.breed_id, 0, fitness=(1, 0, 0, 0, 0, 0, 0, 0)))
        await wait_for(lambda: written(second.breed_id, 0), timeout=120, what="generation 1 of the second breed")
        await wait_for(lambda: written(first.breed_id, 1), timeout=120, what="generation 2 of the first breed")
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
        await store.close()
    text = log_path.read_text()
    assert text.count("Redis is unreachable") == 1 and "Redis is back" in text and "Traceback" not in text


async def _has_generation(store, breed_id: str, number: int) -> bool:
    return await store.breeds.get_generation(breed_id, number) is not None


async def _up(store) -> bool:
    try:
        return await store.ping()
    except Exception:  # noqa: BLE001 - still starting
        return False


async def test_sigterm_stops_the_worker_cleanly(redis_url):
    process = worker_process(redis_url, "polite")

    async def ready() -> bool:
        assert process.poll() is None, "the worker ended before it waited for jobs"
        return await _blocked_reading(redis_url)

    # Ready: blocked in its read of the jobs stream (Redis lists a consumer only once it has read a job).
    await wait_for(ready, timeout=120, what="the worker to wait for jobs")
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


async def _blocked_reading(redis_url: str) -> bool:
    from storage import connect

    client = connect(redis_url)
    try:
        return any(entry.get("cmd") == "xreadgroup" and "b" in entry.get("flags", "")
                   for entry in await client.client_list())
    finally:
        await client.aclose()


def test_worker_refuses_to_start_without_a_soundfont(redis_url):
    process = worker_process(redis_url, "nosf", SOUNDFONT="/nowhere/missing.sf2")
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2
    lines = [line for line in output.decode().splitlines() if line.strip()]
    assert lines[-1].startswith("breeder worker:") and "missing.sf2" in lines[-1]
    assert "Traceback" not in output.decode()


async def test_the_default_strategy_learns_from_the_votes_of_every_earlier_generation(store, worker):
    breed = await new_breed(store, population=4)
    assert breed.params.strategy == "preference"
    await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    await do_next_job(store, worker)
    votes = [(0, 2, 0, 1), (1, 0, 0, 3), (0, 0, 2, 0)]
    for number, fitness in enumerate(votes):
        await store.streams.jobs.enqueue_job(EvolveJob(breed.breed_id, number, fitness=fitness, sigma=0.4))
        await do_next_job(store, worker)
    history = await worker.melodies.history(breed.breed_id, 3)
    assert [tuple(fitness) for _latents, fitness in history] == votes
    for number, (latents, _fitness) in enumerate(history):
        assert np.array_equal(latents, await store.breeds.get_latents(breed.breed_id, number))
    made = await store.breeds.get_generation(breed.breed_id, 3)
    assert made.candidates[0].operators == ("kept",) and made.candidates[0].parents == ("g2-3",)
    assert all(c.operators[0] in ("preference", "foreign") for c in made.candidates[1:])


async def test_a_job_the_worker_is_done_with_may_be_asked_again(store, worker):
    breed = await started_breed(store, worker, population=4, foreign=1)
    morph = MorphJob(breed.breed_id, 0, candidate=0, other=1, steps=3)
    assert await store.streams.jobs.enqueue_unique_job(morph) is not None
    assert await store.streams.jobs.enqueue_unique_job(morph) is None  # queued: the same job is not queued twice
    await do_next_job(store, worker)
    assert await store.streams.jobs.enqueue_unique_job(morph) is not None  # made and acknowledged
    await do_next_job(store, worker)
    impossible = MorphJob(breed.breed_id, 0, candidate=0, other=9, steps=3)
    assert await store.streams.jobs.enqueue_unique_job(impossible) is not None
    await do_next_job(store, worker)
    assert [letter["reason"] for letter in await store.streams.jobs.dead_letters()] == [
        "There is no candidate 10 in this generation."]
    assert await store.streams.jobs.enqueue_unique_job(impossible) is not None  # dead-lettered: may be asked again
