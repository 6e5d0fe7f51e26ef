"""The bot's background work: vote deadline timers, background tasks, the events loop over real Redis."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from service.events import MAX_DELIVERIES, EventConsumer
from service.tasks import BackgroundTasks
from service.timers import VoteTimers
from storage import BreedStore, connect
from storage.codec import Event
from storage.streams import BOTS_GROUP, EVENTS
from tests.support.waiting import wait_for


class Closings:
    """Records what the timers closed, and when."""

    def __init__(self) -> None:
        self.closed: list[tuple[str, int]] = []
        self.fired = asyncio.Event()
        self.fired_at = 0.0

    async def __call__(self, breed_id: str, generation: int) -> None:
        self.closed.append((breed_id, generation))
        self.fired_at = time.time()
        self.fired.set()


@pytest.fixture
async def tasks():
    background = BackgroundTasks()
    yield background
    await background.cancel_all()


async def test_a_timer_closes_voting_at_its_deadline_and_not_before(tasks) -> None:
    closings = Closings()
    timers = VoteTimers(tasks, time.time, closings)
    deadline = time.time() + 0.2
    timers.arm("b1", 3, deadline)
    assert closings.closed == [] and timers.armed("b1")
    await asyncio.wait_for(closings.fired.wait(), 60)
    assert closings.fired_at >= deadline
    assert closings.closed == [("b1", 3)] and not timers.armed("b1")


async def test_a_deadline_that_passed_while_the_bot_was_down_fires_at_once(tasks) -> None:
    closings = Closings()
    VoteTimers(tasks, time.time, closings).arm("b1", 0, time.time() - 3600)
    await asyncio.wait_for(closings.fired.wait(), 60)
    assert closings.closed == [("b1", 0)]


async def test_re_arming_replaces_the_old_deadline_and_cancel_disarms(tasks) -> None:
    closings = Closings()
    timers = VoteTimers(tasks, time.time, closings)
    timers.arm("b1", 0, time.time() + 0.05)
    timers.arm("b1", 1, time.time() + 0.1)
    timers.arm("b2", 0, time.time() + 0.05)
    timers.cancel("b2")
    # The replaced and the cancelled deadlines were earlier: had either survived, it would have fired first.
    await asyncio.wait_for(closings.fired.wait(), 60)
    assert closings.closed == [("b1", 1)] and not timers.armed("b1") and not timers.armed("b2")
    await wait_for(lambda: len(tasks) == 0, what="the timers' tasks to end")


async def test_a_timer_that_cancels_its_own_breed_while_closing_still_finishes(tasks) -> None:
    finished = asyncio.Event()

    async def close(breed_id: str, generation: int) -> None:
        timers.cancel(breed_id)  # what the controller does after closing, also when the timer closes
        await asyncio.sleep(0)
        finished.set()

    timers = VoteTimers(tasks, time.time, close)
    timers.arm("b1", 0, time.time())
    await asyncio.wait_for(finished.wait(), 60)


async def test_a_failing_background_task_is_logged_not_lost(tasks, caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    task = tasks.spawn(broken(), name="broken job")
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert "background task broken job failed" in caplog.text and "boom" in caplog.text
    assert len(tasks) == 0


# --- the events loop -------------------------------------------------------------------------


class Handler:
    def __init__(self, failures: int = 0) -> None:
        self.seen: list[Event] = []
        self.failures = failures

    async def __call__(self, event: Event) -> None:
        self.seen.append(event)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("Discord is down")


async def pending(store: BreedStore) -> int:
    return (await store.redis.xpending(EVENTS, BOTS_GROUP))["pending"]


class Running:
    """An EventConsumer's loop as a task, stopped the way the bot stops it."""

    def __init__(self, store: BreedStore, handler: Handler) -> None:
        self.consumer = EventConsumer(store.streams.events, handler, "bot", block_ms=50, front="discord")
        self.task = asyncio.create_task(self.consumer.run())

    async def stop(self) -> None:
        self.consumer.stop()
        await asyncio.wait_for(self.task, 60)


async def test_events_are_handled_in_order_and_acknowledged(store: BreedStore) -> None:
    handler = Handler()
    running = Running(store, handler)
    try:
        for generation in range(3):
            await store.streams.events.publish_event(Event("generation_ready", "b1", generation))

        async def all_seen() -> bool:
            return len(handler.seen) == 3 and await pending(store) == 0

        await wait_for(all_seen)
        assert [event.generation for event in handler.seen] == [0, 1, 2]
    finally:
        await running.stop()


