"""Secrets stay secret and servers stay apart: a whole run's logs hold neither the token nor the Redis
password, and one server's commands never reach another server's breed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.voting import NUMBER_EMOJI
from runtime.settings import BotSettings
from tests.bot.flows import jobs_of, start_breed, vote_message
from tests.bot.simulation import GUILD_ID, World, answer_of

pytestmark = pytest.mark.slow

TOKEN = "MTIz.token-that-must-not-leak.Zx9"
PASSWORD = "redis-password-that-must-not-leak-7Q"


@pytest.fixture
def redis_url(redis_server_factory) -> Iterator[str]:
    """This module's Redis wants a password: every client of the run (bot, worker, test) uses it."""
    server = redis_server_factory(password=PASSWORD)
    assert PASSWORD in server.url
    yield server.url


@pytest.fixture
def bot_settings(tmp_path: Path) -> BotSettings:
    return BotSettings(
        _env_file=None, discord_token=TOKEN, sync_commands=True, dev_guild_id=None, population=3, foreign=1,
        data_dir=tmp_path, max_open_breeds_per_server=100, max_open_breeds_per_member=100, start_cooldown_s=0,
        morph_cooldown_s=0,
    )


async def test_a_whole_run_logs_neither_the_token_nor_the_redis_password(
    world: World, worker, caplog: pytest.LogCaptureFixture, redis_server_factory
) -> None:
    caplog.set_level(logging.DEBUG)
    breed = await start_breed(world)
    await world.voters[0].react(vote_message(world, breed, 0), NUMBER_EMOJI[1])
    await world.starter.click(vote_message(world, breed, 0), label="Next")
    breed = await world.wait_for_status(breed.breed_id, "voting", 1)
    await world.starter.slash(world.thread_of(breed), "breed finish", candidate=2)
    await world.wait_for_status(breed.breed_id, "finished")
    assert "winner 1 posted" in caplog.text and len(caplog.records) > 20  # the run was logged
    assert TOKEN not in caplog.text and PASSWORD not in caplog.text
    assert TOKEN not in repr(world.settings) and PASSWORD not in str(world.settings.model_dump())


async def test_another_servers_commands_never_reach_a_breed(world: World, worker) -> None:
    breed = await start_breed(world)
    other_guild = world.env.create_guild("Elsewhere", id=GUILD_ID + 1)
    other_channel = other_guild.create_text_channel("tunes")
    stranger = other_guild.add_member(world.env.create_user("eve"))
    await world.env.settle()
    refused = f"There is no breed `{breed.breed_id}`."
    for command, options in (("breed status", {}), ("breed next", {}), ("breed finish", {"candidate": 1}),
                             ("breed stop", {}), ("breed mutation", {"sigma": 0.1}),
                             ("breed morph", {"start": 1, "end": 2})):
        result = await stranger.slash(other_channel, command, breed=breed.breed_id, **options)
        assert result.ephemeral and answer_of(result) == refused, command
        assert world.refusals() == [refused]
    assert await world.store.breeds.get(breed.breed_id) == breed
    assert await jobs_of(world, breed.breed_id, "evolve") == await jobs_of(world, breed.breed_id, "morph") == []
