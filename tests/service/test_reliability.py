"""The service under faults: a lock that outlives its lease, concurrent starts, a job of a newer version."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from domain.errors import BreedError
from domain.limits import ServerLimits
from domain.model import Breed, BreedParams
from service.breeding import BreedingService, Place
from service.events import EventConsumer, EventHandler
from storage import BreedStore
from storage.codec import Event
from storage.locks import lock_key
from storage.streams import BOTS_GROUP, EVENTS, EventStream
from tests.support.service import NOW, OWNER, voting_breed
from tests.support.waiting import wait_for


async def test_an_announce_that_outlasts_the_locks_lease_keeps_the_breed_locked(store: BreedStore) -> None:
    first, second = BreedingService(store, lambda: NOW), BreedingService(store, lambda: NOW)
    # The lease is renewed every third of it: a loaded machine has most of a second to spare.
    first.lock_lease_s = second.lock_lease_s = 1.2
    await voting_breed(first)
    order: list[str] = []

    announcing = asyncio.Event()

    async def slow_announce(breed: Breed, fitness: tuple[int, ...]) -> None:
        # Uploads under a rate limit: the announce lasts until the lease was renewed four times, by then
        # held past its first lease (renewals come every third of it), however slow the machine.
        announcing.set()
        renewals, last_ttl = 0, await store.redis.pttl(lock_key("b1"))

        async def renewed_four_times() -> bool:
            nonlocal renewals, last_ttl
            ttl = await store.redis.pttl(lock_key("b1"))
            renewals, last_ttl = renewals + (ttl > last_ttl), ttl
            return renewals >= 4

        await wait_for(renewed_four_times, what="four renewals of the breed's lease", interval=0.02)
        order.append("announced")

    async def stop_meanwhile() -> None:
        await asyncio.wait_for(announcing.wait(), 60)  # the first holds the breed's lock now
        await second.stop("b1", OWNER)  # another process (its own in-process lock)
        order.append("stopped")

    await asyncio.gather(first.close_voting("b1", OWNER, announce=slow_announce), stop_meanwhile())
    assert order == ["announced", "stopped"]
    assert (await store.breeds.get("b1")).status == "stopped"


async def test_concurrent_starts_cannot_pass_the_servers_limit(store: BreedStore) -> None:
    service = BreedingService(store, lambda: NOW, limits=ServerLimits(open_per_server=1))

    async def announce(breed_id: str) -> Place:
        await asyncio.sleep(0.2)  # Discord makes the start post and its thread
        return Place(guild_id=9, channel_id=8, thread_id=hash(breed_id) % 1000, progress_message_id=1)

    async def start(owner: int) -> Breed | str:
        try:
            return await service.start(owner_id=owner, params=BreedParams(), place=Place(guild_id=9),
                                       announce=announce, front="discord")
        except BreedError as error:
            return str(error)

    outcomes = await asyncio.gather(start(1), start(2), start(3))
    started = [outcome for outcome in outcomes if isinstance(outcome, Breed)]
    assert len(started) == 1
    assert len(await store.breeds.open_breeds()) == 1
    assert sorted(o for o in outcomes if isinstance(o, str)) == [
        "This server has 1 open breeds, the most it may have at once: finish or stop one first."] * 2


async def test_a_start_whose_announce_failed_does_not_spend_the_cooldown(store: BreedStore) -> None:
    service = BreedingService(store, lambda: NOW, limits=ServerLimits(start_cooldown_s=600))

    async def broken(breed_id: str) -> Place:
        raise BreedError("I cannot run a breed here: I need Send Messages.")

    with pytest.raises(BreedError, match="Send Messages"):
        await service.start(owner_id=1, params=BreedParams(), place=Place(guild_id=9), announce=broken, front="discord")
    breed = await service.start(owner_id=1, params=BreedParams(), place=Place(guild_id=9), front="discord")
    assert breed.status == "starting"
    with pytest.raises(BreedError, match="^Slow down: you can start another breed in 600 s.$"):
        await service.start(owner_id=1, params=BreedParams(), place=Place(guild_id=9), front="discord")


async def run_consumer_until(consumer: EventConsumer, check: Callable[[], bool], what: str) -> None:
    """Run the consumer until `check()` holds (failing after a minute), then stop it."""
    task = asyncio.create_task(consumer.run())
    try:
        await wait_for(lambda: task.done() or check(), timeout=60, what=what)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 60)


def counting_reads(streams: EventStream, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time `streams` reads events: how often a consumer has looked."""
    reads: list[int] = []
    read_events = streams.read_events

    async def counted(*args, **kwargs):
        reads.append(1)
        return await read_events(*args, **kwargs)

    monkeypatch.setattr(streams, "read_events", counted)
    return reads


