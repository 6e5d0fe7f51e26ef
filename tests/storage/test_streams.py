"""The job and event streams in Redis: raw messages, blocking reads, consumers and groups as Redis keeps them,
lost data and trimming around them (the behaviour both stores share: tests/contract)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from redis.asyncio import Redis

from domain.jobs import Job, StartJob
from storage import BreedStore, Delivery, streams
from storage.codec import Event
from storage.streams import BOTS_GROUP, EVENTS, JOBS, WORKERS_GROUP
from tests.support.waiting import let_pass


async def _pending(redis_client: Redis, stream: str, group: str) -> int:
    return int((await redis_client.xpending(stream, group))["pending"])


async def test_read_waits_for_a_job_enqueued_while_blocking(store: BreedStore, redis_client: Redis) -> None:
    reader = asyncio.create_task(store.streams.jobs.read_jobs("w1", block_ms=5000))
    # The read is blocked in Redis (a client in XREADGROUP with the blocked flag) before the job exists.
    await _until_blocked(redis_client, "xreadgroup")
    assert not reader.done()
    await store.streams.jobs.enqueue_job(StartJob(breed_id="late"))
    [delivery] = await asyncio.wait_for(reader, timeout=60)
    assert isinstance(delivery.payload, Job) and delivery.payload.breed_id == "late"


async def test_malformed_messages_are_delivered_with_an_error_not_raised(
    store: BreedStore, redis_client: Redis
) -> None:
    bad = {
        "not json": b"{nope",
        "schema": b'{"v":1,"type":"explode","breed_id":"b1"}',
        "version": b'{"v":99,"type":"start","breed_id":"b1"}',
        "type error": b'{"v":1,"type":"evolve","breed_id":"b1","fitness":5}',
        "bytes": b"\xff\xfe",
    }
    for raw in bad.values():
        await redis_client.xadd(JOBS, {"payload": raw})
    await redis_client.xadd(JOBS, {"other": b"x"})
    good = StartJob(breed_id="b1")
    await store.streams.jobs.enqueue_job(good)

    deliveries = await store.streams.jobs.read_jobs("w1", count=10, block_ms=None)
    assert len(deliveries) == len(bad) + 2
    for delivery in deliveries[:-1]:
        assert delivery.payload is None
        assert delivery.error
    assert [d.raw for d in deliveries[:2]] == ["{nope", bad["schema"].decode()]
    assert "explode" in (deliveries[1].error or "")
    assert deliveries[-1].payload == good and deliveries[-1].error is None


async def test_dead_letter_records_the_reason_and_acks_the_job(
    store: BreedStore, redis_client: Redis
) -> None:
    await redis_client.xadd(JOBS, {"payload": b"garbage"})
    [delivery] = await store.streams.jobs.read_jobs("w1", block_ms=None)
    before = time.time()

    await store.streams.jobs.dead_letter(delivery, f"bad payload: {delivery.error}")

    [record] = await store.streams.jobs.dead_letters()
    assert record["id"] == delivery.message_id
    assert record["raw"] == "garbage"
    assert record["reason"].startswith("bad payload: not JSON")
    assert before - 1 <= record["time"] <= time.time() + 1
    assert await _pending(redis_client, JOBS, WORKERS_GROUP) == 0


async def test_a_morph_event_names_its_pair_and_an_event_of_an_older_worker_still_loads(
    store: BreedStore, redis_client: Redis
) -> None:
    morph = Event(type="morph_ready", breed_id="b1", generation=2, candidate=0, other=3, steps=5)
    await store.streams.events.publish_event(morph)
    await redis_client.xadd(EVENTS, {"payload": b'{"v":1,"type":"error","breed_id":"b1","message":"x"}'})
    [first, second] = await store.streams.events.read_events("bot1", block_ms=None, front="discord")
    assert first.payload == morph
    assert second.payload == Event(type="error", breed_id="b1", message="x")
    assert (second.payload.candidate, second.payload.other, second.payload.steps, second.payload.job) == (
        None, None, None, None)


async def test_malformed_event_is_delivered_with_an_error(store: BreedStore, redis_client: Redis) -> None:
    await redis_client.xadd(EVENTS, {"payload": b'{"v":1,"type":"start","breed_id":"b1"}'})
    [delivery] = await store.streams.events.read_events("bot1", block_ms=None, front="discord")
    assert delivery.payload is None and "unknown event type" in (delivery.error or "")


async def test_ensure_groups_is_repeatable_and_keeps_pending_messages(
    store: BreedStore, redis_client: Redis
) -> None:
    await store.streams.jobs.enqueue_job(StartJob(breed_id="b1"))
    await store.streams.jobs.read_jobs("w1", block_ms=None)
    await store.streams.ensure_groups()
    assert await _pending(redis_client, JOBS, WORKERS_GROUP) == 1


async def test_consumers_that_hold_nothing_and_are_long_idle_are_forgotten_at_start(
    store: BreedStore, redis_client: Redis
) -> None:
    # Three bot processes that came and went: one left an event unhandled, two handled all they read.
    for consumer in ("bot-h-1", "bot-h-2", "bot-h-3"):
        await store.streams.events.publish_event(Event("generation_ready", "b1", 0))
        [delivery] = await store.streams.events.read_events(consumer, block_ms=None, front="discord")
        if consumer != "bot-h-2":
            await store.streams.events.ack_event(delivery.message_id, front="discord")
    await let_pass(0.3)
    await store.streams.events.publish_event(Event("generation_ready", "b1", 1))
    [delivery] = await store.streams.events.read_events("bot-h-4", block_ms=None,
                                                        front="discord")  # a live one, just now
    await store.streams.events.ack_event(delivery.message_id, front="discord")
    await store.streams.ensure_groups(forget_idle_ms=200)

    names = {c["name"].decode() for c in await redis_client.xinfo_consumers(EVENTS, BOTS_GROUP)}
    assert names == {"bot-h-2", "bot-h-4"}  # the unhandled event waits for a claim under its reader
    assert await _pending(redis_client, EVENTS, BOTS_GROUP) == 1
    await store.streams.ensure_groups()  # by default only consumers idle for a day go
    assert len(await redis_client.xinfo_consumers(EVENTS, BOTS_GROUP)) == 2


async def test_jobs_enqueued_before_the_groups_exist_are_delivered(redis_client: Redis) -> None:
    store = BreedStore(redis_client)
    await store.streams.jobs.enqueue_job(StartJob(breed_id="early"))
    await store.streams.ensure_groups()
    [delivery] = await store.streams.jobs.read_jobs("w1", block_ms=None)
    assert delivery.payload == StartJob(breed_id="early")


async def test_reading_recreates_groups_lost_with_the_data(store: BreedStore, redis_client: Redis) -> None:
    await redis_client.flushall()
    assert await store.streams.jobs.read_jobs("w1", block_ms=None) == []
    assert await store.streams.events.claim_stale_events("bot1", min_idle_ms=0, front="discord") == []
    await store.streams.jobs.enqueue_job(StartJob(breed_id="b1"))
    assert len(await store.streams.jobs.read_jobs("w1", block_ms=None)) == 1


async def test_a_trim_that_saw_a_job_pending_which_was_acknowledged_meanwhile_still_trims_safely(
    store: BreedStore, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams.log, "TRIM_EVERY", 1_000_000)  # trimmed here, by hand only
    for i in range(3):
        await store.streams.jobs.enqueue_job(StartJob(breed_id=f"b{i}"))
    [first] = await store.streams.jobs.read_jobs("w1", count=1, block_ms=None)
    stale = await redis_client.xinfo_groups(JOBS)  # says one job is pending
    await store.streams.jobs.ack_job(first.message_id, first.raw)

    async def as_seen_before(stream: str) -> list:
        return stale

    monkeypatch.setattr(redis_client, "xinfo_groups", as_seen_before)
    await store.streams.jobs.trim()  # nothing pending any more: trimmed up to the last delivered
    rest = await store.streams.jobs.read_jobs("w1", count=5, block_ms=None)
    assert [d.payload.breed_id for d in rest] == ["b1", "b2"]


async def test_a_bot_gone_for_days_finds_every_event_of_its_absence_after_others_started_and_trimmed(
    store: BreedStore, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams.log, "TRIM_EVERY", 1_000_000)  # trimmed here, by hand only
    await store.streams.ensure_groups()
    await store.streams.events.publish_event(Event("generation_ready", "b1", 0))
    [delivery] = await store.streams.events.read_events("bot-h-1", block_ms=None, front="discord")
    await store.streams.events.ack_event(delivery.message_id, front="discord")
    # The bot goes away; while it is gone the worker publishes, and another process starts and forgets
    # consumers idle longer than its threshold.
    await let_pass(0.3)
    for generation in range(1, 6):
        await store.streams.events.publish_event(Event("generation_ready", "b1", generation))
    await store.streams.ensure_groups(forget_idle_ms=200)
    for d in await store.streams.events.read_events("web1", count=10, block_ms=None, front="web"):
        await store.streams.events.ack_event(d.message_id, front="web")  # another front end, up to date
    assert await store.streams.events.trim() == 0
    came_back = await store.streams.events.read_events("bot-h-2", count=10, block_ms=None, front="discord")
    assert [d.payload.generation for d in came_back] == [1, 2, 3, 4, 5]
    # A front end gone for longer than ABANDONED_READER_MS holds nothing back any more.
    for d in came_back:
        await store.streams.events.ack_event(d.message_id, front="discord")
    await store.streams.events.publish_event(Event("generation_ready", "b1", 6))
    monkeypatch.setattr(streams.events, "ABANDONED_READER_MS", 100)
    await let_pass(0.2)
    for d in await store.streams.events.read_events("web1", count=10, block_ms=None, front="web"):
        await store.streams.events.ack_event(d.message_id, front="web")
    assert await store.streams.events.trim() == 6
    assert await redis_client.xlen(EVENTS) == 1


def test_delivery_is_frozen() -> None:
    delivery = Delivery(message_id="1-0", raw="{}", payload=None, error="bad")
    with pytest.raises(dataclasses.FrozenInstanceError):
        delivery.error = None


async def _until_blocked(redis_client: Redis, command: str, timeout_s: float = 5.0) -> None:
    """Wait until some client of the server is blocked in `command`."""
    deadline = time.monotonic() + timeout_s
    while not any(client.get("cmd") == command and "b" in client.get("flags", "")
                  for client in await redis_client.client_list()):
        assert time.monotonic() < deadline, f"no client blocked in {command}"
        await asyncio.sleep(0.01)
