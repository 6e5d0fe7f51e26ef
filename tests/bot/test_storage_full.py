"""A full Redis (REDIS_MAXMEMORY reached, noeviction): every refused step says so in one line and leaves
nothing half-written, on Discord or in Redis."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import discord
import pytest
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError

from domain.model import Breed
from service.errors import STORAGE_FULL_TEXT
from storage.streams import JOBS
from tests.bot.flows import start_breed, vote_message
from tests.bot.simulation import World, answer_of

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_url(redis_server_factory) -> Iterator[str]:
    """This module's Redis may hold 16 MB: a test fills it up."""
    yield redis_server_factory(maxmemory="16mb", appendonly=False).url


async def fill(redis: Redis) -> None:
    """Fill Redis well past its maxmemory: until a write is refused, then, in room made by deleting a
    filler, one small command that makes a 4 MB value, so that memory stays over the bound however
    the server's buffers come and go."""
    with pytest.raises(OutOfMemoryError):
        for number in range(10_000):
            await redis.set(f"mb:test:filler:{number}", b"x" * 100_000)
    for spare in range(number):
        await redis.delete(f"mb:test:filler:{spare}")
        with contextlib.suppress(OutOfMemoryError):
            await redis.setrange("mb:test:over", 4_000_000, b"x")
            break
    with pytest.raises(OutOfMemoryError):
        await redis.set("mb:test:probe", b"1")


def storage_full_errors(world: World) -> int:
    """How many of the bot's new errors were writes refused for memory; fails on any other error."""
    errors = [getattr(error, "original", error) for error in world.new_errors()]
    assert all(isinstance(error, OutOfMemoryError) for error in errors), errors
    return len(errors)


async def test_when_redis_is_full_every_step_is_refused_in_one_line_and_nothing_changes(
    world: World, worker
) -> None:
    breed = await start_breed(world)
    await worker.stop()
    await fill(world.store.redis)
    jobs = await world.store.redis.xlen(JOBS)
    threads = len(world.threads())

    answers = [
        answer_of(await world.starter.slash(world.channel, "breed start")),
        answer_of(await world.starter.click(vote_message(world, breed, 0), label="Next")),
        answer_of(await world.starter.slash(world.thread_of(breed), "breed mutation", sigma=0.1)),
        answer_of(await world.starter.slash(world.thread_of(breed), "breed finish", candidate=1)),
    ]

    assert answers == [STORAGE_FULL_TEXT] * 4
    assert storage_full_errors(world) == 3  # the commands' (a button answers its own errors)
    assert await world.store.breeds.get(breed.breed_id) == breed
    assert len(await world.store.breeds.open_breeds()) == 1
    assert await world.store.redis.xlen(JOBS) == jobs and len(world.threads()) == threads


async def test_a_start_refused_for_memory_after_its_post_takes_its_post_and_thread_back(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = world.bot.service.store.breeds
    create = store.create

    async def create_once_full(breed: Breed, *args: object, **kwargs: object) -> None:
        await fill(world.store.redis)  # memory ran out between the post and the breed's record
        await create(breed, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "create", create_once_full)
    result = await world.starter.slash(world.channel, "breed start")

    assert answer_of(result) == STORAGE_FULL_TEXT and result.ephemeral
    assert storage_full_errors(world) == 1
    assert [m for m in world.channel.history() if m.type == discord.MessageType.default] == []
    assert world.threads() == []
    assert await world.store.breeds.open_breeds() == [] and await world.store.redis.xlen(JOBS) == 0
