"""What a breed keeps in Redis, small: generations packed (flat notes, zlib), an ended breed's latents kept
for ENDED_LATENTS_S only (its melodies and votes for its whole retention), on both stores."""

from __future__ import annotations

from dataclasses import replace

from redis.asyncio import Redis

from domain.model import Note
from storage import BreedStore
from storage.breeds import ENDED_LATENTS_S, generation_key, latents_key
from storage.codec import dump, load_generation, pack_generation
from storage.memory import ManualClock, MemoryStore
from tests.storage.factories import make_breed, make_generation, make_latents

RETENTION_S = 90 * 86400


def busy_generation(population: int = 8):
    """A generation with melodies of 16 notes each, like the model's."""
    generation = make_generation("b1", 0, population=population)
    melodies = tuple(tuple(Note(60 + (i * 7 + j) % 12, 2 * j, 2 * j + 1) for j in range(16)) for i in range(population))
    return replace(generation, melodies=melodies)


async def test_a_generation_is_kept_packed_and_reads_back_the_same(redis_client: Redis) -> None:
    store = BreedStore(redis_client)
    await store.breeds.create(make_breed("b1"))
    generation = busy_generation()
    await store.breeds.write_generation(generation, make_latents(8), {})

    raw = await redis_client.get(generation_key("b1", 0))
    assert raw == pack_generation(generation)
    assert len(raw) * 4 < len(dump(generation).encode())
    assert await store.breeds.get_generation("b1", 0) == generation


async def test_a_generation_an_older_version_wrote_as_json_is_still_read(redis_client: Redis) -> None:
    generation = busy_generation(population=2)
    await redis_client.set(generation_key("b1", 0), dump(generation))
    assert await BreedStore(redis_client).breeds.get_generation("b1", 0) == generation
    assert load_generation(pack_generation(generation)) == load_generation(dump(generation)) == generation


async def test_an_ended_breeds_latents_go_sooner_than_its_melodies_in_redis(redis_client: Redis) -> None:
    store = BreedStore(redis_client, retention_s=RETENTION_S)
    await store.breeds.create(make_breed("b1", status="voting"))
    for number in range(3):
        await store.breeds.write_generation(make_generation("b1", number), make_latents(), {})
    assert await redis_client.pttl(latents_key("b1", 2)) == -1  # an open breed keeps them

    await store.breeds.update("b1", status="finished", winner=0)

    for number in range(3):
        assert 0 < await redis_client.pttl(latents_key("b1", number)) <= ENDED_LATENTS_S * 1000
        assert ENDED_LATENTS_S * 1000 < await redis_client.pttl(generation_key("b1", number)) <= RETENTION_S * 1000


async def test_an_ended_breeds_latents_go_sooner_than_its_melodies_in_memory() -> None:
    clock = ManualClock()
    store = MemoryStore(clock, retention_s=RETENTION_S)
    await store.breeds.create(make_breed("b1", status="voting"))
    await store.breeds.write_generation(make_generation("b1", 0), make_latents(), {})
    await store.breeds.update("b1", status="stopped")
    late = make_generation("b1", 1)  # a result that came after the end
    await store.breeds.write_generation(late, make_latents(seed=3), {})

    clock.advance(ENDED_LATENTS_S + 1)

    assert await store.breeds.get_latents("b1", 0) is None and await store.breeds.get_latents("b1", 1) is None
    assert await store.breeds.get_generation("b1", 0) == make_generation("b1", 0)
    assert await store.breeds.get_generation("b1", 1) == late
    clock.advance(RETENTION_S)
    assert await store.breeds.get_generation("b1", 0) is None

