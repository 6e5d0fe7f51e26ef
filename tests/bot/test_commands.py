"""The /breed commands and buttons on simulated Discord: permissions, refusals, options, scoping."""

from __future__ import annotations

import logging

import discord
import pytest
import simcord

from bot import texts
from bot.errors import UNEXPECTED
from bot.voting import NUMBER_EMOJI
from domain.model import Note
from domain.rules import STEER_REFUSAL as REFUSAL
from engine.midi import melody_to_midi
from storage import keys
from storage.streams import JOBS
from tests.bot.flows import has_buttons, jobs_of, start_breed, vote_message
from tests.bot.simulation import DEFERRED_EPHEMERAL, World, answer_of, make_bot, simulated_discord

pytestmark = pytest.mark.slow

TUNE = [Note(60, 0, 4), Note(62, 4, 8), Note(64, 8, 12), Note(67, 12, 16), Note(72, 16, 24)]


async def nothing_written(world: World) -> None:
    """No breed, no job, no upload in Redis; no message and no thread on Discord."""
    assert await world.store.breeds.open_breeds() == []
    assert await world.store.redis.xlen(JOBS) == 0
    assert await world.store.redis.keys(f"{keys.PREFIX}upload:*") == []
    assert world.channel.history() == [] and world.threads() == []


# --- who may steer a breed ----------------------------------------------------------------


@pytest.mark.parametrize("button", ["Next", "Finish"])
async def test_someone_else_pressing_a_button_is_refused_privately_and_nothing_changes(
    world: World, worker, button: str
) -> None:
    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    await world.voters[1].react(first, NUMBER_EMOJI[0])

    result = await world.voters[0].click(first, label=button)

    assert result.ephemeral and answer_of(result) == REFUSAL
    assert await world.store.breeds.get(breed.breed_id) == breed
    assert await jobs_of(world, breed.breed_id, "evolve") == await jobs_of(world, breed.breed_id, "finish") == []
    assert has_buttons(vote_message(world, breed, 0))


@pytest.mark.parametrize("command, options", [("breed stop", {}), ("breed mutation", {"sigma": 0.1}),
                                              ("breed next", {}), ("breed finish", {"candidate": 1})])
async def test_someone_else_using_a_steering_command_is_refused_privately(
    world: World, worker, command: str, options: dict[str, object]
) -> None:
    breed = await start_breed(world)

    result = await world.voters[0].slash(world.thread_of(breed), command, **options)

    assert result.ephemeral and answer_of(result) == REFUSAL
    assert world.refusals() == [REFUSAL]
    assert await world.store.breeds.get(breed.breed_id) == breed


async def test_a_member_with_manage_messages_may_press_next_on_someone_elses_breed(world: World, worker) -> None:
    breed = await start_breed(world)

    result = await world.moderator.click(vote_message(world, breed, 0), label="Next")

    assert answer_of(result).startswith("Voting on generation 1 closed.")
    assert len(await jobs_of(world, breed.breed_id, "evolve")) == 1


# --- options ---------------------------------------------------------------------------------


def no_notes_midi() -> bytes:
    return melody_to_midi([], 120, 0)


@pytest.mark.parametrize("options, refusal", [
    ({"population": 3, "foreign": 3}, "Cannot start: foreign count must be at least 0 and below the population."),
    ({"melody": ("tune.txt", b"60 62 64")}, "`tune.txt` is not a MIDI file: attach a .mid file."),
    ({"melody": ("huge.mid", b"MThd" + bytes(1024 * 1024))}, "a seed MIDI file may be 1 MiB at most."),
    ({"melody": ("broken.mid", b"MThd\x00\x00\x00\x06\x00\x01")}, "`broken.mid` cannot be used: the MIDI file is"),
    ({"melody": ("silence.mid", no_notes_midi())}, "`silence.mid` cannot be used: the MIDI file has no notes"),
])
async def test_bad_start_options_are_refused_privately_with_nothing_written(
    world: World, options: dict[str, object], refusal: str
) -> None:
    mark = world.mark()
    result = await world.starter.slash(world.channel, "breed start", **options)

    assert world.callbacks_since(mark) == [DEFERRED_EPHEMERAL]
    assert result.ephemeral and refusal in answer_of(result)
    assert "\n" not in answer_of(result)
    assert [refusal in message for message in world.refusals()] == [True]
    await nothing_written(world)


