"""A post that failed half-way goes on from where it stopped: nothing is posted twice."""

from __future__ import annotations

import asyncio

import discord
import pytest

from bot.voting import NUMBER_EMOJI
from domain import artifacts
from storage.codec import Event
from tests.bot.flows import event_handled, start_breed, vote_message
from tests.bot.simulation import World

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("died", [False, True], ids=["reactions-failed", "bot-died-half-way"])
async def test_a_generation_whose_post_stopped_half_way_is_completed_not_posted_again(
    world: World, worker, died: bool,
) -> None:
    no_reactions = discord.PermissionOverwrite(add_reactions=False)
    channel = world.guild.create_text_channel("no-reactions", overwrites={world.env.bot.user: no_reactions})
    await world.starter.slash(channel, "breed start", population=10)  # 11 files: clips in two messages
    [breed] = await world.store.breeds.open_breeds()

    def posts() -> list[discord.Message]:
        return [m for m in world.thread_of(breed).history() if m.author.bot and m.attachments]

    async def posted_without_reactions() -> bool:
        return any("**Generation 1**" in m.content for m in posts())

    await world.wait_for(posted_without_reactions, "the vote message, whose reactions fail")
    assert (await world.store.breeds.get(breed.breed_id)).status == "starting"
    if died:  # the process died there instead of failing: its mark of the post stays, as a killed one leaves it
        assert await world.store.posts.mark_posted(breed.breed_id, 0, "generation")
    # Someone gives the bot its permission back, and the bot restarts: the event comes again.
    world.env.backend.delete_overwrite(channel.id, world.env.bot.user.id)
    await world.restart()

    breed = await world.wait_for_status(breed.breed_id, "voting", 0)
    assert len(posts()) == 2  # the first clips and the vote message, once each
    [vote] = world.vote_messages(breed)
    assert vote.id == breed.progress_message_id and len(vote.reactions) == 10  # and the post completed


async def test_a_winner_whose_bot_died_before_posting_it_is_posted_once_after_the_restart(
    world: World, worker,
) -> None:
    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    await world.voters[0].react(first, NUMBER_EMOJI[1])
    await worker.stop()
    await world.starter.click(first, label="Finish")
    # Posting in the thread fails from here on: the bot reaches the winner's post but sends nothing.
    world.env.inject_error("POST", f"/channels/{breed.thread_id}/messages", times=None)
    mark = world.mark()
    worker.start()

    async def winner_post_tried() -> bool:
        return any(f"/channels/{breed.thread_id}/messages" in r.path for r in world.env.http_requests[mark:]
                   if r.method == "POST")

    await world.wait_for(winner_post_tried, "the winner's post")
    await world.bot.stop_events()
    # The process died as it began the post: its mark stays (a failing post takes its mark back).
    await world.store.posts.mark_posted(breed.breed_id, 0, "winner")
    world.env.backend.faults.clear()
    world.new_errors()
    await world.restart()
    await world.wait_for_status(breed.breed_id, "finished")

    def winner_posts() -> list[discord.Message]:
        return [m for m in world.thread_of(breed).history()
                if any(a.filename == artifacts.WINNER_MID for a in m.attachments)]

    await world.wait_for(lambda: asyncio.sleep(0, bool(winner_posts())), "the winner's post")
    assert len(winner_posts()) == 1
    # The same event again sends nothing more.
    repeated = await world.store.streams.events.publish_event(Event("finished", breed.breed_id, 0))
    await world.wait_for(lambda: event_handled(world, repeated), "the repeated event to be handled")
    assert len(winner_posts()) == 1
