"""The service under faults: a lock that outlives its lease, concurrent starts, a job of a newer version."""

from __future__ import annotations

import asyncio

from domain.model import Breed
from domain.rules import Actor
from service.breeding import BreedingService
from storage import BreedStore
from tests.service.test_breeding import NOW, voting_breed

OWNER = Actor(1)


async def test_an_announce_that_outlasts_the_locks_lease_keeps_the_breed_locked(store: BreedStore) -> None:
    first, second = BreedingService(store, lambda: NOW), BreedingService(store, lambda: NOW)
    first.lock_lease_s = second.lock_lease_s = 0.3
    await voting_breed(first)
    order: list[str] = []

    async def slow_announce(breed: Breed, fitness: tuple[int, ...]) -> None:
        await asyncio.sleep(1.0)  # uploads under a rate limit: longer than the lease
        order.append("announced")

    async def stop_meanwhile() -> None:
        await asyncio.sleep(0.1)
        await second.stop("b1", OWNER)  # another process (its own in-process lock)
        order.append("stopped")

    await asyncio.gather(first.close_voting("b1", OWNER, announce=slow_announce), stop_meanwhile())
    assert order == ["announced", "stopped"]
    assert (await store.get_breed("b1")).status == "stopped"
