"""A post that failed half-way goes on from where it stopped: nothing is posted twice."""

from __future__ import annotations

import discord
import pytest

from tests.bot.simulation import World

pytestmark = pytest.mark.slow


async def test_a_generation_whose_reactions_failed_is_completed_not_posted_again(world: World, worker) -> None:
    no_reactions = discord.PermissionOverwrite(add_reactions=False)
    channel = world.guild.create_text_channel("no-reactions", overwrites={world.env.bot.user: no_reactions})
    await world.starter.slash(channel, "breed start", population=10)  # 11 files: clips in two messages
    [breed] = await world.store.breeds.open_breeds()

    def posts() -> list[discord.Message]:
        return [m for m in world.thread_of(breed).history() if m.author.bot and m.attachments]

    async def posted_without_reactions() -> bool:
        return any("**Generation 1**" in m.content for m in posts())

    await world.wait_for(posted_without_reactions, "the vote message, whose reactions fail")
    assert (await world.store.breeds.get(breed.breed_id)).status == "starting"
    # Someone gives the bot its permission back, and the bot restarts: the event comes again.
    world.env.backend.delete_overwrite(channel.id, world.env.bot.user.id)
    await world.restart()

    breed = await world.wait_for_status(breed.breed_id, "voting", 0)
    assert len(posts()) == 2  # the first clips and the vote message, once each
    [vote] = world.vote_messages(breed)
    assert vote.id == breed.progress_message_id and len(vote.reactions) == 10
