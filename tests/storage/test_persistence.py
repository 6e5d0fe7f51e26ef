"""State survives a Redis restart: the embedded server writes an AOF into its data folder."""

from __future__ import annotations

from pathlib import Path

from domain.jobs import EvolveJob
from storage import BreedStore, connect
from tests.conftest import RedisServerFactory
from tests.storage.factories import make_breed, make_generation, make_latents


async def test_breed_generation_votes_and_pending_jobs_survive_a_restart(
    redis_server_factory: RedisServerFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "redis"
    first = redis_server_factory(data_dir)
    store = BreedStore(connect(first.url))
    await store.streams.ensure_groups()
    breed = make_breed("keep", thread_id=99, status="voting")
    await store.breeds.create(breed)
    await store.breeds.write_generation(make_generation("keep", 0), make_latents(seed=3), {"roll.png": b"png"})
    await store.votes.add("keep", 0, 1, 7)
    job_id = await store.streams.jobs.enqueue_job(EvolveJob(breed_id="keep", generation=0, fitness=(0, 1, 0, 0)))
    await store.close()
    first.stop()
    assert not first.running

    second = redis_server_factory(data_dir)
    assert second.pid != first.pid
    store = BreedStore(connect(second.url))
    try:
        expected = make_breed("keep", thread_id=99, status="voting", generation=0)
        assert await store.breeds.get("keep") == expected
        assert await store.breeds.for_thread(99) == "keep"
        assert [b.breed_id for b in await store.breeds.open_breeds()] == ["keep"]
        assert await store.breeds.get_generation("keep", 0) == make_generation("keep", 0)
        assert (await store.breeds.get_latents("keep", 0)).tobytes() == make_latents(seed=3).tobytes()
        assert await store.breeds.get_artifact("keep", 0, "roll.png") == b"png"
        assert await store.votes.tally("keep", 0, 4) == [0, 1, 0, 0]
        [delivery] = await store.streams.jobs.read_jobs("w1", block_ms=None)
        assert delivery.message_id == job_id
    finally:
        await store.close()


async def test_server_without_appendonly_keeps_nothing(
    redis_server_factory: RedisServerFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "volatile"
    first = redis_server_factory(data_dir, appendonly=False)
    store = BreedStore(connect(first.url))
    await store.breeds.create(make_breed("gone"))
    await store.close()
    first.stop()

    second = redis_server_factory(data_dir, appendonly=False)
    store = BreedStore(connect(second.url))
    try:
        assert await store.breeds.get("gone") is None
    finally:
        await store.close()
