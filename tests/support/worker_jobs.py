"""The worker's tests' set-ups: breeds in the store, jobs handed to a worker one by one, worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator

from domain.jobs import StartJob
from domain.model import Breed, BreedParams
from storage import codec
from storage.streams import JOBS, WORKERS_GROUP
from worker.runner import Worker


async def new_breed(store, **params) -> Breed:
    breed = Breed(store.new_breed_id(), owner_id=1, params=BreedParams(**params), created_at=time.time(),
                  front="discord")
    await store.breeds.create(breed)
    return breed


async def do_next_job(store, worker: Worker) -> None:
    deliveries = await store.streams.jobs.read_jobs(worker.consumer, count=1, block_ms=1000)
    assert deliveries, "no job was waiting"
    await worker.handle(deliveries[0])


async def events_of(store, breed_id: str) -> list[codec.Event]:
    deliveries = await store.streams.events.read_events("test-bot", count=100, block_ms=None, front="discord")
    return [d.payload for d in deliveries if d.payload is not None and d.payload.breed_id == breed_id]


async def pending_jobs(redis_client) -> int:
    return (await redis_client.xpending(JOBS, WORKERS_GROUP))["pending"]


async def started_breed(store, worker: Worker, **params) -> Breed:
    """A breed whose generation 0 is written."""
    breed = await new_breed(store, **params)
    await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))
    await do_next_job(store, worker)
    return breed


def worker_process(redis_url: str, consumer: str, **env: str) -> subprocess.Popen:
    """`breeder worker` as a process; its files go to a folder of its own (DATA_DIR), never the checkout's."""
    folder = tempfile.mkdtemp(prefix=f"worker-{consumer}-")
    environment = {**os.environ, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING", "DATA_DIR": folder, **env}
    return subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", "worker", "--consumer", consumer],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def real_worker(store, model, renderer) -> Worker:
    """The tests' real worker over `store` (the shipped model, FluidSynth, the subspace and the nudges)."""
    from engine.attributes import load as load_attributes
    from engine.subspace import load as load_subspace

    return Worker(store, model, renderer, "test-worker", job_timeout_s=30.0, block_ms=100,
                  subspace=load_subspace(), attributes=load_attributes())


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    """`worker.run` as a task, stopped (and awaited, bounded) afterwards."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
