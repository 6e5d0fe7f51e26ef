"""Limits that protect a server: open breeds per server and per member, cooldowns, each refusal one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import texts
from runtime.settings import BotSettings
from storage.streams import JOBS, WORKERS_GROUP
from tests.bot.flows import start_breed
from tests.bot.simulation import GUILD_ID, World, answer_of

pytestmark = pytest.mark.slow


@pytest.fixture
def bot_settings(tmp_path: Path) -> BotSettings:
    return BotSettings(
        _env_file=None, discord_token="simcord-has-no-token", sync_commands=True, dev_guild_id=GUILD_ID,
        population=3, foreign=1, vote_minutes=3.0, data_dir=tmp_path,
        max_open_breeds_per_server=3, max_open_breeds_per_member=2, start_cooldown_s=0, morph_cooldown_s=600,
    )


async def refused_start(world: World, member, expected: str) -> None:
    jobs_before = await world.store.redis.xlen(JOBS)
    threads_before = len(world.threads())
    result = await member.slash(world.channel, "breed start")
    assert result.ephemeral and answer_of(result) == expected
    assert world.refusals() == [expected]
    assert await world.store.redis.xlen(JOBS) == jobs_before and len(world.threads()) == threads_before


async def test_a_member_may_have_two_open_breeds_and_a_server_three(world: World, worker) -> None:
    first = await start_breed(world)
    await start_breed(world)
    await refused_start(world, world.starter, "You have 2 open breeds, the most one member may have at once: "
                                              "finish or stop one first.")
    await start_breed(world, starter=world.voters[0])
    await refused_start(world, world.voters[1], "This server has 3 open breeds, the most it may have at once: "
                                                "finish or stop one first.")
    stopped = await world.starter.slash(world.thread_of(first), "breed stop")
    assert answer_of(stopped) == texts.stopped_answer(first.breed_id)
    await start_breed(world, starter=world.voters[1])  # a stopped breed frees its place


async def test_a_member_waits_between_two_morphs_and_others_do_not(world: World, worker) -> None:
    breed = await start_breed(world)
    thread = world.thread_of(breed)
    first = await world.voters[0].slash(thread, "breed morph", start=1, end=2)
    assert first.ephemeral and "morph" in answer_of(first).lower()
    again = await world.voters[0].slash(thread, "breed morph", start=2, end=3)
    assert again.ephemeral and answer_of(again).startswith("Slow down: you can ask for another morph in ")
    assert world.refusals() == [answer_of(again)]
    other = await world.voters[1].slash(thread, "breed morph", start=2, end=3)
    assert not answer_of(other).startswith("Slow down")
    await world.wait_for(lambda: _morphs_done(world), "both morph jobs handled")


async def _morphs_done(world: World) -> bool:
    return (await world.store.redis.xpending(JOBS, WORKERS_GROUP))["pending"] == 0


async def test_a_start_cooldown_refuses_a_second_start_at_once(world: World, worker) -> None:
    world.bot.service.limits = world.bot.settings.model_copy(update={"start_cooldown_s": 600}).server_limits()
    await start_breed(world)
    result = await world.starter.slash(world.channel, "breed start")
    assert answer_of(result).startswith("Slow down: you can start another breed in ")
    assert world.refusals() == [answer_of(result)]
