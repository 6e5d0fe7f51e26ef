"""Bad input on simulated Discord: fast repeated presses, stale reactions, a vote message deleted."""

from __future__ import annotations

import pytest

from bot import texts
from bot.voting import NUMBER_EMOJI
from tests.bot.flows import jobs_of, start_breed, vote_message
from tests.bot.simulation import World, answer_of

pytestmark = pytest.mark.slow


async def test_next_asked_for_again_before_the_step_is_done_is_refused_and_sends_one_job(
    world: World, worker
) -> None:
    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    await world.voters[0].react(first, NUMBER_EMOJI[1])
    await worker.stop()  # the step stays in progress while the presses come

    answers = [answer_of(await world.starter.click(first, label="Next"))]
    for _ in range(3):
        answers.append(answer_of(await world.starter.slash(world.thread_of(breed), "breed next")))

    assert answers[0] == texts.closed_answer(0, (0, 1, 0, 0))
    assert answers[1:] == ["Voting is closed already; the next generation is on its way."] * 3
    assert world.refusals() == answers[1:]
    worker.start()
    await world.wait_for_status(breed.breed_id, "voting", 1)
    assert len(await jobs_of(world, breed.breed_id, "evolve")) == 1
    assert len([m for m in world.vote_messages(breed) if "**Generation 2**" in m.content]) == 1


async def test_reactions_on_an_older_generation_count_for_nothing(world: World, worker) -> None:
    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    await world.starter.click(first, label="Next")
    breed = await world.wait_for_status(breed.breed_id, "voting", 1)

    await world.voters[0].react(first, NUMBER_EMOJI[2])  # generation 1's message, voting long closed

    assert await world.store.votes.tally(breed.breed_id, 0, 4) == [0, 0, 0, 0]
    assert await world.store.votes.tally(breed.breed_id, 1, 4) == [0, 0, 0, 0]


async def test_a_deleted_vote_message_falls_back_to_the_votes_mirrored_before(world: World, worker) -> None:
    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    await world.voters[0].react(first, NUMBER_EMOJI[2])
    await world.moderator.delete(first)

    answer = answer_of(await world.starter.slash(world.thread_of(breed), "breed next"))

    assert answer == texts.closed_answer(0, (0, 0, 1, 0))
    [evolve] = await jobs_of(world, breed.breed_id, "evolve")
    assert evolve.fitness == (0, 0, 1, 0)
    await world.wait_for_status(breed.breed_id, "voting", 1)
