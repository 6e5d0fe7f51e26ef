"""Leaving a server forgets it: its gallery, its breeds and who took part (votes, nudges), when the bot
is removed and when the server's admins ask with /breed forget-server; other servers keep theirs."""

from __future__ import annotations

import discord
import pytest

from bot import texts
from bot.voting import NUMBER_EMOJI
from domain.ids import melody_id
from domain.model import Breed
from storage import keys
from tests.bot.flows import start_breed, vote_message
from tests.bot.simulation import GUILD_ID, World, answer_of
from tests.support.bot import finish_with

pytestmark = pytest.mark.slow

OTHER_GUILD_ID = GUILD_ID + 7


async def keys_of(world: World, breed: Breed) -> list[bytes]:
    """Every key of a breed: its record, generations, files, votes, nudges, markers."""
    return [key async for key in world.store.redis.scan_iter(match=f"{keys.breed_prefix(breed.breed_id)}*")]


async def server_with_a_winner(world: World) -> tuple[discord.Guild, Breed]:
    """A second server where the bot runs, with a finished breed in its gallery."""
    other = world.env.create_guild("Other Club", id=OTHER_GUILD_ID)
    channel = other.create_text_channel("tunes")
    member = other.add_member(world.env.create_user("zed"))
    world.other_guilds.append(other)
    await world.bot.sync_commands(other.id)
    await world.env.settle()
    breed = await start_breed(world, channel=channel, starter=member)
    await finish_with(world, breed, 1, by=member)
    return other, breed


async def breeds_here(world: World) -> tuple[Breed, Breed]:
    """In the test server: a finished breed in the gallery, and an open one with a vote and a nudge."""
    finished = await start_breed(world)
    await world.voters[0].react(vote_message(world, finished, 0), NUMBER_EMOJI[1])
    await finish_with(world, finished, 2)
    running = await start_breed(world)
    await world.voters[1].react(vote_message(world, running, 0), NUMBER_EMOJI[0])
    await world.voters[2].slash(world.thread_of(running), "breed nudge", attribute="density", amount=1.0)
    assert await world.store.votes.voters(running.breed_id, 0) == {world.voters[1].id}
    return finished, running


async def test_when_the_bot_leaves_a_server_its_gallery_breeds_and_votes_are_forgotten(world: World, worker) -> None:
    other, kept = await server_with_a_winner(world)
    finished, running = await breeds_here(world)
    winner = melody_id(finished.breed_id, 0, 1)
    assert [kept.melody_id for kept in await world.store.gallery.winners(GUILD_ID, 0, 10)] == [winner]

    guild = world.bot.get_guild(GUILD_ID)
    assert guild is not None
    await guild.leave()

    async def forgotten() -> bool:
        return await world.store.gallery.size(GUILD_ID) == 0 and not await keys_of(world, running)

    await world.wait_for(forgotten, "the server's data forgotten")
    for breed in (finished, running):
        assert await world.store.breeds.get(breed.breed_id) is None and await keys_of(world, breed) == []
    assert await world.store.gallery.winner(winner) is None
    assert running.breed_id not in {breed.breed_id for breed in await world.store.breeds.open_breeds()}
    assert await world.store.breeds.for_thread(running.thread_id) is None
    # The other server keeps its gallery and its breed.
    assert await world.store.gallery.size(other.id) == 1
    assert await world.store.breeds.get(kept.breed_id) is not None
    assert (await world.store.gallery.winners(other.id, 0, 10))[0].breed_id == kept.breed_id


async def test_forget_server_needs_manage_server_and_the_servers_name_then_forgets_it(
    world: World, worker
) -> None:
    other, kept = await server_with_a_winner(world)
    finished, running = await breeds_here(world)
    admins = world.guild.create_role("Admins", permissions=discord.Permissions(manage_guild=True))
    admin = world.guild.add_member(world.env.create_user("ann"), roles=[admins])
    await world.env.settle()

    refused = await world.moderator.slash(world.channel, "breed forget-server", confirm="Melody Club")
    assert answer_of(refused) == "Only members with Manage Server can make me forget this server."
    assert len(world.refusals()) == 1
    for confirm in ({}, {"confirm": "melody club"}):
        asked = await admin.slash(world.channel, "breed forget-server", **confirm)
        assert answer_of(asked) == texts.forget_server_confirm_text("Melody Club")
    assert await world.store.gallery.size(GUILD_ID) == 1 and await keys_of(world, running)

    done = await admin.slash(world.channel, "breed forget-server", confirm="Melody Club")

    assert done.ephemeral and answer_of(done) == texts.server_forgotten_text(1, 2)
    assert await world.store.gallery.size(GUILD_ID) == 0
    assert await keys_of(world, finished) == [] and await keys_of(world, running) == []
    assert await world.store.gallery.size(other.id) == 1 and await keys_of(world, kept)
    status = await world.starter.slash(world.thread_of(running), "breed status")
    assert answer_of(status) == "Use this command in a breed's thread, or give the breed's id."
    world.refusals()
