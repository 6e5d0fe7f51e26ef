"""The job and event streams: delivery, acks, malformed messages, dead letters and reclaiming."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from redis.asyncio import Redis

from domain.jobs import EvolveJob, Job, MorphJob, StartJob
from storage import BreedStore, Delivery, streams
from storage.codec import Event, dump
from storage.streams import BOTS_GROUP, EVENTS, JOBS, WORKERS_GROUP
from tests.support.waiting import let_pass


async def _pending(redis_client: Redis, stream: str, group: str) -> int:
    return int((await redis_client.xpending(stream, group))["pending"])


async def test_enqueued_job_is_read_once_and_pending_until_acked(
    store: BreedStore, redis_client: Redis
) -> None:
    job = EvolveJob(breed_id="b1", generation=2, fitness=(1, 0, 3), sigma=0.4)
    message_id = await store.streams.enqueue_job(job)

    [delivery] = await store.streams.read_jobs("w1", block_ms=None)
    assert delivery == Delivery(message_id=message_id, raw=dump(job), payload=job, error=None)
    assert await store.streams.read_jobs("w1", block_ms=None) == []
    assert await _pending(redis_client, JOBS, WORKERS_GROUP) == 1

    assert await store.streams.ack_job(message_id) is True
    assert await store.streams.ack_job(message_id) is False
    assert await _pending(redis_client, JOBS, WORKERS_GROUP) == 0


async def test_consumers_of_the_group_share_the_jobs_without_overlap(store: BreedStore) -> None:
    ids = [await store.streams.enqueue_job(StartJob(breed_id=f"b{i}")) for i in range(4)]
    first = await store.streams.read_jobs("w1", count=2, block_ms=None)
    second = await store.streams.read_jobs("w2", count=10, block_ms=None)
    assert [d.message_id for d in first + second] == ids


async def test_read_waits_for_a_job_enqueued_while_blocking(store: BreedStore, redis_client: Redis) -> None:
    reader = asyncio.create_task(store.streams.read_jobs("w1", block_ms=5000))
    # The read is blocked in Redis (a client in XREADGROUP with the blocked flag) before the job exists.
    await _until_blocked(redis_client, "xreadgroup")
    assert not reader.done()
    await store.streams.enqueue_job(StartJob(breed_id="late"))
    [delivery] = await asyncio.wait_for(reader, timeout=60)
    assert isinstance(delivery.payload, Job) and delivery.payload.breed_id == "late"


async def test_read_with_nothing_there_returns_empty_after_the_block(store: BreedStore) -> None:
    started = time.monotonic()
    assert await store.streams.read_jobs("w1", block_ms=100) == []
    assert time.monotonic() - started >= 0.09


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
    await store.streams.enqueue_job(good)

    deliveries = await store.streams.read_jobs("w1", count=10, block_ms=None)
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
    [delivery] = await store.streams.read_jobs("w1", block_ms=None)
    before = time.time()

    await store.streams.dead_letter(delivery, f"bad payload: {delivery.error}")

    [record] = await store.streams.dead_letters()
    assert record["id"] == delivery.message_id
    assert record["raw"] == "garbage"
    assert record["reason"].startswith("bad payload: not JSON")
    assert before - 1 <= record["time"] <= time.time() + 1
    assert await _pending(redis_client, JOBS, WORKERS_GROUP) == 0


async def test_dead_letters_come_newest_first_and_are_limited(store: BreedStore) -> None:
    for i in range(5):
        await store.streams.enqueue_job(StartJob(breed_id=f"b{i}"))
    for delivery in await store.streams.read_jobs("w1", count=5, block_ms=None):
        await store.streams.dead_letter(delivery, f"reason {delivery.payload.breed_id}")  # type: ignore[union-attr]
    assert [r["reason"] for r in await store.streams.dead_letters(limit=2)] == ["reason b4", "reason b3"]


async def test_unacked_job_is_reclaimed_by_another_worker_after_min_idle(
    store: BreedStore, redis_client: Redis
) -> None:
    message_id = await store.streams.enqueue_job(EvolveJob(breed_id="b1", generation=0, fitness=(1, 2)))
    [taken] = await store.streams.read_jobs("crashed", block_ms=None)

    assert await store.streams.claim_stale_jobs("rescuer", min_idle_ms=60_000) == []
    await let_pass(0.15)
    [reclaimed] = await store.streams.claim_stale_jobs("rescuer", min_idle_ms=100)

    assert reclaimed == dataclasses.replace(taken, deliveries=2) and reclaimed.message_id == message_id
    [entry] = await redis_client.xpending_range(JOBS, WORKERS_GROUP, "-", "+", 10)
    assert entry["consumer"] == b"rescuer" and entry["times_delivered"] == 2
    await store.streams.ack_job(reclaimed.message_id)
    await let_pass(0.15)
    assert await store.streams.claim_stale_jobs("rescuer", min_idle_ms=100) == []


async def test_claim_respects_count_and_a_later_claim_takes_the_rest(store: BreedStore) -> None:
    for i in range(6):
        await store.streams.enqueue_job(StartJob(breed_id=f"b{i}"))
    await store.streams.read_jobs("crashed", count=6, block_ms=None)
    await let_pass(0.15)
    first = await store.streams.claim_stale_jobs("rescuer", min_idle_ms=100, count=4)
    rest = await store.streams.claim_stale_jobs("other", min_idle_ms=100, count=4)
    assert len(first) == 4 and len(rest) == 2
    assert {d.payload.breed_id for d in first + rest} == {f"b{i}" for i in range(6)}  # type: ignore[union-attr]


async def test_events_flow_to_the_bots_group_only(store: BreedStore, redis_client: Redis) -> None:
    event = Event(type="generation_ready", breed_id="b1", generation=3)
    message_id = await store.streams.publish_event(event)
    assert await store.streams.read_jobs("w1", block_ms=None) == []

    [delivery] = await store.streams.read_events("bot1", block_ms=None)
    assert delivery.payload == event and delivery.message_id == message_id
    assert await store.streams.ack_event(message_id) is True
    assert await _pending(redis_client, EVENTS, BOTS_GROUP) == 0


async def test_a_morph_event_names_its_pair_and_an_event_of_an_older_worker_still_loads(
    store: BreedStore, redis_client: Redis
) -> None:
    morph = Event(type="morph_ready", breed_id="b1", generation=2, candidate=0, other=3, steps=5)
    await store.streams.publish_event(morph)
    await redis_client.xadd(EVENTS, {"payload": b'{"v":1,"type":"error","breed_id":"b1","message":"x"}'})
    [first, second] = await store.streams.read_events("bot1", block_ms=None)
    assert first.payload == morph
    assert second.payload == Event(type="error", breed_id="b1", message="x")
    assert (second.payload.candidate, second.payload.other, second.payload.steps, second.payload.job) == (
        None, None, None, None)


async def test_unacked_event_is_reclaimed_after_min_idle(store: BreedStore) -> None:
    await store.streams.publish_event(Event(type="progress", breed_id="b1", generation=0, stage="render"))
    await store.streams.read_events("old-bot", block_ms=None)
    await let_pass(0.15)
    [reclaimed] = await store.streams.claim_stale_events("new-bot", min_idle_ms=100)
    assert isinstance(reclaimed.payload, Event) and reclaimed.payload.stage == "render"


async def test_malformed_event_is_delivered_with_an_error(store: BreedStore, redis_client: Redis) -> None:
    await redis_client.xadd(EVENTS, {"payload": b'{"v":1,"type":"start","breed_id":"b1"}'})
    [delivery] = await store.streams.read_events("bot1", block_ms=None)
    assert delivery.payload is None and "unknown event type" in (delivery.error or "")


async def test_ensure_groups_is_repeatable_and_keeps_pending_messages(
    store: BreedStore, redis_client: Redis
) -> None:
    await store.streams.enqueue_job(StartJob(breed_id="b1"))
    await store.streams.read_jobs("w1", block_ms=None)
    await store.streams.ensure_groups()
    assert await _pending(redis_client, JOBS, WORKERS_GROUP) == 1


async def test_consumers_that_hold_nothing_and_are_long_idle_are_forgotten_at_start(
    store: BreedStore, redis_client: Redis
) -> None:
    # Three bot processes that came and went: one left an event unhandled, two handled all they read.
    for consumer in ("bot-h-1", "bot-h-2", "bot-h-3"):
        await store.streams.publish_event(Event("generation_ready", "b1", 0))
        [delivery] = await store.streams.read_events(consumer, block_ms=None)
        if consumer != "bot-h-2":
            await store.streams.ack_event(delivery.message_id)
    await let_pass(0.3)
    await store.streams.publish_event(Event("generation_ready", "b1", 1))
    [delivery] = await store.streams.read_events("bot-h-4", block_ms=None)  # a live one, just now
    await store.streams.ack_event(delivery.message_id)
    await store.streams.ensure_groups(forget_idle_ms=200)

    names = {c["name"].decode() for c in await redis_client.xinfo_consumers(EVENTS, BOTS_GROUP)}
    assert names == {"bot-h-2", "bot-h-4"}  # the unhandled event waits for a claim under its reader
    assert await _pending(redis_client, EVENTS, BOTS_GROUP) == 1
    await store.streams.ensure_groups()  # by default only consumers idle for a day go
    assert len(await redis_client.xinfo_consumers(EVENTS, BOTS_GROUP)) == 2


async def test_jobs_enqueued_before_the_groups_exist_are_delivered(redis_client: Redis) -> None:
    store = BreedStore(redis_client)
    await store.streams.enqueue_job(StartJob(breed_id="early"))
    await store.streams.ensure_groups()
    [delivery] = await store.streams.read_jobs("w1", block_ms=None)
    assert delivery.payload == StartJob(breed_id="early")


async def test_reading_recreates_groups_lost_with_the_data(store: BreedStore, redis_client: Redis) -> None:
    await redis_client.flushall()
    assert await store.streams.read_jobs("w1", block_ms=None) == []
    assert await store.streams.claim_stale_events("bot1", min_idle_ms=0) == []
    await store.streams.enqueue_job(StartJob(breed_id="b1"))
    assert len(await store.streams.read_jobs("w1", block_ms=None)) == 1


async def test_a_trim_that_saw_a_job_pending_which_was_acknowledged_meanwhile_still_trims_safely(
    store: BreedStore, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "TRIM_EVERY", 1_000_000)  # trimmed here, by hand only
    for i in range(3):
        await store.streams.enqueue_job(StartJob(breed_id=f"b{i}"))
    [first] = await store.streams.read_jobs("w1", count=1, block_ms=None)
    stale = await redis_client.xinfo_groups(JOBS)  # says one job is pending
    await store.streams.ack_job(first.message_id, first.raw)

    async def as_seen_before(stream: str) -> list:
        return stale

    monkeypatch.setattr(redis_client, "xinfo_groups", as_seen_before)
    await store.streams.trim(JOBS)  # nothing pending any more: trimmed up to the last delivered
    assert [d.payload.breed_id for d in await store.streams.read_jobs("w1", count=5, block_ms=None)] == ["b1", "b2"]


async def test_a_flood_of_jobs_never_trims_one_nobody_has_acknowledged(
    store: BreedStore, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "TRIM_EVERY", 10)
    ids = [await store.streams.enqueue_job(StartJob(breed_id=f"b{i}")) for i in range(300)]
    held = await store.streams.read_jobs("w1", count=150, block_ms=None)
    for delivery in held[:100]:
        await store.streams.ack_job(delivery.message_id)
    # Trimmed up to the oldest job still held: the 100 acknowledged went, the held and the unread stay.
    assert await store.streams.trim(JOBS) == 0
    assert await redis_client.xlen(JOBS) == 200
    unread = await store.streams.read_jobs("w1", count=1000, block_ms=None)
    assert [d.message_id for d in unread] == ids[150:]
    reclaimed = await store.streams.claim_stale_jobs("w2", min_idle_ms=0, count=300)
    assert [d.message_id for d in reclaimed] == ids[100:]
    assert all(isinstance(d.payload, Job) for d in reclaimed)


async def test_events_are_trimmed_up_to_the_slowest_group_that_reads_them(
    store: BreedStore, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "TRIM_EVERY", 1_000_000)  # trimmed here, by hand only
    await store.streams.ensure_groups()
    for i in range(50):
        await store.streams.publish_event(Event(type="progress", breed_id=f"b{i}"))
    for delivery in await store.streams.read_events("bot1", count=100, block_ms=None):
        await store.streams.ack_event(delivery.message_id)
    # The web page never read here (its group has no consumer): it holds nothing back.
    assert await store.streams.trim(EVENTS) == 49
    [seen] = await store.streams.read_events("web1", count=5, block_ms=None, front="web")
    await store.streams.ack_event(seen.message_id, front="web")
    for i in range(20):
        await store.streams.publish_event(Event(type="progress", breed_id=f"c{i}"))
    web = await store.streams.read_events("web1", count=10, block_ms=None, front="web")
    for delivery in web[:5]:
        await store.streams.ack_event(delivery.message_id, front="web")
    # The web page holds the five it read and did not acknowledge, and the ten it has not read.
    for delivery in await store.streams.read_events("bot1", count=100, block_ms=None):
        await store.streams.ack_event(delivery.message_id)
    assert await store.streams.trim(EVENTS) == 1 + 5
    assert await redis_client.xlen(EVENTS) == 15
    assert len(await store.streams.read_events("web1", count=100, block_ms=None, front="web")) == 10


async def test_a_bot_gone_for_days_finds_every_event_of_its_absence_after_others_started_and_trimmed(
    store: BreedStore, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "TRIM_EVERY", 1_000_000)  # trimmed here, by hand only
    await store.streams.ensure_groups()
    await store.streams.publish_event(Event("generation_ready", "b1", 0))
    [delivery] = await store.streams.read_events("bot-h-1", block_ms=None)
    await store.streams.ack_event(delivery.message_id)
    # The bot goes away; while it is gone the worker publishes, and another process starts and forgets
    # consumers idle longer than its threshold.
    await let_pass(0.3)
    for generation in range(1, 6):
        await store.streams.publish_event(Event("generation_ready", "b1", generation))
    await store.streams.ensure_groups(forget_idle_ms=200)
    for d in await store.streams.read_events("web1", count=10, block_ms=None, front="web"):
        await store.streams.ack_event(d.message_id, front="web")  # another front end, up to date
    assert await store.streams.trim(EVENTS) == 0
    came_back = await store.streams.read_events("bot-h-2", count=10, block_ms=None)
    assert [d.payload.generation for d in came_back] == [1, 2, 3, 4, 5]
    # A front end gone for longer than ABANDONED_READER_MS holds nothing back any more.
    for d in came_back:
        await store.streams.ack_event(d.message_id)
    await store.streams.publish_event(Event("generation_ready", "b1", 6))
    monkeypatch.setattr(streams, "ABANDONED_READER_MS", 100)
    await let_pass(0.2)
    for d in await store.streams.read_events("web1", count=10, block_ms=None, front="web"):
        await store.streams.ack_event(d.message_id, front="web")
    assert await store.streams.trim(EVENTS) == 6
    assert await redis_client.xlen(EVENTS) == 1


async def test_queued_jobs_counts_the_waiting_and_the_held(store: BreedStore) -> None:
    assert await store.streams.queued_jobs() == 0
    for i in range(5):
        await store.streams.enqueue_job(StartJob(breed_id=f"b{i}"))
    first, _second = await store.streams.read_jobs("w1", count=2, block_ms=None)
    await store.streams.ack_job(first.message_id)
    assert await store.streams.queued_jobs() == 4


async def test_the_same_job_is_queued_once_until_it_is_done(store: BreedStore) -> None:
    morph = MorphJob(breed_id="b1", generation=0, candidate=0, other=1, steps=5)
    message_id = await store.streams.enqueue_unique_job(morph)
    assert message_id is not None
    assert await store.streams.enqueue_unique_job(morph) is None
    other_pair = dataclasses.replace(morph, other=2)
    assert await store.streams.enqueue_unique_job(other_pair) is not None
    [delivery, second] = await store.streams.read_jobs("w1", count=2, block_ms=None)
    assert await store.streams.enqueue_unique_job(morph) is None  # held by a worker: still pending
    await store.streams.ack_job(delivery.message_id, delivery.raw)
    assert await store.streams.enqueue_unique_job(morph) is not None
    await store.streams.dead_letter(second, "failed")
    assert await store.streams.enqueue_unique_job(other_pair) is not None


async def test_jobs_in_flight_are_the_waiting_and_the_held(store: BreedStore) -> None:
    jobs = [StartJob(breed_id=f"b{i}") for i in range(4)]
    for job in jobs:
        await store.streams.enqueue_job(job)
    done, held = await store.streams.read_jobs("w1", count=2, block_ms=None)
    await store.streams.ack_job(done.message_id)
    assert held.payload == jobs[1]
    assert await store.streams.jobs_in_flight() == jobs[1:]


def test_delivery_is_frozen() -> None:
    delivery = Delivery(message_id="1-0", raw="{}", payload=None, error="bad")
    with pytest.raises(dataclasses.FrozenInstanceError):
        delivery.error = None  # type: ignore[misc]


async def _until_blocked(redis_client: Redis, command: str, timeout_s: float = 5.0) -> None:
    """Wait until some client of the server is blocked in `command`."""
    deadline = time.monotonic() + timeout_s
    while not any(client.get("cmd") == command and "b" in client.get("flags", "")
                  for client in await redis_client.client_list()):
        assert time.monotonic() < deadline, f"no client blocked in {command}"
        await asyncio.sleep(0.01)
