"""The jobs stream: each job read once by one worker, held until acknowledged, reclaimed from a worker that
died, dead-lettered with its reason, queued once while the same job waits or runs, counted for the queue's
bound, and never trimmed while someone still holds it (both stores)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from domain.jobs import EvolveJob, MorphJob, StartJob
from storage import Delivery, streams
from storage.codec import Event, dump
from storage.streams import JOBS
from tests.support.stores import Advance, AnyStore


async def test_a_job_is_read_once_and_held_until_acknowledged(store: AnyStore, advance: Advance) -> None:
    job = EvolveJob(breed_id="b1", generation=2, fitness=(1, 0, 3), sigma=0.4)
    message_id = await store.streams.jobs.enqueue_job(job)

    [delivery] = await store.streams.jobs.read_jobs("w1", block_ms=None)
    assert delivery == Delivery(message_id=message_id, raw=dump(job), payload=job, error=None)
    assert await store.streams.jobs.read_jobs("w1", block_ms=None) == []
    assert await store.streams.jobs.queued_jobs() == 1

    assert await store.streams.jobs.ack_job(message_id) is True
    assert await store.streams.jobs.ack_job(message_id) is False
    assert await store.streams.jobs.queued_jobs() == 0
    await advance(0.15)
    assert await store.streams.jobs.claim_stale_jobs("w2", min_idle_ms=100) == []


async def test_the_workers_share_the_jobs_without_overlap(store: AnyStore) -> None:
    ids = [await store.streams.jobs.enqueue_job(StartJob(breed_id=f"b{i}")) for i in range(4)]
    first = await store.streams.jobs.read_jobs("w1", count=2, block_ms=None)
    second = await store.streams.jobs.read_jobs("w2", count=10, block_ms=None)
    assert [d.message_id for d in first + second] == ids


async def test_a_read_with_nothing_there_returns_nothing_after_its_wait(store: AnyStore) -> None:
    started = time.monotonic()
    assert await store.streams.jobs.read_jobs("w1", block_ms=100) == []
    assert time.monotonic() - started >= 0.09


async def test_a_dead_lettered_job_is_recorded_with_its_reason_and_acknowledged(
    store: AnyStore, advance: Advance
) -> None:
    await store.streams.jobs.enqueue_job(StartJob(breed_id="b1"))
    [delivery] = await store.streams.jobs.read_jobs("w1", block_ms=None)
    before = time.time()
    await store.streams.jobs.dead_letter(delivery, "the seed is gone")

    [record] = await store.streams.jobs.dead_letters()
    assert (record["id"], record["stream"], record["raw"], record["reason"]) == (
        delivery.message_id, JOBS, delivery.raw, "the seed is gone")
    assert before - 1 <= record["time"] <= time.time() + 1
    assert await store.streams.jobs.queued_jobs() == 0
    await advance(0.15)
    assert await store.streams.jobs.claim_stale_jobs("w2", min_idle_ms=100) == []


async def test_dead_letters_come_newest_first_and_are_limited(store: AnyStore) -> None:
    for i in range(5):
        await store.streams.jobs.enqueue_job(StartJob(breed_id=f"b{i}"))
    for delivery in await store.streams.jobs.read_jobs("w1", count=5, block_ms=None):
        await store.streams.jobs.dead_letter(delivery, f"reason {delivery.payload.breed_id}")
    assert [r["reason"] for r in await store.streams.jobs.dead_letters(limit=2)] == ["reason b4", "reason b3"]


async def test_a_job_a_worker_did_not_acknowledge_is_reclaimed_once_idle(store: AnyStore, advance: Advance) -> None:
    message_id = await store.streams.jobs.enqueue_job(EvolveJob(breed_id="b1", generation=0, fitness=(1, 2)))
    [taken] = await store.streams.jobs.read_jobs("crashed", block_ms=None)

    assert await store.streams.jobs.claim_stale_jobs("rescuer", min_idle_ms=60_000) == []
    await advance(0.15)
    [reclaimed] = await store.streams.jobs.claim_stale_jobs("rescuer", min_idle_ms=100)

    assert reclaimed == dataclasses.replace(taken, deliveries=2) and reclaimed.message_id == message_id
    await store.streams.jobs.ack_job(reclaimed.message_id)
    await advance(0.15)
    assert await store.streams.jobs.claim_stale_jobs("rescuer", min_idle_ms=100) == []


async def test_a_claim_takes_at_most_its_count_and_a_later_claim_the_rest(store: AnyStore, advance: Advance) -> None:
    for i in range(6):
        await store.streams.jobs.enqueue_job(StartJob(breed_id=f"b{i}"))
    await store.streams.jobs.read_jobs("crashed", count=6, block_ms=None)
    await advance(0.15)
    first = await store.streams.jobs.claim_stale_jobs("rescuer", min_idle_ms=100, count=4)
    rest = await store.streams.jobs.claim_stale_jobs("other", min_idle_ms=100, count=4)
    assert len(first) == 4 and len(rest) == 2
    assert {d.payload.breed_id for d in first + rest} == {f"b{i}" for i in range(6)}


async def test_events_do_not_reach_the_workers(store: AnyStore) -> None:
    await store.streams.events.publish_event(Event(type="generation_ready", breed_id="b1", generation=3))
    assert await store.streams.jobs.read_jobs("w1", block_ms=None) == []
    assert await store.streams.jobs.queued_jobs() == 0


async def test_a_lease_holds_a_job_only_while_its_worker_holds_it(store: AnyStore, advance: Advance) -> None:
    from storage.streams import LeaseLost

    await store.streams.jobs.enqueue_job(StartJob(breed_id="b1"))
    [delivery] = await store.streams.jobs.read_jobs("w1", block_ms=None)
    async with store.streams.jobs.job_lease(delivery.message_id, "w1", timeout_ms=60_000) as lease:
        await lease.confirm()
        await advance(0.15)
        assert await lease.renew() is True
        assert await store.streams.jobs.claim_stale_jobs("w2", min_idle_ms=100) == []  # renewed: not idle
        await advance(0.15)
        assert len(await store.streams.jobs.claim_stale_jobs("w2", min_idle_ms=100)) == 1  # taken over
        with pytest.raises(LeaseLost):
            await lease.confirm()
        assert lease.lost


async def test_queued_jobs_counts_the_waiting_and_the_held(store: AnyStore) -> None:
    assert await store.streams.jobs.queued_jobs() == 0
    for i in range(5):
        await store.streams.jobs.enqueue_job(StartJob(breed_id=f"b{i}"))
    first, _second = await store.streams.jobs.read_jobs("w1", count=2, block_ms=None)
    await store.streams.jobs.ack_job(first.message_id)
    assert await store.streams.jobs.queued_jobs() == 4


async def test_the_same_job_is_queued_once_until_it_is_done(store: AnyStore) -> None:
    morph = MorphJob(breed_id="b1", generation=0, candidate=0, other=1, steps=5)
    message_id = await store.streams.jobs.enqueue_unique_job(morph)
    assert message_id is not None
    assert await store.streams.jobs.enqueue_unique_job(morph) is None
    other_pair = dataclasses.replace(morph, other=2)
    assert await store.streams.jobs.enqueue_unique_job(other_pair) is not None
    [delivery, second] = await store.streams.jobs.read_jobs("w1", count=2, block_ms=None)
    assert await store.streams.jobs.enqueue_unique_job(morph) is None  # held by a worker: still pending
    await store.streams.jobs.ack_job(delivery.message_id, delivery.raw)
    assert await store.streams.jobs.enqueue_unique_job(morph) is not None
    await store.streams.jobs.dead_letter(second, "failed")
    assert await store.streams.jobs.enqueue_unique_job(other_pair) is not None


async def test_jobs_in_flight_are_the_waiting_and_the_held(store: AnyStore) -> None:
    jobs = [StartJob(breed_id=f"b{i}") for i in range(4)]
    for job in jobs:
        await store.streams.jobs.enqueue_job(job)
    done, held = await store.streams.jobs.read_jobs("w1", count=2, block_ms=None)
    await store.streams.jobs.ack_job(done.message_id)
    assert held.payload == jobs[1]
    assert await store.streams.jobs.jobs_in_flight() == jobs[1:]


async def test_a_breeds_state_change_and_the_job_it_asks_for_are_stored_together(store: AnyStore) -> None:
    from tests.storage.factories import make_breed

    await store.breeds.create(make_breed("b1"), StartJob(breed_id="b1"))
    await store.breeds.update("b1", status="evolving", job=EvolveJob("b1", 0, fitness=(1, 0, 0, 2)))
    with pytest.raises(KeyError):
        await store.breeds.update("ghost", status="evolving", job=EvolveJob("ghost", 0, fitness=(1,)))
    assert await store.streams.jobs.jobs_in_flight() == [StartJob("b1"), EvolveJob("b1", 0, fitness=(1, 0, 0, 2))]


async def test_a_flood_of_jobs_never_trims_one_nobody_has_acknowledged(
    store: AnyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams.log, "TRIM_EVERY", 10)
    ids = [await store.streams.jobs.enqueue_job(StartJob(breed_id=f"b{i}")) for i in range(300)]
    held = await store.streams.jobs.read_jobs("w1", count=150, block_ms=None)
    for delivery in held[:100]:
        await store.streams.jobs.ack_job(delivery.message_id)
    # Trimmed up to the oldest job still held: the 100 acknowledged went, the held and the unread stay.
    assert await store.streams.jobs.trim() == 0
    assert await store.streams.jobs.queued_jobs() == 200
    unread = await store.streams.jobs.read_jobs("w1", count=1000, block_ms=None)
    assert [d.message_id for d in unread] == ids[150:]
    reclaimed = await store.streams.jobs.claim_stale_jobs("w2", min_idle_ms=0, count=300)
    assert [d.message_id for d in reclaimed] == ids[100:]


async def test_events_are_trimmed_up_to_the_slowest_group_that_reads_them(
    store: AnyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams.log, "TRIM_EVERY", 1_000_000)  # trimmed here, by hand only
    for i in range(50):
        await store.streams.events.publish_event(Event(type="progress", breed_id=f"b{i}"))
    for delivery in await store.streams.events.read_events("bot1", count=100, block_ms=None, front="discord"):
        await store.streams.events.ack_event(delivery.message_id, front="discord")
    # The web page never read here (its group has no consumer): it holds nothing back.
    assert await store.streams.events.trim() == 49
    [seen] = await store.streams.events.read_events("web1", count=5, block_ms=None, front="web")
    await store.streams.events.ack_event(seen.message_id, front="web")
    for i in range(20):
        await store.streams.events.publish_event(Event(type="progress", breed_id=f"c{i}"))
    web = await store.streams.events.read_events("web1", count=10, block_ms=None, front="web")
    for delivery in web[:5]:
        await store.streams.events.ack_event(delivery.message_id, front="web")
    # The web page holds the five it read and did not acknowledge, and the ten it has not read.
    for delivery in await store.streams.events.read_events("bot1", count=100, block_ms=None, front="discord"):
        await store.streams.events.ack_event(delivery.message_id, front="discord")
    assert await store.streams.events.trim() == 1 + 5
    assert await store.streams.events.trim() == 0
    assert len(await store.streams.events.read_events("web1", count=100, block_ms=None, front="web")) == 10
