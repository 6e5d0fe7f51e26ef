"""A full Redis (REDIS_MAXMEMORY reached, noeviction): every refused step says so in one line and leaves
nothing half-written, on Discord or in Redis."""

from __future__ import annotations

from collections.abc import Iterator

import discord
import pytest
from redis.exceptions import OutOfMemoryError

from domain.model import Breed
from service.errors import STORAGE_FULL_TEXT
from storage.streams import JOBS
from tests.bot.flows import start_breed, vote_message
from tests.bot.simulation import World, answer_of
from tests.support.storage_full import fill

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_url(redis_server_factory) -> Iterator[str]:
    """This module's Redis may hold 16 MB: a test fills it up."""
    yield redis_server_factory(maxmemory="16mb", appendonly=False).url


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
        await create(breed, *args, **kwargs)

    monkeypatch.setattr(store, "create", create_once_full)
    result = await world.starter.slash(world.channel, "breed start")

    assert answer_of(result) == STORAGE_FULL_TEXT and result.ephemeral
    assert storage_full_errors(world) == 1
    assert [m for m in world.channel.history() if m.type == discord.MessageType.default] == []
    assert world.threads() == []
    assert await world.store.breeds.open_breeds() == [] and await world.store.redis.xlen(JOBS) == 0


async def test_a_bot_started_over_a_full_store_comes_online_reads_and_refuses_writes_in_one_line(
    world: World, worker
) -> None:
    breed = await start_breed(world)
    await worker.stop()
    await fill(world.store.redis)

    await world.restart()
    status = await world.starter.slash(world.thread_of(breed), "breed status")
    start = await world.starter.slash(world.channel, "breed start")

    assert breed.breed_id in answer_of(status)
    assert answer_of(start) == STORAGE_FULL_TEXT
    assert storage_full_errors(world) == 1
