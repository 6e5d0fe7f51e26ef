"""Generations: the atomic, idempotent write; latents; artifacts and their TTL; uploads (both stores)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from domain.artifacts import clip_name
from domain.limits import MAX_ARTIFACT_BYTES, MAX_ARTIFACTS_PER_GENERATION
from tests.storage.factories import make_breed, make_generation, make_latents
from tests.support.stores import Advance, AnyStore, StoreWith


@pytest.fixture
async def breed_store(store: AnyStore) -> AnyStore:
    await store.breeds.create(make_breed("b1"))
    return store


async def test_written_generation_reads_back_with_latents_and_artifacts(breed_store: AnyStore) -> None:
    generation = make_generation("b1", 0, artifacts=(clip_name(0),))
    latents = make_latents()
    assert await breed_store.breeds.write_generation(generation, latents, {clip_name(0): b"OggS-0"}) is True

    assert await breed_store.breeds.get_generation("b1", 0) == generation
    read = await breed_store.breeds.get_latents("b1", 0)
    assert read is not None and read.dtype == np.float32 and read.shape == latents.shape
    assert read.tobytes() == latents.tobytes()
    assert await breed_store.breeds.get_artifact("b1", 0, clip_name(0)) == b"OggS-0"


async def test_latents_round_trip_bit_exact_including_special_values(breed_store: AnyStore) -> None:
    latents = np.array([[0.1, -0.0, np.inf, -np.inf], [np.nan, 1e-45, 3.4028235e38, -7.25]], dtype=np.float32)
    await breed_store.breeds.write_generation(make_generation("b1", 0, population=2), latents, {})
    read = await breed_store.breeds.get_latents("b1", 0)
    assert read is not None and read.shape == (2, 4)
    assert read.tobytes() == latents.tobytes()
    read[0, 0] = 5.0  # the caller owns the array it gets


async def test_missing_generation_latents_and_artifact_read_as_none(breed_store: AnyStore) -> None:
    assert await breed_store.breeds.get_generation("b1", 7) is None
    assert await breed_store.breeds.get_latents("b1", 7) is None
    assert await breed_store.breeds.get_artifact("b1", 7, "roll.png") is None


async def test_writing_a_generation_raises_the_breed_generation_only_upwards(breed_store: AnyStore) -> None:
    await breed_store.breeds.write_generation(make_generation("b1", 2), make_latents(), {})
    assert (await breed_store.breeds.get("b1")).generation == 2
    await breed_store.breeds.write_generation(make_generation("b1", 1), make_latents(), {})
    assert (await breed_store.breeds.get("b1")).generation == 2


async def test_second_write_of_a_generation_returns_false_and_changes_nothing(
    breed_store: AnyStore,
) -> None:
    first = make_generation("b1", 0, sigma=0.5)
    await breed_store.breeds.write_generation(first, make_latents(seed=1), {"roll.png": b"first"})

    second = make_generation("b1", 0, sigma=0.9, rerolled=True)
    artifacts = {"roll.png": b"second", "x": b"x"}
    written = await breed_store.breeds.write_generation(second, make_latents(seed=2), artifacts)

    assert written is False
    assert await breed_store.breeds.get_generation("b1", 0) == first
    assert (await breed_store.breeds.get_latents("b1", 0)).tobytes() == make_latents(seed=1).tobytes()
    assert await breed_store.breeds.get_artifact("b1", 0, "roll.png") == b"first"
    assert await breed_store.breeds.get_artifact("b1", 0, "x") is None


async def test_racing_writes_of_one_generation_write_exactly_one(breed_store: AnyStore) -> None:
    writes = [
        breed_store.breeds.write_generation(
            make_generation("b1", 0, sigma=i / 10), make_latents(seed=i), {"n": str(i).encode()}
        )
        for i in range(8)
    ]
    results = await asyncio.gather(*writes)
    assert sorted(results) == [False] * 7 + [True]

    winner = results.index(True)
    assert (await breed_store.breeds.get_generation("b1", 0)).sigma == winner / 10
    assert (await breed_store.breeds.get_latents("b1", 0)).tobytes() == make_latents(seed=winner).tobytes()
    assert await breed_store.breeds.get_artifact("b1", 0, "n") == str(winner).encode()


async def test_generation_write_races_with_breed_updates_without_losing_either(
    breed_store: AnyStore,
) -> None:
    await asyncio.gather(
        breed_store.breeds.write_generation(make_generation("b1", 0), make_latents(), {}),
        breed_store.breeds.update("b1", status="voting"),
        breed_store.breeds.update("b1", vote_deadline=10.0),
    )
    breed = await breed_store.breeds.get("b1")
    assert breed is not None
    assert (breed.generation, breed.status, breed.vote_deadline) == (0, "voting", 10.0)


async def test_writing_a_generation_of_a_missing_breed_raises_and_writes_nothing(store: AnyStore) -> None:
    with pytest.raises(KeyError):
        await store.breeds.write_generation(make_generation("ghost", 0), make_latents(), {"a": b"a"})
    assert await store.breeds.get_generation("ghost", 0) is None
    assert await store.breeds.get_artifact("ghost", 0, "a") is None


async def test_artifacts_are_gone_after_their_ttl_but_generation_and_latents_stay(
    store_with: StoreWith, advance: Advance
) -> None:
    store = store_with(artifact_ttl_s=0.05)
    await store.breeds.create(make_breed("b1"))
    await store.breeds.write_generation(make_generation("b1", 0), make_latents(), {"roll.png": b"png"})
    await store.breeds.add_artifacts("b1", 0, {"winner.mid": b"mid"})
    await store.breeds.add_artifacts("b1", 0, {"kept.mid": b"kept"}, keep=True)
    await advance(0.2)
    assert await store.breeds.get_artifact("b1", 0, "roll.png") is None
    assert await store.breeds.get_artifact("b1", 0, "winner.mid") is None
    assert await store.breeds.get_artifact("b1", 0, "kept.mid") == b"kept"
    assert await store.breeds.get_generation("b1", 0) == make_generation("b1", 0)
    assert (await store.breeds.get_latents("b1", 0)).tobytes() == make_latents().tobytes()


async def test_add_artifacts_overwrites_and_adds(breed_store: AnyStore) -> None:
    await breed_store.breeds.write_generation(make_generation("b1", 0), make_latents(), {"roll.png": b"old"})
    await breed_store.breeds.add_artifacts("b1", 0, {"roll.png": b"new", "morph.ogg": b"ogg"})
    await breed_store.breeds.add_artifacts("b1", 0, {"morph.ogg": b"ogg"})
    assert await breed_store.breeds.get_artifact("b1", 0, "roll.png") == b"new"
    assert await breed_store.breeds.get_artifact("b1", 0, "morph.ogg") == b"ogg"


async def test_upload_round_trips_and_expires(store: AnyStore, advance: Advance) -> None:
    midi = bytes(range(256)) * 4
    token = await store.breeds.save_upload(midi)
    assert await store.breeds.load_upload(token) == midi
    assert await store.breeds.save_upload(midi) != token

    short = await store.breeds.save_upload(b"MThd", ttl_s=0.05)
    await advance(0.2)
    assert await store.breeds.load_upload(short) is None
    assert await store.breeds.load_upload(token) == midi
    assert await store.breeds.load_upload("no-such-token") is None


async def test_oversized_or_too_many_artifacts_are_refused_whole(
    breed_store: AnyStore,
) -> None:
    with pytest.raises(ValueError, match="larger than 8 MiB"):
        await breed_store.breeds.add_artifacts("b1", 0, {"small": b"x", "huge": b"x" * (MAX_ARTIFACT_BYTES + 1)})
    with pytest.raises(ValueError, match="at most 64"):
        too_many = {f"f{i}": b"x" for i in range(MAX_ARTIFACTS_PER_GENERATION + 1)}
        await breed_store.breeds.add_artifacts("b1", 0, too_many)
    assert await breed_store.breeds.get_artifact("b1", 0, "small") is None
