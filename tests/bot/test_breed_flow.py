"""Whole breeds on simulated Discord (SimCord) with the real worker, model, renderer and Redis."""

from __future__ import annotations

import re
from urllib.parse import unquote

import discord
import pytest

from bot import texts
from bot.voting import NUMBER_EMOJI
from engine.midi import midi_to_notes
from tests.bot.flows import jobs_of, start_breed, vote_message
from tests.bot.simulation import World, answer_of

pytestmark = pytest.mark.slow

THUMBS_UP = "👍"


def clip_names(message: discord.Message) -> list[str]:
    return [a.filename for a in message.attachments]


async def test_a_breed_goes_from_start_through_votes_and_next_to_a_finished_winner(world: World, worker) -> None:
    breed = await start_breed(world)
    population = breed.params.population
    assert (breed.owner_id, population) == (world.starter.id, 4)

    # Generation 1: numbered clips, the piano roll, the deadline, the buttons and the number reactions.
    first = vote_message(world, breed, 0)
    assert clip_names(first) == ["clip-1.ogg", "clip-2.ogg", "clip-3.ogg", "clip-4.ogg", "roll.png"]
    assert [a.content_type for a in first.attachments] == ["audio/ogg"] * 4 + ["image/png"]
    assert f"Voting closes <t:{int(breed.vote_deadline)}:R>." in first.content
    buttons = [(c.label, c.custom_id) for row in first.components for c in row.children
               if c.type == discord.ComponentType.button]
    assert buttons == [("Next", f"breed:next:{breed.breed_id}"), ("Finish", f"breed:finish:{breed.breed_id}")]
    reacted = [r.path.split("/reactions/")[1] for r in world.requests("PUT", f"/messages/{first.id}/reactions/")]
    assert [unquote(path.removesuffix("/@me")) for path in reacted] == list(NUMBER_EMOJI[:population])
    assert [str(r.emoji) for r in first.reactions] == list(NUMBER_EMOJI[:population])
    assert all(r.count == 1 for r in first.reactions)  # the bot's own reactions, which are no votes

    # Votes: two people for 2, one of them also for 4; a vote for 3 taken back; a bot's and a thumbs-up ignored.
    bea, cy, dot = world.voters
    await bea.react(first, NUMBER_EMOJI[1])
    await cy.react(first, NUMBER_EMOJI[1])
    await bea.react(first, NUMBER_EMOJI[3])
    await dot.react(first, NUMBER_EMOJI[2])
    await dot.unreact(first, NUMBER_EMOJI[2])
    await world.other_bot.react(first, NUMBER_EMOJI[0])
    await cy.react(first, THUMBS_UP)
    assert await world.store.votes.tally(breed.breed_id, 0, population) == [0, 2, 0, 1]

    answer = answer_of(await world.starter.click(first, label="Next"))
    assert answer == texts.closed_answer(0, (0, 2, 0, 1))
    [evolve] = await jobs_of(world, breed.breed_id, "evolve")
    assert (evolve.generation, evolve.fitness, evolve.sigma) == (0, (0, 2, 0, 1), 0.5)
    closed = vote_message(world, breed, 0)
    assert closed.components == [] and "voting closed" in closed.content

    # Generation 2 comes from those votes, behind one progress message edited in place.
    breed = await world.wait_for_status(breed.breed_id, "voting", 1)
    second_generation = await world.store.breeds.get_generation(breed.breed_id, 1)
    assert second_generation.fitness == (0, 2, 0, 1) and not second_generation.rerolled
    history = world.thread_of(breed).history()
    second = vote_message(world, breed, 1)
    between = history[history.index(closed) + 1:history.index(second)]
    assert [m.content for m in between] == ["✅ Generation 2: posted below ↓"]
    edits = [r.json["content"] for r in world.requests("PATCH", f"/messages/{between[0].id}")]
    stages = [re.sub(r"^\W+Generation 2: ", "", text) for text in edits]
    assert stages[0].startswith("breeding") and stages[-1] == "posted below ↓"
    assert any(stage.startswith("rendering") for stage in stages)

    # Finish with the top-voted candidate of generation 2: its MIDI, audio and piano roll.
    await dot.react(second, NUMBER_EMOJI[2])
    await bea.react(second, NUMBER_EMOJI[2])
    await cy.react(second, NUMBER_EMOJI[0])
    answer = answer_of(await world.starter.click(second, label="Finish"))
    assert answer == texts.finishing_answer(2)
    [finish] = await jobs_of(world, breed.breed_id, "finish")
    assert (finish.generation, finish.candidate) == (1, 2)
    breed = await world.wait_for_status(breed.breed_id, "finished")
    assert breed.winner == 2
    winner = world.thread_of(breed).history()[-1]
    assert "candidate 3 of generation 2" in winner.content
    assert clip_names(winner) == [
        "winner.mid", "winner.ogg", "winner.png", "lineage.png", "tune.mid", "tune.ogg", "tune.png"]
    content_types = [a.content_type for a in winner.attachments]
    assert content_types[1:4] + content_types[5:] == ["audio/ogg", "image/png", "image/png", "audio/ogg", "image/png"]
    midi = await winner.attachments[0].read()
    assert midi_to_notes(midi) == list(second_generation.melodies[2])


async def test_nobody_voting_rerolls_the_generation_and_says_so_in_the_thread(world: World, worker) -> None:
    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    await world.other_bot.react(first, NUMBER_EMOJI[0])

    await world.starter.click(first, label="Next")

    [evolve] = await jobs_of(world, breed.breed_id, "evolve")
    assert evolve.fitness == (0, 0, 0, 0)
    contents = [m.content for m in world.thread_of(breed).history()]
    assert texts.reroll_text(0) in contents
    breed = await world.wait_for_status(breed.breed_id, "voting", 1)
    assert (await world.store.breeds.get_generation(breed.breed_id, 1)).rerolled
    assert "fresh random melodies" in vote_message(world, breed, 1).content


async def test_the_vote_deadline_closes_voting_with_the_reactions_as_fitness(world: World, worker) -> None:
    breed = await start_breed(world, vote_minutes=2.0)
    first = vote_message(world, breed, 0)
    await world.voters[0].react(first, NUMBER_EMOJI[3])

    await world.env.advance_time(110)
    assert (await world.store.breeds.get(breed.breed_id)).status == "voting"
    await world.env.advance_time(15)

    [evolve] = await jobs_of(world, breed.breed_id, "evolve")
    assert evolve.fitness == (0, 0, 0, 1)
    await world.wait_for_status(breed.breed_id, "voting", 1)
    vote_message(world, breed, 1)


async def test_ten_candidates_come_as_ten_clips_in_one_message_and_the_vote_with_the_piano_roll(
    world: World, worker
) -> None:
    breed = await start_breed(world, population=10)

    history = world.thread_of(breed).history()
    vote = vote_message(world, breed, 0)
    clips = history[history.index(vote) - 1]
    assert clip_names(clips) == [f"clip-{i}.ogg" for i in range(1, 11)]
    assert clips.content == "Generation 1, candidates 1–10" and not clips.reactions
    assert clip_names(vote) == ["roll.png"]
    assert [str(r.emoji) for r in vote.reactions] == list(NUMBER_EMOJI)
    assert all(len(message.attachments) <= 10 for message in history)
