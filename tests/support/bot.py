"""Reading the bot's posts on simulated Discord, and finishing a breed there, for the bot's tests."""

from __future__ import annotations

import discord

from domain.model import Breed
from tests.bot.simulation import World


def names(message: discord.Message) -> list[str]:
    return [a.filename for a in message.attachments]


def bot_posts(world: World, where, prefix: str) -> list[discord.Message]:
    return [m for m in where.history() if m.author.bot and m.content.startswith(prefix)]


async def finish_with(world: World, breed: Breed, candidate: int, by=None) -> discord.Message:
    """/breed finish with a named candidate (1-based) by the starter; returns the winner's post once it is there."""
    thread = world.thread_of(breed)
    await (by or world.starter).slash(thread, "breed finish", candidate=candidate)
    await world.wait_for_status(breed.breed_id, "finished")
    [post] = bot_posts(world, thread, "🏆 The winner")
    return post
