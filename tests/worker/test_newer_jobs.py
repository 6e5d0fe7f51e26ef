"""A job from a newer version (an unknown type or field) is refused naming its breed, kind and generation."""

from __future__ import annotations

import json

import pytest

from storage.streams import JOBS

pytestmark = pytest.mark.slow


async def refused(store, worker, redis_client, payload: dict) -> object:
    await redis_client.xadd(JOBS, {"payload": json.dumps({"v": 1, **payload}).encode()})
    deliveries = await store.streams.jobs.read_jobs(worker.consumer, count=1, block_ms=1000)
    await worker.handle(deliveries[0])
    events = [d.payload for d in await store.streams.events.read_events("test-bot", count=10, block_ms=None,
                                                                        front="discord")]
    assert [event.type for event in events] == ["error"]
    return events[0]


async def test_a_job_of_an_unknown_type_is_refused_with_its_kind(store, worker, redis_client):
    error = await refused(store, worker, redis_client, {"type": "remix", "breed_id": "b1", "generation": 2})
    assert (error.breed_id, error.job, error.generation) == ("b1", "remix", 2)
    assert "could not read" in error.message


async def test_a_morph_with_an_unknown_field_is_refused_as_that_morph(store, worker, redis_client):
    error = await refused(store, worker, redis_client, {"type": "morph", "breed_id": "b1", "generation": 1,
                                                        "candidate": 0, "other": 3, "speed": 2})
    assert (error.job, error.generation, error.candidate, error.other) == ("morph", 1, 0, 3)
