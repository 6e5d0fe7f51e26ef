"""Shared fixtures: a real redis-server for the session, a clean client and store per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from runtime.redis_server import RedisServer
from storage import BreedStore, connect

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
    await breed_store.ensure_groups()
    return breed_store


@pytest.fixture
def redis_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServerFactory]:
    """Start extra servers: factory(data_dir=None, **RedisServer kwargs); all are stopped afterwards."""
    servers: list[RedisServer] = []

    def start(data_dir: Path | None = None, **kwargs: object) -> RedisServer:
        server = RedisServer(data_dir or tmp_path_factory.mktemp("redis-extra"), **kwargs)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()
