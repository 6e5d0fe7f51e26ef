"""Nudges on simulated Discord (SimCord): `/breed nudge` and the menu on the vote message, counted,
shown when the vote closes, kept across a bot restart, applied by the worker and refused in one line."""

from __future__ import annotations

import discord
import pytest

from tests.bot.flows import jobs_of, start_breed, vote_message
from tests.bot.simulation import World, answer_of

pytestmark = pytest.mark.slow


def nudge_menu(message: discord.Message) -> discord.SelectMenu:
    [menu] = [c for row in message.components for c in row.children if c.type == discord.ComponentType.select]
    return menu


async def test_nudges_from_the_command_and_the_menu_reach_the_next_generation(world: World, worker) -> None:
    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    menu = nudge_menu(first)
    assert menu.custom_id == f"breed:nudge:{breed.breed_id}"
    assert [o.label for o in menu.options][:4] == ["fewer notes", "more notes", "lower", "higher"]

    bea, cy, dot = world.voters
    thread = world.thread_of(breed)
    answer = answer_of(await bea.slash(thread, "breed nudge", attribute="density", amount=-2.0))
    assert answer.startswith("Nudged: fewer notes 2. This generation's nudges so far: fewer notes 2.")
    answer = answer_of(await cy.select(first, ["density:-1"], custom_id=menu.custom_id))
    assert "This generation's nudges so far: fewer notes 1.5 ×2." in answer
    await dot.select(first, ["register:1"], custom_id=menu.custom_id)
    await bea.react(first, "1️⃣")

    answer = answer_of(await world.starter.click(first, label="Next"))
    assert answer.endswith("Nudges: fewer notes 1.5 ×2, higher.")
    assert "Nudges: fewer notes 1.5 ×2, higher." in vote_message(world, breed, 0).content
    [evolve] = await jobs_of(world, breed.breed_id, "evolve")
    assert evolve.nudges == (("density", -1.5), ("register", 1.0))
    await world.wait_for_status(breed.breed_id, "voting", 1)
    second = await world.store.breeds.get_generation(breed.breed_id, 1)
    assert second.nudges == (("density", -1.5), ("register", 1.0))
    assert [c for c in second.candidates if "nudged" in c.operators]  # the family tree draws the operator


async def test_nudges_survive_a_bot_restart(world: World, worker) -> None:
    breed = await start_breed(world)
    await world.voters[0].slash(world.thread_of(breed), "breed nudge", attribute="leaps", amount=-1.0)
    await world.restart()
    first = vote_message(world, breed, 0)
    await world.voters[1].select(first, ["range:1"], custom_id=nudge_menu(first).custom_id)
    answer = answer_of(await world.starter.click(first, label="Next"))
    assert answer.endswith("Nudges: smoother, wider.")
    [evolve] = await jobs_of(world, breed.breed_id, "evolve")
    assert evolve.nudges == (("leaps", -1.0), ("range", 1.0))


async def test_a_nudge_where_it_cannot_count_is_refused_in_one_line_and_changes_nothing(world: World, worker) -> None:
    breed = await start_breed(world)
    thread = world.thread_of(breed)
    await world.starter.slash(thread, "breed stop")
    world.new_errors()
    await world.voters[0].slash(thread, "breed nudge", attribute="density", amount=1.0)
    assert world.refusals() == ["This breed was stopped."]
    await world.voters[0].slash(world.channel, "breed nudge", attribute="density", amount=1.0)
    assert world.refusals() == ["Use this command in a breed's thread, or give the breed's id."]
    assert await world.store.nudges.read(breed.breed_id, 0) == []
