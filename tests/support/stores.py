"""The two stores the service runs on, Redis and in memory, for tests that run on either."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from storage import BreedStore
from storage.memory import ManualClock, MemoryStore
from tests.support.waiting import let_pass

AnyStore = BreedStore | MemoryStore
# Lets seconds pass for a store's expiries and idle times.
Advance = Callable[[float], Awaitable[None]]


def advance_for(store: AnyStore, clock: ManualClock) -> Advance:
    """Waits on Redis (whose clock is the server's); moves `clock`, the in-memory store's, on."""

    async def advance(seconds: float) -> None:
        if isinstance(store, MemoryStore):
            clock.advance(seconds)
        else:
            await let_pass(seconds)

    return advance


class StoreWith(Protocol):
    """Makes another store of the same kind (and the same data) with other settings (artifact_ttl_s, retention_s)."""

    def __call__(self, *, artifact_ttl_s: float = ..., retention_s: float = ...) -> AnyStore: ...


def store_with_for(store: AnyStore, clock: ManualClock) -> StoreWith:
    """Redis: another BreedStore on the same client; memory: a new, empty MemoryStore on `clock`."""

    def make(**settings: float) -> AnyStore:
        if isinstance(store, MemoryStore):
            return MemoryStore(clock, **settings)
        return BreedStore(store.redis, **settings)

    return make
