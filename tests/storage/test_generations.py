"""Generations in Redis: the TTLs Redis holds for files, generations and uploads (the behaviour both stores
share: tests/contract)."""

from __future__ import annotations

from redis.asyncio import Redis

from storage import BreedStore, keys
from storage.breeds import generation_key, latents_key, upload_key
from tests.storage.factories import make_breed, make_generation, make_latents


async def test_artifacts_expire_but_generation_and_latents_do_not(redis_client: Redis) -> None:
    store = BreedStore(redis_client, artifact_ttl_s=3600)
    await store.breeds.create(make_breed("b1"))
    await store.breeds.write_generation(make_generation("b1", 0), make_latents(), {"roll.png": b"png"})
    await store.breeds.add_artifacts("b1", 0, {"winner.mid": b"mid"})

    for name in ("roll.png", "winner.mid"):
        ttl = await redis_client.ttl(keys.artifact("b1", 0, name))
        assert 3500 < ttl <= 3600
    assert await redis_client.ttl(generation_key("b1", 0)) == -1
    assert await redis_client.ttl(latents_key("b1", 0)) == -1


async def test_default_artifact_ttl_is_fourteen_days_and_kept_files_have_none(
    store: BreedStore, redis_client: Redis
) -> None:
    await store.breeds.add_artifacts("b1", 0, {"clip-1.ogg": b"ogg"})
    await store.breeds.add_artifacts("b1", 0, {"winner.mid": b"MThd"}, keep=True)
    ttl = await redis_client.ttl(keys.artifact("b1", 0, "clip-1.ogg"))
    assert 14 * 86400 - 60 < ttl <= 14 * 86400
    assert await redis_client.pttl(keys.artifact("b1", 0, "winner.mid")) == -1


async def test_an_upload_is_kept_for_a_day(store: BreedStore, redis_client: Redis) -> None:
    token = await store.breeds.save_upload(b"MThd")
    assert 86000 < await redis_client.ttl(upload_key(token)) <= 86400
