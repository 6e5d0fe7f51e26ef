"""Fixtures of the bot tests: the bot on SimCord, over the session's real Redis, with a real worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import discord
import pytest
import simcord
from redis.asyncio import Redis

from runtime.settings import BotSettings
from storage import BreedStore
from storage.client import CONNECT_TIMEOUT_S
from tests.bot.simulation import GUILD_ID, NO_COOLDOWNS, World, make_bot, simulated_discord

if TYPE_CHECKING:
    pass


@pytest.fixture
def bot_settings(tmp_path: Path) -> BotSettings:
    """Small breeds (4 candidates), 3-minute votes, commands synced to the test guild, no flood limits
    (the tests of the limits set their own)."""
    return BotSettings(
        _env_file=None, discord_token="simcord-has-no-token", sync_commands=True, dev_guild_id=GUILD_ID,
        population=4, foreign=1, mutation_sigma=0.5, vote_minutes=3.0, data_dir=tmp_path,
        max_open_breeds_per_server=100, max_open_breeds_per_member=100, **NO_COOLDOWNS,
    )


@pytest.fixture(autouse=True)
def redis_without_read_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot's Redis client as storage.client documents it: no socket read timeout.

    redis-py 8 defaults to a 5 s read timeout, which storage.connect does not switch off. Under
    SimCord's virtual clock that timer fires whenever a test advances time past it during the
    events loop's blocking read, so the bot would see spurious timeouts no real run has.
    """
    def connect(url: str) -> Redis:
        return Redis.from_url(url, decode_responses=False, socket_timeout=None,
                              socket_connect_timeout=CONNECT_TIMEOUT_S, health_check_interval=30)

    monkeypatch.setattr("service.connection.connect", connect)


@pytest.fixture
async def simcord_env(redis_url: str, store: BreedStore, bot_settings: BotSettings) -> AsyncIterator[simcord.Env]:
    """SimCord running the bot; a fixture of its own so that SimCord's pytest plugin sees it."""
    env = simulated_discord(make_bot(bot_settings, redis_url))
    await env.start()
    try:
        yield env
    finally:
        await env.bot.stop_events()
        await env.shutdown()
        # Closed only now: the events loop of the bot blocks on this connection until shutdown.
        await env.bot.service.close()


@pytest.fixture
async def world(
    simcord_env: simcord.Env, redis_url: str, store: BreedStore, bot_settings: BotSettings
) -> AsyncIterator[World]:
    """The bot in a SimCord guild: a starter, three voters, a moderator and another bot."""
    env = simcord_env
    guild = env.create_guild("Melody Club", id=GUILD_ID)
    channel = guild.create_text_channel("melodies")
    moderators = guild.create_role("Moderators", permissions=discord.Permissions(manage_messages=True))
    world = World(
        env=env, settings=bot_settings, redis_url=redis_url, store=store, guild=guild, channel=channel,
        starter=guild.add_member(env.create_user("ada")),
        voters=[guild.add_member(env.create_user(name)) for name in ("bea", "cy", "dot")],
        moderator=guild.add_member(env.create_user("mo"), roles=[moderators]),
        other_bot=guild.add_member(env.create_user("otherbot", bot=True)),
        bots=[env.bot],
    )
    await env.settle()
    yield world
    unexpected = world.new_errors()
    if unexpected:
        raise ExceptionGroup("the bot raised errors that no test looked at", unexpected)
