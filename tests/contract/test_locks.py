"""Locks and cooldowns: one holder at a time, a refusal after the wait, cooldowns that end by themselves
(both stores)."""

from __future__ import annotations

import asyncio

import pytest

from storage import LockTimeout
from tests.support.stores import Advance, AnyStore
from tests.support.waiting import wait_for


async def test_a_breed_lock_has_one_holder_and_the_next_gets_it_once_it_is_let_go(store: AnyStore) -> None:
    order: list[str] = []
    first_holds = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with store.locks.breed_lock("b1"):
            order.append("first in")
            first_holds.set()
            await release.wait()
            order.append("first out")

    async def second() -> None:
        await first_holds.wait()
        async with store.locks.breed_lock("b1"):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_holds.wait()
    async with store.locks.breed_lock("b2", wait_s=1):  # another breed's lock is free
        order.append("other breed")
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "other breed", "first out", "second in"]


async def test_a_lock_held_longer_than_the_wait_is_refused_and_free_again_once_let_go(store: AnyStore) -> None:
    async with store.locks.start_lock(9):
        with pytest.raises(LockTimeout, match="starts of 9"):
            async with store.locks.start_lock(9, wait_s=0.1):
                pass
        async with store.locks.start_lock("web", wait_s=1):
            pass
    async with store.locks.start_lock(9, wait_s=1):
        pass


async def test_a_lock_is_let_go_when_its_block_raises(store: AnyStore) -> None:
    with pytest.raises(RuntimeError):
        async with store.locks.breed_lock("b1"):
            raise RuntimeError("the transition failed")
    async with store.locks.breed_lock("b1", wait_s=1):
        pass


async def test_a_cooldown_tells_the_wait_left_and_ends_by_itself(store: AnyStore, advance: Advance) -> None:
    assert await store.locks.take_cooldown("start", 7, 0.2) == 0.0
    wait = await store.locks.take_cooldown("start", 7, 0.2)
    assert 0 < wait <= 0.2
    assert await store.locks.take_cooldown("morph", 7, 0.2) == 0.0  # another kind
    assert await store.locks.take_cooldown("start", "web-client", 0.2) == 0.0  # another member
    await advance(0.3)
    assert await store.locks.take_cooldown("start", 7, 0.2) == 0.0


async def test_a_cooldown_given_back_is_free_and_none_is_taken_for_zero_seconds(store: AnyStore) -> None:
    assert await store.locks.take_cooldown("start", 7, 60) == 0.0
    await store.locks.give_back_cooldown("start", 7)
    assert await store.locks.take_cooldown("start", 7, 60) == 0.0
    assert await store.locks.take_cooldown("tree", 7, 0) == 0.0
    assert await store.locks.take_cooldown("tree", 7, 0) == 0.0
    await store.locks.give_back_cooldown("never", 8)


async def test_many_waiting_for_one_lock_each_get_it_in_turn(store: AnyStore) -> None:
    inside = 0
    most = 0
    done = 0
    asked = 0

    async def hold() -> None:
        nonlocal inside, most, done, asked
        asked += 1
        async with store.locks.breed_lock("b1"):
            inside += 1
            most = max(most, inside)
            # Held until every holder has asked for it (their tries go on meanwhile): none of them may get in.
            await wait_for(lambda: asked == 5, what="every holder to ask for the lock")
            await store.locks.give_back_cooldown("probe", 0)  # and one more trip to the store while it is held
            inside -= 1
            done += 1

    tasks = [asyncio.create_task(hold()) for _ in range(5)]
    await wait_for(lambda: done == 5, what="every holder to have held the lock")
    await asyncio.gather(*tasks)
    assert most == 1
