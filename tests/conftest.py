"""Shared fixtures: a real redis-server for the session, a clean client and store per test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from redis.asyncio import Redis

from engine.render import Renderer
from runtime.redis_server import RedisServer
from storage import BreedStore, connect
from tests.support.worker_jobs import real_worker
from worker.runner import Worker

if TYPE_CHECKING:
    from engine.musicvae import MelodyVAE

RedisServerFactory = Callable[..., RedisServer]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server (AOF on) on a free port in a temporary folder, for the whole session."""
    with RedisServer(tmp_path_factory.mktemp("redis"), appendonly=True) as server:
        yield server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the session server, emptied before the test."""
    client = connect(redis_url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def store(redis_client: Redis) -> BreedStore:
    """A BreedStore over the emptied session server, with its stream groups created."""
    breed_store = BreedStore(redis_client)
    await breed_store.streams.ensure_groups()
    return breed_store


@pytest.fixture
def media_folder(tmp_path: Path) -> Path:
    """Where a test's media store keeps its files (tests.support.media.folder_media)."""
    return tmp_path / "media"


@pytest.fixture
def redis_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServerFactory]:
    """Start extra servers: factory(data_dir=None, **RedisServer kwargs); all are stopped afterwards."""
    servers: list[RedisServer] = []

    def start(data_dir: Path | None = None, **kwargs: object) -> RedisServer:
        server = RedisServer(data_dir or tmp_path_factory.mktemp("redis-extra"), **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


# --- the real worker, for the tests of every front end ------------------------------------------


@pytest.fixture(scope="session")
def melody_model() -> MelodyVAE:
    """The shipped MusicVAE model as a worker loads it, in numpy (MUSICVAE_CHECKPOINT replaces it), once a session.

    The same as tests/engine's fixture.
    """
    from engine.musicvae import for_worker

    return for_worker("cat-mel_2bar_small", os.environ.get("MUSICVAE_CHECKPOINT") or None)


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    renderer = Renderer()
    renderer.check()
    return renderer


class RunningWorker:
    """The real worker as a task in the test's event loop, with its own Redis connection."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.start()

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.worker.run(self._stop), name="test worker")

    async def stop(self) -> None:
        """Let the job in hand finish, then stop taking jobs."""
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 60)
            self._task = None


@pytest.fixture
async def worker(
    redis_url: str, store: BreedStore, melody_model: MelodyVAE, renderer: Renderer
) -> AsyncIterator[RunningWorker]:
    """A real worker (model, renderer, Redis) running beside the bot."""
    worker_store = BreedStore(connect(redis_url))
    running = RunningWorker(real_worker(worker_store, melody_model, renderer))
    yield running
    await running.stop()
    await worker_store.close()
