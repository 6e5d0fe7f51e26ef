"""A sharded bot (SHARD_COUNT/SHARD_IDS, discord.py's AutoShardedBot) runs breeds on every shard."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import texts
from bot.voting import NUMBER_EMOJI
from runtime.settings import BotSettings
from tests.bot.flows import start_breed, vote_message
from tests.bot.simulation import GUILD_ID, NO_COOLDOWNS, World, answer_of

pytestmark = pytest.mark.slow


@pytest.fixture
def bot_settings(tmp_path: Path) -> BotSettings:
    return BotSettings(
        _env_file=None, discord_token="simcord-has-no-token", sync_commands=True, population=3, foreign=1,
        data_dir=tmp_path, shard_count=2, max_open_breeds_per_server=100, max_open_breeds_per_member=100,
        **NO_COOLDOWNS,
    )


async def test_breeds_in_servers_on_different_shards_both_go_on(world: World, worker) -> None:
    assert world.bot.shard_count == 2 and sorted(world.bot.shards) == [0, 1]
    home_shard = (GUILD_ID >> 22) % 2
    other = world.env.create_guild("Other Shard", shard_id=1 - home_shard)
    world.other_guilds.append(other)
    channel = other.create_text_channel("tunes")
    member = other.add_member(world.env.create_user("zed"))
    await world.env.settle()

    here = await start_breed(world)
    there = await start_breed(world, channel=channel, starter=member)
    for breed, voter, starter in ((here, world.voters[0], world.starter), (there, member, member)):
        await voter.react(vote_message(world, breed, 0), NUMBER_EMOJI[1])
        answer = answer_of(await starter.click(vote_message(world, breed, 0), label="Next"))
        assert answer == texts.closed_answer(0, (0, 1, 0, 0))
    for breed, shard in ((here, home_shard), (there, 1 - home_shard)):
        await world.wait_for_status(breed.breed_id, "voting", 1)
        message = vote_message(world, breed, 1)
        assert message.guild is not None and message.guild.shard_id == shard
        assert [str(reaction.emoji) for reaction in message.reactions] == list(NUMBER_EMOJI[:3])