async def test_events_a_dead_bot_read_but_never_acknowledged_are_handled_on_start(store: BreedStore) -> None:
    await store.streams.events.publish_event(Event("finished", "b1", 4))
    assert len(await store.streams.events.read_events("bot", count=10, block_ms=None,
                                                      front="discord")) == 1  # then the bot died
    handler = Handler()
    running = Running(store, handler)
    try:
        async def handled() -> bool:
            return len(handler.seen) == 1 and await pending(store) == 0

        await wait_for(handled)
        assert handler.seen == [Event("finished", "b1", 4)]
    finally:
        await running.stop()


async def test_stopping_the_events_loop_ends_it_after_the_read_in_hand(store: BreedStore) -> None:
    running = Running(store, Handler())
    # Stop while the loop is blocked in its read, the case that must not wait for the block to end.
    await wait_for(lambda: _blocked_in(store, "xreadgroup"))
    started = time.monotonic()
    await running.stop()
    assert time.monotonic() - started < 2


async def test_a_failing_event_is_kept_for_a_retry_and_dead_lettered_after_the_last_delivery(
    store: BreedStore,
) -> None:
    handler = Handler(failures=MAX_DELIVERIES)
    consumer = EventConsumer(store.streams.events, handler, "bot", front="discord")
    await store.streams.events.publish_event(Event("progress", "b1", 0, stage="rendering"))
    [delivery] = await store.streams.events.read_events("bot", count=1, block_ms=None, front="discord")
    assert delivery.deliveries == 1

    for attempt in range(1, MAX_DELIVERIES):
        await consumer.deliver(delivery)
        assert len(handler.seen) == attempt and await pending(store) == 1
        # Redis counts each hand-out: a reclaim of the idle event is the next delivery.
        [delivery] = await store.streams.events.claim_stale_events("bot", 0, count=1, front="discord")
        assert delivery.deliveries == attempt + 1
    await consumer.deliver(delivery)
    assert len(handler.seen) == MAX_DELIVERIES and await pending(store) == 0
    [letter] = await store.streams.jobs.dead_letters()
    assert letter["stream"] == EVENTS and letter["reason"] == "its handler failed on every delivery"


async def test_an_event_that_crashed_the_bot_too_often_is_dead_lettered_unhandled(store: BreedStore) -> None:
    handler = Handler()
    await store.streams.events.publish_event(Event("progress", "b1", 0, stage="rendering"))
    await store.streams.events.read_events("bot", count=1, block_ms=None, front="discord")
    for _ in range(MAX_DELIVERIES):  # each time the bot died before it could ack
        [delivery] = await store.streams.events.claim_stale_events("bot", 0, count=1, front="discord")
    await EventConsumer(store.streams.events, handler, "bot", front="discord").deliver(delivery)
    assert handler.seen == [] and await pending(store) == 0
    assert "handed out 4 times" in (await store.streams.jobs.dead_letters())[0]["reason"]


async def test_an_unreadable_event_is_dead_lettered(store: BreedStore) -> None:
    await store.redis.xadd(EVENTS, {b"payload": b"{not json"})
    handler = Handler()
    [delivery] = await store.streams.events.read_events("bot", count=1, block_ms=None, front="discord")
    await EventConsumer(store.streams.events, handler, "bot", front="discord").deliver(delivery)
    assert handler.seen == [] and await pending(store) == 0
    assert (await store.streams.jobs.dead_letters())[0]["reason"].startswith("unreadable event: not JSON")


async def test_the_events_loop_outlives_a_redis_restart(redis_server_factory, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="service.events")
    server = redis_server_factory()
    port, data_dir = server.port, server.data_dir
    store = BreedStore(connect(server.url))
    await store.streams.ensure_groups()
    handler = Handler()
    running = Running(store, handler)
    try:
        await store.streams.events.publish_event(Event("progress", "b1", 0, stage="evolving"))
        await wait_for(lambda: len(handler.seen) == 1)

        server.stop()
        await wait_for(lambda: "Redis is unreachable" in caplog.text)
        redis_server_factory(data_dir, port=port)
        await wait_for(_publish_when_up(store))
        await wait_for(lambda: len(handler.seen) == 2)
        assert handler.seen[-1] == Event("progress", "b1", 1, stage="rendering")
        assert not running.task.done()
        await wait_for(lambda: "Redis is back" in caplog.text)
        assert caplog.text.count("Redis is unreachable") == 1  # once per outage, not once per retry
    finally:
        await running.stop()
        await store.close()


async def _blocked_in(store: BreedStore, command: str) -> bool:
    return any(client.get("cmd") == command and "b" in client.get("flags", "")
               for client in await store.redis.client_list())


def _publish_when_up(store: BreedStore):
    async def publish() -> bool:
        try:
            await store.streams.events.publish_event(Event("progress", "b1", 1, stage="rendering"))
        except Exception:  # noqa: BLE001 - Redis is still coming back
            return False
        return True

    return publish