async def test_a_second_bot_process_leaves_the_events_another_one_is_handling(
    store: BreedStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await store.streams.events.publish_event(Event("progress", "b1", 0, stage="evolving"))
    assert len(await store.streams.events.read_events("bot-a", block_ms=None,
                                                      front="discord")) == 1  # bot a is handling it now
    seen: list[Event] = []
    reads = counting_reads(store.streams.events, monkeypatch)
    second = EventConsumer(store.streams.events, _record(seen), "bot-b", block_ms=50, retry_idle_ms=5_000,
                           front="discord")
    # Its own pending events, its claim of idle ones, then blocking reads of new ones: it had its chances.
    await run_consumer_until(second, lambda: len(reads) >= 4, "the second bot to read events a few times")
    assert seen == []
    pending = await store.redis.xpending_range(EVENTS, BOTS_GROUP, "-", "+", 10)
    assert [entry["consumer"] for entry in pending] == [b"bot-a"]


async def test_the_events_of_a_bot_process_that_died_are_taken_over_once_idle(store: BreedStore) -> None:
    await store.streams.events.publish_event(Event("progress", "b1", 0, stage="evolving"))
    await store.streams.events.read_events("bot-a", block_ms=None, front="discord")  # and then bot a died
    seen: list[Event] = []
    consumer = EventConsumer(store.streams.events, _record(seen), "bot-b", block_ms=50, retry_idle_ms=300,
                             front="discord")
    await run_consumer_until(consumer, lambda: bool(seen), "the event to be taken over")
    assert [(event.type, event.stage) for event in seen] == [("progress", "evolving")]


async def test_a_bot_restarted_under_its_name_handles_what_it_had_read_at_once(store: BreedStore) -> None:
    await store.streams.events.publish_event(Event("progress", "b1", 0, stage="evolving"))
    await store.streams.events.read_events("bot-a", block_ms=None, front="discord")
    seen: list[Event] = []
    consumer = EventConsumer(store.streams.events, _record(seen), "bot-a", block_ms=50, retry_idle_ms=60_000,
                             front="discord")
    await run_consumer_until(consumer, lambda: bool(seen), "the event it had read")
    assert len(seen) == 1


def _record(seen: list[Event]) -> EventHandler:
    async def handle(event: Event) -> None:
        seen.append(event)

    return handle


async def test_only_a_failed_step_of_the_breeds_state_reverts_it(store: BreedStore) -> None:
    service = BreedingService(store, lambda: NOW)
    await voting_breed(service)
    await service.close_voting("b1", OWNER)  # evolving: an evolve job reads generation 1
    told: list[str] = []

    async def post(before: Breed, after: Breed) -> None:
        told.append(after.status)

    others = (("remix", 0), ("morph", 0), ("tree", 0), ("compose", -1), ("finish", 0), ("start", -1), ("evolve", 3))
    for job, generation in others:
        assert await service.results.step_failed("b1", post, job=job, generation=generation) is None, job
    assert told == [] and (await store.breeds.get("b1")).status == "evolving"
    after = await service.results.step_failed("b1", post, job="evolve", generation=0)
    assert after is not None and after.status == "voting" and told == ["voting"]
