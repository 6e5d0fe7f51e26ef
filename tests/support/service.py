"""The breeding service's tests' set-ups: breed "b1" with its generations written, voting or finished, on either
store (the in-memory one for tests that are not about Redis: `in_memory`)."""

from __future__ import annotations

import numpy as np
from redis.asyncio import Redis

from domain import artifacts
from domain.jobs import Job
from domain.model import Breed, BreedParams, Candidate, Generation
from domain.rules import Actor
from service.breeding import BreedingService, Place
from storage import BreedStore
from storage.codec import load_job
from storage.memory import MemoryStore
from storage.streams import JOBS
from tests.support.stores import AnyStore

NOW = 1_800_000_000.0
VOTE_MESSAGE = 5001
OWNER = Actor(1)
GUILD = 9  # the guild of voting_breed's breed "b1"


async def new_breed(service: BreedingService, **params: object) -> Breed:
    return await service.start(
        breed_id="b1", owner_id=1, params=BreedParams(population=4, **params),
        place=Place(guild_id=GUILD, channel_id=8, thread_id=7, progress_message_id=6), front="discord"
    )


async def in_memory() -> MemoryStore:
    """A new, empty in-memory store with its stream groups, as a started process has them."""
    store = MemoryStore()
    await store.streams.ensure_groups()
    return store


async def on_redis(redis_client: Redis) -> BreedStore:
    """A Redis store over the session's emptied server, with its stream groups: for the tests about Redis."""
    store = BreedStore(redis_client)
    await store.streams.ensure_groups()
    return store


async def write_generation(store: AnyStore, number: int, population: int = 4) -> None:
    candidates = tuple(Candidate(f"g{number}-{i + 1}", i, ("foreign",), ()) for i in range(population))
    generation = Generation("b1", number, candidates, tuple(() for _ in range(population)))
    await store.breeds.write_generation(generation, np.zeros((population, 4), np.float32), {})


async def voting_breed(service: BreedingService, generation: int = 0, **params: object) -> Breed:
    await new_breed(service, **params)
    for number in range(generation + 1):
        await write_generation(service.store, number)
    breed = await service.store.breeds.update("b1", status="evolving") if generation else await service.get("b1")

    async def post(breed: Breed, shown: Generation, deadline: float) -> int:
        return VOTE_MESSAGE

    opened = await service.results.generation_ready(breed.breed_id, generation, post)
    assert opened is not None
    return opened


async def jobs(store: AnyStore) -> list[Job]:
    """Every job sent to the workers, oldest first, done or not (until the stream is trimmed)."""
    if isinstance(store, MemoryStore):
        return [load_job(raw) for raw in store.streams.jobs.messages()]
    return [load_job(fields[b"payload"]) for _id, fields in await store.redis.xrange(JOBS)]


async def finished_breed(service: BreedingService, candidate: int = 2) -> Breed:
    """b1, finished with `candidate` (1-based) of generation 1, its winner's files written."""
    await voting_breed(service)
    await service.store.votes.add("b1", 0, 0, 20)
    await service.store.votes.add("b1", 0, 1, 21)
    await service.finish("b1", OWNER, candidate)
    files = {name: name.encode() for name in artifacts.WINNER_FILES}
    await service.store.breeds.add_artifacts("b1", 0, files, keep=True)

    async def post(breed: Breed, number: int, winner: int) -> None:
        return None

    assert await service.results.winner_ready("b1", 0, post)
    return await service.get("b1")
