"""Steps that many bot tests share: starting a breed, finding its messages, reading its jobs."""

from __future__ import annotations

import discord

from domain.jobs import Job
from domain.model import Breed
from storage.codec import load_job
from storage.streams import EVENTS, JOBS
from tests.bot.simulation import DEFERRED_EPHEMERAL, World, answer_of


async def jobs_of(world: World, breed_id: str, job_type: str) -> list[Job]:
    """The jobs the bot sent the workers for a breed (the stream keeps acknowledged ones too)."""
    entries = await world.store.redis.xrange(JOBS)
    jobs = [load_job(fields[b"payload"]) for _id, fields in entries]
    return [job for job in jobs if job.subject_id == breed_id and job.kind == job_type]


async def start_breed(world: World, **options: object) -> Breed:
    """`/breed start` by the starter in the channel; waits until generation 1 is up for votes."""
    known = {breed.breed_id for breed in await world.store.breeds.open_breeds()}
    channel = options.pop("channel", world.channel)
    starter = options.pop("starter", world.starter)
    mark = world.mark()
    result = await starter.slash(channel, "breed start", **options)
    assert world.callbacks_since(mark) == [DEFERRED_EPHEMERAL] and result.ephemeral
    [breed] = [breed for breed in await world.store.breeds.open_breeds() if breed.breed_id not in known]
    assert answer_of(result) == f"Breed `{breed.breed_id}` started in <#{breed.thread_id}>."
    return await world.wait_for_status(breed.breed_id, "voting", 0)


def vote_message(world: World, breed: Breed, number: int) -> discord.Message:
    """The vote message of generation `number` (0-based); fails unless it was posted exactly once."""
    messages = [m for m in world.vote_messages(breed) if f"**Generation {number + 1}**" in m.content]
    assert len(messages) == 1, f"generation {number + 1} was posted {len(messages)} times"
    return messages[0]


def has_buttons(message: discord.Message) -> bool:
    return bool(message.components)


async def event_handled(world: World, event_id: str) -> bool:
    """Whether the bots' group has read the event `event_id` and acknowledged everything it read."""
    [group] = [g for g in await world.store.redis.xinfo_groups(EVENTS) if g["name"] == b"bots"]
    delivered = tuple(int(part) for part in group["last-delivered-id"].decode().split("-"))
    return delivered >= tuple(int(part) for part in event_id.split("-")) and group["pending"] == 0
