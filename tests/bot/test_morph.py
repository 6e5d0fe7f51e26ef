"""/breed morph on simulated Discord, with the real worker, model, renderer and Redis."""

from __future__ import annotations

import discord
import pytest
import simcord

from domain.jobs import MorphJob
from domain.model import Breed
from engine.midi import midi_to_notes
from storage.codec import Event
from tests.bot.flows import event_handled, jobs_of, start_breed, vote_message
from tests.bot.simulation import DEFERRED_EPHEMERAL, World, answer_of

pytestmark = pytest.mark.slow


def morph_posts(world: World, breed: Breed) -> list[discord.Message]:
    return [m for m in world.thread_of(breed).history() if m.author.bot and m.content.startswith("🔀")]


async def test_a_voter_hears_the_morph_between_two_candidates_posted_once_in_the_thread(
    world: World, worker
) -> None:
    breed = await start_breed(world)
    thread = world.thread_of(breed)
    mark = world.mark()

    result = await world.voters[0].slash(thread, "breed morph", start=1, end=3)

    assert world.callbacks_since(mark)[0] == DEFERRED_EPHEMERAL and result.ephemeral
    assert answer_of(result) == "Morphing from candidate 1 to candidate 3: the clip will be posted in the thread."
    [job] = await jobs_of(world, breed.breed_id, "morph")
    assert (job.generation, job.candidate, job.other, job.steps) == (0, 0, 2, 5)

    async def posted() -> bool:
        return bool(morph_posts(world, breed))

    await world.wait_for(posted, "the morph to be posted")
    [message] = morph_posts(world, breed)
    assert message.content == "🔀 Morph from candidate 1 to candidate 3 of generation 1 (5 steps)"
    assert [a.filename for a in message.attachments] == ["morph-1-3.ogg", "morph-1-3.mid"]
    assert message.attachments[0].content_type == "audio/ogg"
    generation = await world.store.breeds.get_generation(breed.breed_id, 0)
    notes = midi_to_notes(await message.attachments[1].read())
    assert [n for n in notes if n.start < 32] == list(generation.melodies[0])
    assert await world.store.breeds.get(breed.breed_id) == breed  # a morph changes nothing in the breed

    # At-least-once delivery: the same event again posts nothing more.
    repeated = await world.store.streams.events.publish_event(
        Event("morph_ready", breed.breed_id, 0, candidate=0, other=2, steps=5)
    )
    await world.wait_for(lambda: event_handled(world, repeated), "the repeated event to be handled")
    assert len(morph_posts(world, breed)) == 1

    again = await world.voters[1].slash(thread, "breed morph", start=1, end=3, steps=3)
    assert answer_of(again) == "The morph from candidate 1 to candidate 3 of generation 1 is in the thread already."
    assert world.refusals() == [answer_of(again)]
    assert len(await jobs_of(world, breed.breed_id, "morph")) == 1


@pytest.mark.parametrize("options, refusal", [
    ({"start": 2, "end": 2}, "A morph goes from one candidate to another: pick two different ones."),
    ({"start": 1, "end": 5}, "There is no candidate 5: this breed has 1 to 4."),
    ({"start": 1, "end": 2, "stopped": True}, "This breed was stopped."),
])
async def test_a_morph_that_cannot_be_made_is_refused_privately_and_no_job_is_sent(
    world: World, worker, options: dict[str, object], refusal: str
) -> None:
    breed = await start_breed(world)
    thread = world.thread_of(breed)
    if options.pop("stopped", False):
        await world.starter.slash(thread, "breed stop")
    messages = len(thread.history())

    result = await world.voters[0].slash(thread, "breed morph", **options)

    assert result.ephemeral and answer_of(result) == refusal
    assert world.refusals() == [refusal]
    assert await jobs_of(world, breed.breed_id, "morph") == []
    assert len(thread.history()) == messages


@pytest.mark.parametrize("options", [{"start": 0, "end": 2}, {"start": 1, "end": 11},
                                     {"start": 1, "end": 2, "steps": 1}, {"start": 1, "end": 2, "steps": 9}])
async def test_morph_option_ranges_are_declared_to_discord(world: World, worker, options) -> None:
    breed = await start_breed(world)
    with pytest.raises(simcord.OptionError):
        await world.voters[0].slash(world.thread_of(breed), "breed morph", **options)
    assert await jobs_of(world, breed.breed_id, "morph") == []


async def test_a_failed_morph_is_told_in_the_thread_and_does_not_fail_the_step_running_beside_it(
    world: World, worker
) -> None:
    breed = await start_breed(world)
    await worker.stop()
    # A job the bot would refuse to send, so that the worker fails it while the next generation is on its way.
    await world.store.streams.jobs.enqueue_job(MorphJob(breed.breed_id, 0, candidate=1, other=1))
    await world.starter.click(vote_message(world, breed, 0), label="Next")

    worker.start()

    breed = await world.wait_for_status(breed.breed_id, "voting", 1)
    vote_message(world, breed, 1)
    warnings = [m.content for m in world.thread_of(breed).history() if m.content.startswith("⚠️")]
    assert warnings == [
        "⚠️ The morph from candidate 2 to candidate 2 failed: "
        "A morph needs two different candidates, not candidate 2 twice."
    ]
