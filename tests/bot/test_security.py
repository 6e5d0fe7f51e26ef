"""Secrets stay secret and servers stay apart: a whole run's logs hold neither the token nor the Redis
password, one server's commands and buttons never reach another server's breed, rights count in the
breed's thread, replays are spaced, and no text option is longer than the command declares."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import discord
import pytest
import simcord
from discord import app_commands

from bot.cogs.breed import BreedCommands
from bot.errors import MAX_TEXT_OPTION
from bot.views import breed_controls
from bot.voting import NUMBER_EMOJI
from domain.ids import melody_id
from domain.rules import STEER_REFUSAL
from runtime.settings import BotSettings
from tests.bot.flows import jobs_of, start_breed, vote_message
from tests.bot.simulation import GUILD_ID, NO_COOLDOWNS, World, answer_of
from tests.support.bot import bot_posts, finish_with

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
        data_dir=tmp_path, max_open_breeds_per_server=100, max_open_breeds_per_member=100,
        **NO_COOLDOWNS,
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


async def test_manage_messages_counts_in_the_breeds_thread_not_where_the_command_is_typed(
    world: World, worker
) -> None:
    breed = await start_breed(world)
    cy, mo = world.voters[1], world.moderator
    # A channel where cy manages messages and the moderators do not: the breed's thread is elsewhere.
    moderators = next(role for role in world.guild.roles.values() if role.name == "Moderators")
    lounge = world.guild.create_text_channel("lounge", overwrites={
        cy: discord.PermissionOverwrite(manage_messages=True),
        moderators: discord.PermissionOverwrite(manage_messages=False),
    })
    await world.env.settle()

    for command, options in (("breed next", {}), ("breed mutation", {"sigma": 0.1}), ("breed stop", {}),
                             ("breed finish", {"candidate": 1})):
        refused = await cy.slash(lounge, command, breed=breed.breed_id, **options)
        assert answer_of(refused) == STEER_REFUSAL, command
    assert world.refusals() == [STEER_REFUSAL] * 4
    assert await world.store.breeds.get(breed.breed_id) == breed

    closed = await mo.slash(lounge, "breed next", breed=breed.breed_id)
    assert answer_of(closed).startswith("Voting on generation 1 closed")
    await world.wait_for_status(breed.breed_id, "voting", 1)


async def test_buttons_pressed_in_another_server_find_no_breed(world: World, worker) -> None:
    breed = await start_breed(world)
    other_guild = world.env.create_guild("Elsewhere", id=GUILD_ID + 1)
    other_channel = other_guild.create_text_channel("tunes")
    admins = other_guild.create_role("Admins", permissions=discord.Permissions(manage_messages=True))
    stranger = other_guild.add_member(world.env.create_user("eve"), roles=[admins])
    await world.env.settle()
    # A message in the other server that carries this breed's buttons (their custom ids name the breed).
    channel = world.bot.get_channel(other_channel.id)
    assert isinstance(channel, discord.TextChannel)
    forged = await channel.send("controls", view=breed_controls(breed.breed_id))
    await world.env.settle()

    refused = f"There is no breed `{breed.breed_id}`."
    for label in ("Next", "Finish"):
        result = await stranger.click(forged, label=label)
        assert result.ephemeral and answer_of(result) == refused, label
    nudged = await stranger.select(forged, ["density:1"])
    assert answer_of(nudged) == refused
    assert await world.store.breeds.get(breed.breed_id) == breed
    assert await jobs_of(world, breed.breed_id, "evolve") == await jobs_of(world, breed.breed_id, "finish") == []
    assert await world.store.nudges.read(breed.breed_id, 0) == []
    # In its own server the same buttons still work.
    await world.starter.click(vote_message(world, breed, 0), label="Next")
    await world.wait_for_status(breed.breed_id, "voting", 1)


async def test_a_member_waits_between_two_replays_and_a_failed_one_costs_no_wait(world: World, worker) -> None:
    breed = await start_breed(world)
    await finish_with(world, breed, 1)
    winner_id = melody_id(breed.breed_id, 0, 0)
    service = world.bot.service
    service.spacing.limits = dataclasses.replace(service.spacing.limits, play_cooldown_s=600)
    bea = world.voters[0]
    mute = discord.PermissionOverwrite(send_messages=False, attach_files=False)
    locked = world.guild.create_text_channel("quiet", overwrites={world.env.bot.user: mute})

    cannot_post = await bea.slash(locked, "breed play", melody=winner_id)  # refused by Discord: no wait
    played = await bea.slash(world.channel, "breed play", melody=winner_id)
    again = await bea.slash(world.channel, "breed play", melody=winner_id)

    assert answer_of(cannot_post).startswith("I cannot post here")
    assert answer_of(played) == f"`{winner_id}` posted."
    assert answer_of(again).startswith("Slow down: you can ask for another replay in ")
    assert len(world.refusals()) == 2
    assert len(bot_posts(world, world.channel, "🎵")) == 1
    other = await world.voters[1].slash(world.channel, "breed play", melody=winner_id)
    assert answer_of(other) == f"`{winner_id}` posted."


def _text_options(command: app_commands.Command | app_commands.Group) -> list[tuple[str, app_commands.Parameter]]:
    if isinstance(command, app_commands.Group):
        return [found for sub in command.commands for found in _text_options(sub)]
    return [(command.qualified_name, parameter) for parameter in command.parameters
            if parameter.type is discord.AppCommandOptionType.string and not parameter.choices]


async def test_every_text_option_declares_its_longest_value_and_a_longer_one_gets_one_line(world: World) -> None:
    cog = world.bot.get_cog(BreedCommands.__cog_name__)
    assert cog is not None
    ours = [found for command in cog.walk_app_commands() for found in _text_options(command)
            if isinstance(command, app_commands.Command)]
    assert {name for name, _ in ours} >= {"breed start", "breed next", "breed play", "breed compose",
                                          "breed tune", "breed forget-server"}
    assert all(parameter.max_value is not None and parameter.max_value <= 600 for _, parameter in ours), [
        (name, parameter.name) for name, parameter in ours if parameter.max_value is None]
    # Whatever a client sends, a 2,000-character option is refused before it reaches a command, in one line.
    long_text = "x" * 2000
    every = [found for command in world.bot.tree.get_commands() for found in _text_options(command)]
    for name, parameter in every:
        try:
            result = await world.starter.slash(world.channel, name, **{parameter.display_name: long_text})
        except simcord.OptionError:
            continue  # declared: Discord's client refuses it
        most = parameter.max_value or MAX_TEXT_OPTION
        option = parameter.display_name
        assert answer_of(result) == f"`{option}` is too long (2000 characters): it takes at most {most}."
        world.refusals()
    assert await world.store.breeds.open_breeds() == []
