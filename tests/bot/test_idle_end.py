"""Breeds that end by themselves on simulated Discord, with the real worker: a thread nobody votes in any
more, or a breed at its last generation, finishes as /breed finish would, and says why in one line."""

from __future__ import annotations

import pytest

from bot import texts
from bot.voting import NUMBER_EMOJI
from engine.midi import midi_to_notes
from runtime.settings import BotSettings
from tests.bot.flows import has_buttons, jobs_of, start_breed, vote_message
from tests.bot.simulation import World, answer_of
from tests.support.bot import bot_posts, names

pytestmark = pytest.mark.slow

WINDOW_S = 3601
WINNER_FILES = ["winner.mid", "winner.ogg", "winner.png", "lineage.png", "tune.mid", "tune.ogg", "tune.png"]


@pytest.fixture
def bot_settings(bot_settings: BotSettings, request: pytest.FixtureRequest) -> BotSettings:
    """The bot tests' settings, with the changes a test names (indirect parametrization)."""
    return bot_settings.model_copy(update=getattr(request, "param", {}))


async def test_a_thread_left_without_votes_ends_by_itself_with_the_favourite_of_the_last_votes(
    world: World, worker,
) -> None:
    # Hour-long windows that only the test's clock runs out: a slow worker on a loaded machine lets no
    # window run out by itself meanwhile.
    breed = await start_breed(world, vote_minutes=60.0)
    first = vote_message(world, breed, 0)
    bea, cy, _dot = world.voters
    await bea.react(first, NUMBER_EMOJI[2])
    await cy.react(first, NUMBER_EMOJI[2])
    await world.starter.click(first, label="Next")
    await world.wait_for_status(breed.breed_id, "voting", 1)

    # Then nobody comes back: each vote window runs out without a vote.
    for number in (1, 2):
        await world.env.advance_time(WINDOW_S)
        await world.wait_for_status(breed.breed_id, "voting", number + 1)
        assert texts.reroll_text(number) in [m.content for m in world.thread_of(breed).history()]
    await world.env.advance_time(WINDOW_S)

    breed = await world.wait_for_status(breed.breed_id, "finished")
    line = "This breed ended by itself after 3 rounds without a vote."
    thread = world.thread_of(breed)
    assert [m.content for m in bot_posts(world, thread, "⏹️")] == [texts.ended_text(line, 2, 0)]
    assert texts.reroll_text(3) not in [m.content for m in thread.history()]
    [finish] = await jobs_of(world, breed.breed_id, "finish")
    assert (finish.generation, finish.candidate) == (0, 2)
    assert len(await jobs_of(world, breed.breed_id, "evolve")) == 3
    last = vote_message(world, breed, 3)
    assert not has_buttons(last) and last.content.endswith("The breed ended by itself.")
    [winner] = bot_posts(world, thread, "🏆 The winner")
    assert "candidate 3 of generation 1" in winner.content and names(winner) == WINNER_FILES
    first_generation = await world.store.breeds.get_generation(breed.breed_id, 0)
    assert midi_to_notes(await winner.attachments[0].read()) == list(first_generation.melodies[2])
    assert (breed.winner, breed.winner_generation, breed.ended) == (2, 0, "idle")
    assert not world.bot.controller.router.armed(breed.breed_id)


@pytest.mark.parametrize("bot_settings", [{"breed_max_generations": 2}], indirect=True)
async def test_next_on_the_last_generation_ends_the_breed_with_its_favourite(world: World, worker) -> None:
    breed = await start_breed(world, vote_minutes=60.0)
    await world.voters[0].react(vote_message(world, breed, 0), NUMBER_EMOJI[1])
    await world.starter.click(vote_message(world, breed, 0), label="Next")
    breed = await world.wait_for_status(breed.breed_id, "voting", 1)
    second = vote_message(world, breed, 1)
    assert "This is the breed's last generation" in second.content
    await world.voters[1].react(second, NUMBER_EMOJI[3])

    answer = answer_of(await world.starter.click(second, label="Next"))

    line = "This breed ended by itself: it reached generation 2."
    assert answer == texts.ended_answer(line, 3, 1)
    breed = await world.wait_for_status(breed.breed_id, "finished")
    thread = world.thread_of(breed)
    assert [m.content for m in bot_posts(world, thread, "⏹️")] == [texts.ended_text(line, 3, 1)]
    [winner] = bot_posts(world, thread, "🏆 The winner")
    assert "candidate 4 of generation 2" in winner.content and names(winner) == WINNER_FILES
    assert len(await jobs_of(world, breed.breed_id, "evolve")) == 1
    status = await world.starter.slash(thread, "breed status")
    assert "finished: the winner is candidate 4 of generation 2" in answer_of(status)
