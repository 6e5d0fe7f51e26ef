"""The soak scenario, short: a few breeds through the bot while a worker is killed, Redis and the bot restart."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import discord
import pytest
import simcord

from bench.soak import advance, soak

pytestmark = pytest.mark.slow


async def test_every_breed_finishes_through_a_killed_worker_a_redis_restart_and_a_bot_restart() -> None:
    report = await soak(breeds=3, voters=3, generations=2, worker_count=2, seed=1, timeout_s=300, warm_starts=1)
    # Each fault happened, as the processes and Redis tell: the worker died of SIGKILL holding a job, a new
    # Redis process (a new run id) came up after a stop while people had votes to cast, a new bot came up.
    [(exit_status, held)] = report.worker_kills
    assert exit_status == -signal.SIGKILL and held >= 1
    [(before, after, votes_to_cast)] = report.redis_restarts
    assert before and after and before != after and votes_to_cast
    assert report.bot_restarts == [True]
    assert report.problems == []
    assert (report.finished, report.lost_generations, report.duplicate_generations, report.lost_votes) == (3, 0, 0, 0)
    # The job the killed worker held was done by a worker after it, and nothing was given up on.
    assert report.jobs_retried >= 1 and report.dead_letters == 0
    # People pressed Next or /breed finish while Redis was away, and were told to try again.
    assert report.restarting_answers >= 1
    assert len(report.close_to_post_s) == 3 * 2
    # When each step and each fault were under way is known (one clock), so that the steps a fault was under way
    # during can be told apart from the rest.
    assert [posted - closed for closed, posted in report.close_to_post_spans] == report.close_to_post_s
    assert len(report.fault_windows) == 3 and all(start <= end for start, end in report.fault_windows)
    assert len(report.untouched_s) <= len(report.close_to_post_s)
    # Then a new breed on each front, on the warm workers: its first generation seen on Discord (the vote
    # message with its reactions) and on the web page (the state and the first clip fetched).
    assert len(report.warm_discord_s) == len(report.warm_web_s) == 1 and len(report.warm_breeds) == 2
    assert all(seconds > 0 for seconds in report.warm_discord_s + report.warm_web_s)


async def test_two_bot_processes_on_one_redis_take_no_event_twice_and_lose_none() -> None:
    report = await soak(breeds=4, voters=2, generations=2, worker_count=2, seed=2, timeout_s=300, bots=2, warm_starts=0)
    assert report.problems == []
    assert (report.finished, report.lost_generations, report.duplicate_generations, report.lost_votes) == (4, 0, 0, 0)
    assert report.dead_letters == 0
    # The second bot was a process of its own, reading events under its own name, and logged no error. It
    # found an event handled already only as the one it was showing when Redis went away (the restart hits
    # the Redis both bots share): that event comes again once Redis is back and is shown once, going on from
    # what was posted. No generation was posted twice (above).
    [(pid, consumer)] = report.bot_processes
    assert pid != os.getpid() and consumer.startswith("bot-") and consumer.endswith(f"-{pid}")
    assert report.bot_suppressed <= len(report.redis_restarts) and report.bot_errors == []
    # What a finished breed leaves in Redis shrinks as its files, then the breed itself, expire; the gallery stays.
    assert report.redis is not None
    assert report.redis.now > report.redis.after_files > report.redis.after_retention > 0
    # For good: each winner's record and its MIDI files (winner.mid, and tune.mid with a tune: its audio and images
    # are in the media store), and each server's gallery.
    assert report.redis.keys_kept >= 2 + 2 / 4
    assert not [kind for kind in report.redis.kinds if kind.endswith((".ogg", ".png"))]


class SlowBot(discord.Client):
    """A bot whose answer to a message is `steps` pieces of real work of `seconds` each, posting after each."""

    def __init__(self, steps: int, seconds: float) -> None:
        super().__init__(intents=discord.Intents.default())
        self.steps, self.seconds = steps, seconds

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        for step in range(self.steps):
            await asyncio.get_running_loop().run_in_executor(None, time.sleep, self.seconds)
            if self.steps > 1:
                await message.channel.send(f"step {step + 1}")


async def advance_after_a_message(bot: SlowBot, settle_timeout: float) -> list[str]:
    """Send the bot a message, then let a moment of virtual time pass with `advance`; what the bot posted."""
    env = simcord.Env(bot, settle_timeout=settle_timeout)
    await env.start()
    try:
        guild = env.create_guild("Soak")
        channel = guild.create_text_channel("melodies")
        with pytest.raises(TimeoutError):  # SimCord waits for the answer no longer than its settle timeout
            await guild.add_member(env.create_user("ada")).send(channel, "go")
        await advance(env, 0.01)
        return [message.content for message in channel.history() if message.author.bot]
    finally:
        await env.settle(timeout=60)  # the work in hand ends before the bot stops
        await env.shutdown()


async def test_the_soak_waits_for_a_bot_that_is_slower_than_the_settle_timeout_as_long_as_it_gets_on() -> None:
    # Each step (0.4 s) well within SimCord's settle timeout (2 s); what is left of them (4.8 s) after the
    # message's own settle gave up, beyond it: a bot on a loaded machine.
    posted = await advance_after_a_message(SlowBot(steps=12, seconds=0.4), settle_timeout=2.0)
    assert sorted(posted) == sorted(f"step {step}" for step in range(1, 13))


async def test_the_soak_fails_on_a_bot_that_gets_nowhere_for_a_whole_settle_timeout() -> None:
    with pytest.raises(TimeoutError, match="partial progress is committed"):
        await advance_after_a_message(SlowBot(steps=1, seconds=2.0), settle_timeout=0.5)
