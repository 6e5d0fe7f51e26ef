"""`breeder bench step`: one whole generation step, stage by stage, worker throughput and start-up.

A step is what a worker does for one evolve job of population 8: GA (the default `preference`
strategy at generation 10, with its whole history, in the melody subspace), decode, the default
backing (chords fitted to each melody, its MIDI file), render the audio (as RENDER_MODE says: mixed
from the note cache, or FluidSynth synthesising each clip whole; levelling and OGG encoding), the
piano roll, and the Redis write. The floor is what no worker can avoid: decoding, plus the audio's
own floor, FluidSynth's synthesis of the backed clips when it renders them whole, their encoding
alone (in the renderer's pool, on every core) when they are mixed from the cache.
Throughput is measured with 20 breeds evolving at once, served by 1 and then 2 `breeder worker`
processes; cold start is the time from starting `breeder worker` to its "waiting for jobs" line
(and the CPU time it took, which a busy machine inflates less).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per stage (default 15)")
    parser.add_argument("--breeds", type=int, default=20, help="breeds evolving at once (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="generations each breed makes (default 2)")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--history", type=int, default=10, help="generation the GA is timed at (default 10)")
    parser.add_argument("--cold-starts", type=int, default=2, help="worker start-ups timed (default 2)")


def run(args: argparse.Namespace) -> int:
    from runtime.logs import configure
    from runtime.settings import WorkerSettings, load

    configure("WARNING")
    settings = load(WorkerSettings)
    return asyncio.run(_bench(args, settings))


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


async def _bench(args: argparse.Namespace, settings) -> int:
    from domain.jobs import EvolveJob, StartJob
    from domain.model import Breed, BreedParams, Front
    from engine import ga, midi, pianoroll
    from engine.arrange import arrange
    from engine.musicvae import for_worker
    from engine.render import RELEASE_S, Renderer
    from engine.subspace import load as load_subspace
    from runtime.redis_server import RedisServer
    from storage import connect
    from storage.store import BreedStore
    from worker.runner import Worker

    model = for_worker(settings.musicvae_config, settings.musicvae_checkpoint)  # as `breeder worker` runs it
    renderer = Renderer(settings.soundfont, mode=settings.render_mode, cache_mb=settings.render_cache_mb,
                        warm_s=settings.render_warm_s)
    renderer.check()
    subspace = load_subspace()
    population = args.population
    params = BreedParams(population=population)
    rng = np.random.default_rng(0)
    latents, history = _history(args.history, population, subspace, rng)
    levelled = renderer.render_samples([arrange(melody, params.backing, params.tempo, params.instrument,
                                                model.steps).midi for melody in model.decode(latents)])
    fitness = np.array([2, 0, 1, 0, 3, 0, 0, 1][:population] + [0] * max(0, population - 8))
    ids = [str(i) for i in range(population)]
    model.decode(latents)  # warm-up
    renderer.render_clips(model.decode(latents), params.tempo, params.instrument)
    print(f"SoundFont: {renderer.soundfont}; render mode {renderer.mode}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores (a shared machine makes every figure noisy)")

    backing = params.backing  # the product's default backing plays under every clip
    stages: dict[str, list[float]] = {f"ga (gen {args.history})": [], "decode": [], f"backing ({backing})": [],
                                      "audio (render+encode)": [], "piano roll": [], "synthesis alone": [],
                                      "encoding alone": []}
    misses = renderer.notes.misses
    hits = renderer.notes.hits
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        offspring = ga.evolve(latents, fitness, ids, sigma=0.5, foreign=1, rng=rng, history=history,
                              subspace=subspace)
        t1 = time.perf_counter()
        melodies = model.decode(offspring.latents)
        t2 = time.perf_counter()
        files = [arrange(melody, backing, params.tempo, params.instrument, model.steps).midi for melody in melodies]
        t3 = time.perf_counter()
        renderer.render_midis(files)
        t4 = time.perf_counter()
        pianoroll.generation_png(melodies, [str(i + 1) for i in range(population)])
        t5 = time.perf_counter()
        synth = renderer.synth()
        for data in files:
            synth.render(data, round((midi.read_midi(data).get_end_time() + RELEASE_S) * renderer.sample_rate))
        t6 = time.perf_counter()
        _encode_all(renderer, levelled)
        t7 = time.perf_counter()
        for name, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6),
                                 strict=True):
            stages[name].append(seconds)
    sounds = (renderer.notes.hits - hits) + (renderer.notes.misses - misses)
    print(f"Note cache: {renderer.notes.misses - misses} of {sounds} sounds rendered during the timed steps, "
          f"{len(renderer.notes)} sounds kept ({renderer.notes.nbytes / 2**20:.0f} MB)")

    with tempfile.TemporaryDirectory() as folder, RedisServer(Path(folder)) as server:
        store = BreedStore(connect(server.url))
        await store.streams.ensure_groups()
        worker = Worker(store, model, renderer, "bench", block_ms=100, subspace=load_subspace())
        firsts: list[float] = []
        for _ in range(3):  # a new breed on a warm worker: its start job until generation 1 is written
            breed = Breed(store.new_breed_id(), owner_id=0, params=params, front=Front.TERMINAL)
            await store.breeds.create(breed)
            t0 = time.perf_counter()
            await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
            for delivery in await store.streams.jobs.read_jobs("bench", count=1, block_ms=1000):
                await worker.handle(delivery)
            firsts.append(time.perf_counter() - t0)
        steps: list[float] = []
        writes: list[float] = []
        for number in range(args.repeats):
            votes = tuple(int(v) for v in rng.integers(0, 3, population))
            t0 = time.perf_counter()
            await store.streams.jobs.enqueue_job(EvolveJob(breed.breed_id, number, fitness=votes, sigma=0.5))
            for delivery in await store.streams.jobs.read_jobs("bench", count=1, block_ms=1000):
                await worker.handle(delivery)
            steps.append(time.perf_counter() - t0)
            generation = await store.breeds.get_generation(breed.breed_id, number + 1)
            assert generation is not None, "the worker wrote no generation"
            stored = await store.breeds.get_latents(breed.breed_id, number + 1)
            artifacts = {name: b"x" * 60_000 for name in generation.artifacts}
            probe = generation.__class__(**{**generation.__dict__, "number": 10_000 + number})
            t0 = time.perf_counter()
            await store.breeds.write_generation(probe, stored, artifacts)
            writes.append(time.perf_counter() - t0)
        await store.close()
        stages["redis write"] = writes
        throughput = {n: await asyncio.to_thread(_throughput, server.url, n, args) for n in (1, 2)}
        starts = [await asyncio.to_thread(_cold_start, server.url, i) for i in range(args.cold_starts)]

    print(f"One generation step, population {population}, median of {args.repeats}:")
    for name, samples in stages.items():
        print(f"  {name:<24} {_median(samples) * 1000:8.1f} ms")
    step_median = _median(steps)
    audio_floor = "encoding alone" if renderer.mode == "cache" else "synthesis alone"
    floor = _median([d + s for d, s in zip(stages["decode"], stages[audio_floor], strict=True)])
    encode_ms = _median(_encode_each(renderer, levelled * 3)) * 1000
    print(f"  {'whole step (worker job)':<24} {step_median * 1000:8.1f} ms")
    print(f"  {'floor (decode+' + audio_floor.split()[0] + ')':<24} {floor * 1000:8.1f} ms; "
          f"the whole step is {step_median / floor:.1f}x it")
    print(f"A new breed on a warm worker: its first generation written {_median(firsts):.3f} s after its start job "
          f"(median of {len(firsts)})")
    print(f"Encoding: {encode_ms:.1f} ms a clip on one core; {population} clips take "
          f"{_median(stages['encoding alone']) * 1000:.1f} ms on the renderer's pool, "
          f"{_median(stages['encoding alone']) / step_median * 100:.0f} % of the step")
    for n, rate in throughput.items():
        print(f"{args.breeds} breeds at once, {n} worker(s): {rate:.1f} steps per minute")
    cold_start = _median([wall for wall, _ in starts])
    print(f"Cold start of `breeder worker` to ready: {cold_start:.1f} s (median of {len(starts)}; "
          f"CPU {_median([cpu for _, cpu in starts]):.1f} s)")
    print(f"RESULT step_median_s={step_median:.3f} steps_per_min_1w={throughput[1]:.1f} "
          f"steps_per_min_2w={throughput[2]:.1f} ga_ms={_median(stages[f'ga (gen {args.history})']) * 1000:.1f} "
          f"audio_ms={_median(stages['audio (render+encode)']) * 1000:.1f} cold_start_s={cold_start:.1f} "
          f"floor_ms={floor * 1000:.1f} step_to_floor={step_median / floor:.1f} "
          f"synthesis_ms={_median(stages['synthesis alone']) * 1000:.1f} encode_ms_per_clip={encode_ms:.1f} "
          f"render_mode={renderer.mode} first_generation_s={_median(firsts):.3f}")
    return 0


def _encode_all(renderer, clips) -> None:
    """Encode levelled clips as the renderer does, on its pool: what remains of the audio with nothing to synthesise."""
    list(renderer._pool().map(renderer.encode, clips))


def _encode_each(renderer, clips) -> list[float]:
    """Seconds to encode each clip, one after the other on one core."""
    seconds = []
    for clip in clips:
        started = time.perf_counter()
        renderer.encode(clip)
        seconds.append(time.perf_counter() - started)
    return seconds


def _history(generations: int, population: int, subspace, rng: np.random.Generator):
    """A breed at `generations`: its latents and the (latents, votes) of every generation before, by the GA."""
    from engine import ga

    ids = [str(i) for i in range(population)]
    latents = ga.random_population(population, subspace.latent_size, rng)
    history: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(generations):
        votes = rng.integers(0, 3, population)
        votes[0] += 1  # never a generation without votes: that would re-roll
        offspring = ga.evolve(latents, votes, ids, sigma=0.5, foreign=1, rng=rng, history=history,
                              subspace=subspace)
        history.append((latents, votes))
        latents = offspring.latents
    return latents, history


def _cold_start(url: str, index: int) -> tuple[float, float]:
    """Seconds from starting `breeder worker` to its "waiting for jobs" line, and the CPU seconds it used."""
    from runtime.redis_server import free_port

    env = {**os.environ, "REDIS_URL": url, "LOG_LEVEL": "INFO", "METRICS_PORT": str(free_port())}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "worker", "--consumer", f"cold-{index}"],
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "waiting for jobs" in line:
                break
        else:
            raise RuntimeError(f"the worker exited ({process.wait()}) before it was ready")
        ready = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ready, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _throughput(url: str, workers: int, args: argparse.Namespace) -> float:
    """Steps per minute for `args.breeds` breeds evolving at once, served by `workers` processes."""
    import os

    from runtime.redis_server import free_port

    env = {**os.environ, "REDIS_URL": url, "LOG_LEVEL": "WARNING"}
    processes = [
        subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "worker", "--consumer", f"bench-{workers}-{i}"],
                         env={**env, "METRICS_PORT": str(free_port())})  # each its own /metrics
        for i in range(workers)
    ]
    try:
        return asyncio.run(_throughput_async(url, workers, args))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


async def _throughput_async(url: str, workers: int, args: argparse.Namespace) -> float:
    from domain.jobs import EvolveJob, StartJob
    from domain.model import Breed, BreedParams, Front
    from storage import connect
    from storage.store import BreedStore

    store = BreedStore(connect(url))
    params = BreedParams(population=args.population)
    breeds = [Breed(store.new_breed_id(), owner_id=0, params=params, front=Front.TERMINAL) for _ in range(args.breeds)]
    for breed in breeds:
        await store.breeds.create(breed)
        await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    await _wait_all(store, breeds, 0, timeout_s=300)  # warm-up: model loading and generation 0
    started = time.perf_counter()
    rng = np.random.default_rng(1)
    for number in range(args.rounds):
        for breed in breeds:
            votes = tuple(int(v) for v in rng.integers(0, 3, args.population))
            await store.streams.jobs.enqueue_job(EvolveJob(breed.breed_id, number, fitness=votes, sigma=0.5))
        await _wait_all(store, breeds, number + 1, timeout_s=600)
    elapsed = time.perf_counter() - started
    await store.close()
    return args.breeds * args.rounds / elapsed * 60


async def _wait_all(store, breeds, number: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = {breed.breed_id for breed in breeds}
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers did not finish generation {number + 1} of {len(pending)} breeds")
        for breed_id in list(pending):
            if await store.breeds.get_generation(breed_id, number) is not None:
                pending.discard(breed_id)
        await asyncio.sleep(0.05)
