"""Restarts: all state is in Redis, deadlines are re-armed, missed votes count, nothing is posted twice."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot import texts
from bot.client import MelodyBot
from bot.voting import NUMBER_EMOJI
from storage.codec import Event
from storage.streams import EVENTS
from tests.bot.flows import event_handled, has_buttons, jobs_of, start_breed, vote_message
from tests.bot.simulation import World, answer_of

pytestmark = pytest.mark.slow


async def test_votes_cast_while_the_bot_was_down_count_when_the_deadline_passed_meanwhile(
    world: World, worker
) -> None:
    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    bea, cy, dot = world.voters
    await bea.react(first, NUMBER_EMOJI[0])
    assert await world.store.votes.tally(breed.breed_id, 0, 4) == [1, 0, 0, 0]

    # The bot goes offline: it no longer sees reactions...
    await world.bot.unload_extension("bot.cogs.votes")
    await cy.react(first, NUMBER_EMOJI[2])
    await dot.react(first, NUMBER_EMOJI[2])
    await bea.unreact(first, NUMBER_EMOJI[0])
    assert await world.store.votes.tally(breed.breed_id, 0, 4) == [1, 0, 0, 0]
    # ...and stays away longer than the vote window.
    await world.store.breeds.update(breed.breed_id, vote_deadline=world.env.now().timestamp() - 1)

    await world.restart()

    [evolve] = await jobs_of(world, breed.breed_id, "evolve")
    assert evolve.fitness == (0, 0, 2, 0)
    breed = await world.wait_for_status(breed.breed_id, "voting", 1)
    assert not has_buttons(vote_message(world, breed, 0))
    second = vote_message(world, breed, 1)
    assert has_buttons(second)

    await world.restart()
    await world.env.settle()
    assert vote_message(world, breed, 1).id == second.id
    assert world.bot.controller.router.armed(breed.breed_id)
    # The buttons posted by an earlier bot instance still work.
    answer = answer_of(await world.starter.click(second, label="Next"))
    assert answer == texts.closed_answer(1, (0, 0, 0, 0))


async def test_a_restarted_bot_re_arms_the_vote_deadline_stored_in_redis(world: World, worker) -> None:
    breed = await start_breed(world, vote_minutes=3.0)
    await world.voters[0].react(vote_message(world, breed, 0), NUMBER_EMOJI[1])
    await world.env.advance_time(60)

    await world.restart()
    assert world.bot.controller.router.armed(breed.breed_id)
    await world.env.advance_time(100)
    assert await jobs_of(world, breed.breed_id, "evolve") == []
    await world.env.advance_time(30)

    [evolve] = await jobs_of(world, breed.breed_id, "evolve")
    assert evolve.fitness == (0, 1, 0, 0)
    await world.wait_for_status(breed.breed_id, "voting", 1)


async def test_a_generation_finished_while_the_bot_was_down_is_posted_once_after_the_restart(
    world: World, worker
) -> None:
    breed = await start_breed(world)
    await worker.stop()
    await world.starter.click(vote_message(world, breed, 0), label="Next")
    store = world.store
    seen_while_down: list[bool] = []

    class StartsLate(MelodyBot):
        """A bot that comes back only once the worker has made the generation and told nobody."""

        async def setup_hook(self) -> None:
            deadline = time.monotonic() + 60
            while await store.breeds.get_generation(breed.breed_id, 1) is None:
                assert time.monotonic() < deadline, "the worker never made generation 2"
                await asyncio.sleep(0.05)
            ready = await store.redis.xrange(EVENTS)
            seen_while_down.append(any(b'"generation_ready"' in f[b"payload"] and b'"generation":1' in f[b"payload"]
                                       for _id, f in ready))
            await super().setup_hook()

    worker.start()
    await world.restart(StartsLate)
    assert seen_while_down == [True]  # the event waited in Redis while no bot was there
    breed = await world.wait_for_status(breed.breed_id, "voting", 1)
    second = vote_message(world, breed, 1)

    # At-least-once delivery: the same event again changes nothing.
    repeated = await world.store.streams.events.publish_event(Event("generation_ready", breed.breed_id, 1))
    await world.wait_for(lambda: event_handled(world, repeated), "the repeated event to be handled")
    assert vote_message(world, breed, 1).id == second.id
    assert (await world.store.breeds.get(breed.breed_id)).progress_message_id == second.id


async def test_a_worker_failure_is_reported_and_voting_reopens_with_the_votes_kept(world: World, worker) -> None:
    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    await world.voters[0].react(first, NUMBER_EMOJI[3])
    await worker.stop()
    await world.starter.click(first, label="Next")

    # As the worker reports a failed evolve job: about the generation the job read.
    failed = Event("error", breed.breed_id, 0, message="The decoder ran out of memory.")
    await world.store.streams.events.publish_event(failed)
    breed = await world.wait_for_status(breed.breed_id, "voting", 0)
    thread = world.thread_of(breed).history()
    assert thread[-2].content == texts.failed_text(1, "The decoder ran out of memory.")
    assert thread[-1].content == texts.step_failed_text(breed, "The decoder ran out of memory.")

    worker.start()
    result = await world.starter.slash(world.thread_of(breed), "breed next")
    assert "closed" in result.response.content
    evolves = await jobs_of(world, breed.breed_id, "evolve")
    assert [job.fitness for job in evolves] == [(0, 0, 0, 1), (0, 0, 0, 1)]
    await world.wait_for_status(breed.breed_id, "voting", 1)