async def test_without_permission_to_make_threads_start_says_what_is_missing_and_leaves_nothing(
    world: World
) -> None:
    no_threads = discord.PermissionOverwrite(create_public_threads=False)
    locked = world.guild.create_text_channel("no-threads", overwrites={world.env.bot.user: no_threads})

    result = await world.starter.slash(locked, "breed start")

    assert "Create Public Threads" in answer_of(result) and result.ephemeral
    assert len(world.refusals()) == 1
    assert locked.history() == [] and locked.threads == []
    assert await world.store.breeds.open_breeds() == [] and await world.store.redis.xlen(JOBS) == 0


@pytest.mark.parametrize("option, value", [("population", 11), ("population", 1), ("mutation", 1.5),
                                           ("vote_minutes", 0.0), ("tempo", 300), ("foreign", -1)])
async def test_out_of_range_options_are_declared_to_discord_so_the_client_refuses_them(
    world: World, option: str, value: object
) -> None:
    with pytest.raises(simcord.OptionError):
        await world.starter.slash(world.channel, "breed start", **{option: value})
    await nothing_written(world)


async def test_starting_inside_a_thread_is_refused(world: World, worker) -> None:
    breed = await start_breed(world)

    result = await world.voters[0].slash(world.thread_of(breed), "breed start")

    assert answer_of(result).startswith("Start a breed in a server's text channel")
    assert world.refusals() and len(await world.store.breeds.open_breeds()) == 1


async def test_start_takes_its_options_and_a_midi_file_with_a_melody_to_start_from(world: World, worker) -> None:
    tune = melody_to_midi(TUNE, 100, 0)
    breed = await start_breed(world, population=5, mutation=0.25, foreign=2, vote_minutes=10.0, tempo=90,
                              instrument=73, melody=("my tune.mid", tune), strategy="elitist")

    params = breed.params
    assert (params.population, params.sigma, params.foreign, params.vote_minutes, params.tempo,
            params.instrument, params.strategy) == (5, 0.25, 2, 10.0, 90, 73, "elitist")
    [start] = await jobs_of(world, breed.breed_id, "start")
    assert start.seed_midi_key is not None and await world.store.breeds.load_upload(start.seed_midi_key) == tune
    first = await world.store.breeds.get_generation(breed.breed_id, 0)
    assert first.candidates[0].operators == ("seed",) and len(first.candidates) == 5
    assert "my tune.mid" in world.channel.history()[0].content
    assert len(vote_message(world, breed, 0).reactions) == 5


# --- one breed per thread ----------------------------------------------------------------------


async def test_commands_in_a_thread_act_on_that_threads_breed_among_several(world: World, worker) -> None:
    other_channel = world.guild.create_text_channel("more-melodies")
    first = await start_breed(world)
    second = await start_breed(world, channel=other_channel, starter=world.voters[0])

    result = await world.voters[0].slash(world.thread_of(second), "breed mutation", sigma=0.2)
    assert answer_of(result) == texts.sigma_answer(second.breed_id, 0.2)
    assert (await world.store.breeds.get(second.breed_id)).params.sigma == 0.2
    assert (await world.store.breeds.get(first.breed_id)).params.sigma == 0.5

    status = answer_of(await world.voters[1].slash(world.thread_of(first), "breed status"))
    assert status.startswith(f"Breed `{first.breed_id}`")

    outside = await world.starter.slash(world.channel, "breed next")
    assert answer_of(outside) == "Use this command in a breed's thread, or give the breed's id."
    assert len(world.refusals()) == 1
    named = await world.starter.slash(world.channel, "breed next", breed=first.breed_id)
    assert answer_of(named).startswith("Voting on generation 1 closed.")
    assert len(await jobs_of(world, first.breed_id, "evolve")) == 1
    assert await jobs_of(world, second.breed_id, "evolve") == []
    await world.wait_for_status(first.breed_id, "voting", 1)


async def test_status_shows_the_generation_the_deadline_and_the_votes_so_far(world: World, worker) -> None:
    breed = await start_breed(world)
    await world.voters[0].react(vote_message(world, breed, 0), NUMBER_EMOJI[1])

    result = await world.voters[2].slash(world.thread_of(breed), "breed status")

    assert result.ephemeral
    assert f"voting on generation 1, closes <t:{int(breed.vote_deadline)}:R>; votes: 2️⃣ 1" in answer_of(result)


async def test_stop_ends_the_breed_its_buttons_and_its_deadline(world: World, worker) -> None:
    breed = await start_breed(world)

    result = await world.starter.slash(world.thread_of(breed), "breed stop")

    assert answer_of(result) == texts.stopped_answer(breed.breed_id)
    assert (await world.store.breeds.get(breed.breed_id)).status == "stopped"
    assert not has_buttons(vote_message(world, breed, 0))
    assert not world.bot.controller.router.armed(breed.breed_id)
    later = await world.starter.slash(world.thread_of(breed), "breed next")
    assert answer_of(later) == "This breed was stopped."
    assert world.refusals() == ["This breed was stopped."]


