"""Every contract test runs twice: on the Redis store (the session's real redis-server) and on the
in-memory one, which must behave the same (values back, errors, expiry, delivery)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from storage import BreedStore
from storage.memory import ManualClock, MemoryStore
from tests.support.stores import Advance, AnyStore, StoreWith, advance_for, store_with_for


@pytest.fixture
async def redis_store(redis_client: Redis) -> AnyStore:
    breed_store = BreedStore(redis_client)
    await breed_store.streams.ensure_groups()
    return breed_store


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def memory_store(clock: ManualClock) -> MemoryStore:
    memory = MemoryStore(clock)
    await memory.streams.ensure_groups()
    return memory


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest) -> AnyStore:
    """The store under contract: the Redis one, then the in-memory one."""
    found: AnyStore = request.getfixturevalue(f"{request.param}_store")
    return found


@pytest.fixture
def advance(store: AnyStore, clock: ManualClock) -> Advance:
    """Let `seconds` pass for the store's expiries and idle times: waited on Redis, moved on in memory."""
    return advance_for(store, clock)


@pytest.fixture
def store_with(store: AnyStore, clock: ManualClock) -> StoreWith:
    """Another store of the kind under contract, with other settings."""
    return store_with_for(store, clock)