async def test_finish_with_a_named_candidate_posts_that_candidates_files(world: World, worker) -> None:
    breed = await start_breed(world)

    result = await world.starter.slash(world.thread_of(breed), "breed finish", candidate=4)

    assert answer_of(result).startswith("Finishing with candidate 4")
    breed = await world.wait_for_status(breed.breed_id, "finished")
    assert breed.winner == 3
    assert [a.filename for a in world.thread_of(breed).history()[-1].attachments] == [
        "winner.mid", "winner.ogg", "winner.png", "lineage.png", "tune.mid", "tune.ogg", "tune.png"]


async def test_finish_without_votes_or_a_candidate_asks_for_one(world: World, worker) -> None:
    breed = await start_breed(world)

    result = await world.starter.click(vote_message(world, breed, 0), label="Finish")

    assert answer_of(result).startswith("Nobody has voted yet")
    assert (await world.store.breeds.get(breed.breed_id)).status == "voting"


# --- syncing ---------------------------------------------------------------------------------


async def test_commands_are_not_synced_to_discord_unless_the_setting_says_so(redis_url, store, bot_settings) -> None:
    quiet = bot_settings.model_copy(update={"sync_commands": False})
    bot = make_bot(quiet, redis_url)
    env = simulated_discord(bot)
    await env.start()
    try:
        env.create_guild(id=bot_settings.dev_guild_id)
        channel = env.guild.create_text_channel("melodies")
        member = env.guild.add_member(env.create_user("ada"))
        assert member.available_commands(channel) == ()
        assert not [r for r in env.http_requests if "/commands" in r.path]
    finally:
        await bot.stop_events()
        await env.shutdown()
        await bot.service.close()


async def test_with_the_setting_the_commands_are_synced_to_the_dev_guild(world: World) -> None:
    assert set(world.starter.available_commands(world.channel)) == {
        "breed start", "breed next", "breed mutation", "breed finish", "breed morph", "breed status", "breed stop",
        "breed tree", "breed gallery", "breed play", "breed remove", "breed compose", "breed tune", "breed nudge",
        "breed listen", "breed forget-server"}


# --- answering -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["status", "mutation", "next", "finish", "morph", "stop", "Next button",
                                    "Finish button", "refused Next button"])
async def test_every_command_and_button_defers_privately_before_anything_else(
    world: World, worker, action: str, caplog: pytest.LogCaptureFixture
) -> None:
    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    await world.voters[0].react(first, NUMBER_EMOJI[0])
    thread = world.thread_of(breed)
    mark = world.mark()

    if action.endswith("button"):
        presser = world.voters[1] if action.startswith("refused") else world.starter
        result = await presser.click(first, label=action.split()[-2])
    else:
        options = {"mutation": {"sigma": 0.3}, "morph": {"start": 1, "end": 2}}.get(action, {})
        result = await world.starter.slash(thread, f"breed {action}", **options)

    assert world.callbacks_since(mark)[0] == DEFERRED_EPHEMERAL
    assert result.ephemeral and "\n" not in answer_of(result)
    # One line, and the right one: a handler that crashed would answer the apology in one line too.
    assert answer_of(result) != UNEXPECTED
    assert [r for r in caplog.records if r.name == "bot.errors" and r.levelno >= logging.ERROR] == []
    expected = {"status": "Breed `", "mutation": "Mutation σ of breed", "next": "Voting on generation 1 closed.",
                "finish": "Finishing with candidate 1", "morph": "", "stop": "Breed `",
                "Next button": "Voting on generation 1 closed.", "Finish button": "Finishing with candidate 1",
                "refused Next button": REFUSAL}[action]
    assert expected in answer_of(result)


async def test_when_discord_fails_midway_the_user_gets_one_line_and_the_breed_is_unchanged(
    world: World, worker, caplog: pytest.LogCaptureFixture
) -> None:
    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    world.env.inject_error("POST", "/channels/*/messages", status=500)

    result = await world.starter.slash(world.thread_of(breed), "breed next")

    assert answer_of(result) == "Something went wrong on my side; the details are in the bot's log."
    assert "interaction breed next by user" in caplog.text and "failed" in caplog.text
    assert len(world.new_errors()) == 1
    assert await world.store.breeds.get(breed.breed_id) == breed
    assert await jobs_of(world, breed.breed_id, "evolve") == []
    assert has_buttons(vote_message(world, breed, 0)) and first.content == vote_message(world, breed, 0).content
    again = await world.starter.click(first, label="Next")
    assert answer_of(again).startswith("Voting on generation 1 closed.")
