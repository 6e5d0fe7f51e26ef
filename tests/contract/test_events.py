"""The events stream: each front end's group sees every event once, at least once, reclaimed when its
reader died; terminal sessions' own groups; the watchdog's marks (both stores)."""

from __future__ import annotations

from storage import Delivery
from storage.codec import Event, dump
from tests.support.stores import Advance, AnyStore


async def test_an_event_is_read_once_per_front_end_and_pending_until_acknowledged(store: AnyStore) -> None:
    event = Event(type="generation_ready", breed_id="b1", generation=3)
    message_id = await store.streams.events.publish_event(event)

    [delivery] = await store.streams.events.read_events("bot1", block_ms=None, front="discord")
    assert delivery == Delivery(message_id=message_id, raw=dump(event), payload=event, error=None)
    assert await store.streams.events.read_events("bot2", block_ms=None,
                                                  front="discord") == []  # the group shares its events
    [on_web] = await store.streams.events.read_events("web1", block_ms=None, front="web")  # another group sees it too
    assert on_web.message_id == message_id

    assert await store.streams.events.ack_event(message_id, front="discord") is True
    assert await store.streams.events.ack_event(message_id, front="discord") is False
    assert await store.streams.events.ack_event(message_id, front="web") is True


async def test_events_come_in_order_up_to_the_count(store: AnyStore) -> None:
    ids = [await store.streams.events.publish_event(Event("progress", f"b{i}", 0, stage="render")) for i in range(5)]
    first = await store.streams.events.read_events("bot1", count=2, block_ms=None, front="discord")
    rest = await store.streams.events.read_events("bot1", count=10, block_ms=None, front="discord")
    assert [d.message_id for d in first + rest] == ids
    assert [d.payload.breed_id for d in rest] == ["b2", "b3", "b4"]


async def test_a_read_with_nothing_there_returns_nothing(store: AnyStore) -> None:
    assert await store.streams.events.read_events("bot1", block_ms=None, front="discord") == []
    assert await store.streams.events.read_events("bot1", block_ms=50, front="discord") == []


async def test_a_reader_restarting_under_its_name_gets_what_it_had_not_acknowledged_first(store: AnyStore) -> None:
    for generation in range(3):
        await store.streams.events.publish_event(Event("generation_ready", "b1", generation))
    held = await store.streams.events.read_events("bot-h-1", count=3, block_ms=None, front="discord")
    await store.streams.events.ack_event(held[1].message_id, front="discord")
    again = await store.streams.events.read_events("bot-h-1", count=10, block_ms=None, own_pending=True,
                                                   front="discord")
    assert [d.message_id for d in again] == [held[0].message_id, held[2].message_id]
    assert await store.streams.events.read_events("bot-h-2", count=10, block_ms=None, own_pending=True,
                                                  front="discord") == []
    assert await store.streams.events.read_events("bot-h-1", count=10, block_ms=None, front="discord") == []


async def test_an_unacknowledged_event_is_reclaimed_after_its_idle_time_counting_its_deliveries(
    store: AnyStore, advance: Advance
) -> None:
    await store.streams.events.publish_event(Event(type="progress", breed_id="b1", generation=0, stage="render"))
    [taken] = await store.streams.events.read_events("old-bot", block_ms=None, front="discord")
    assert await store.streams.events.claim_stale_events("new-bot", min_idle_ms=60_000, front="discord") == []
    await advance(0.15)
    [reclaimed] = await store.streams.events.claim_stale_events("new-bot", min_idle_ms=100, front="discord")
    assert reclaimed.message_id == taken.message_id and reclaimed.deliveries == 2
    assert isinstance(reclaimed.payload, Event) and reclaimed.payload.stage == "render"
    await advance(0.15)
    [third] = await store.streams.events.claim_stale_events("newer-bot", min_idle_ms=100, front="discord")
    assert third.deliveries == 3
    assert await store.streams.events.ack_event(third.message_id, front="discord") is True
    await advance(0.15)
    assert await store.streams.events.claim_stale_events("new-bot", min_idle_ms=100, front="discord") == []


async def test_a_claim_takes_at_most_its_count_and_only_its_front_ends_events(
    store: AnyStore, advance: Advance
) -> None:
    for i in range(5):
        await store.streams.events.publish_event(Event("progress", f"b{i}", 0))
    await store.streams.events.read_events("old-bot", count=5, block_ms=None, front="discord")
    await advance(0.15)
    assert await store.streams.events.claim_stale_events("web2", min_idle_ms=100, front="web") == []
    first = await store.streams.events.claim_stale_events("new-bot", min_idle_ms=100, count=3, front="discord")
    # The first three were just claimed: not idle.
    rest = await store.streams.events.claim_stale_events("other-bot", min_idle_ms=100, count=10, front="discord")
    assert len(first) == 3 and len(rest) == 2
    assert {d.payload.breed_id for d in first + rest} == {f"b{i}" for i in range(5)}


async def test_a_dead_lettered_event_is_recorded_with_its_reason_and_acknowledged(
    store: AnyStore, advance: Advance
) -> None:
    await store.streams.events.publish_event(Event("finished", "b1", 2))
    [delivery] = await store.streams.events.read_events("web1", block_ms=None, front="web")
    await store.streams.events.dead_letter_event(delivery, "its handler failed on every delivery", front="web")
    [record] = await store.streams.jobs.dead_letters()
    assert (record["id"], record["stream"], record["raw"], record["reason"], record["deliveries"]) == (
        delivery.message_id, "mb:events", delivery.raw, "its handler failed on every delivery", "1")
    assert isinstance(record["time"], float)
    await advance(0.15)
    assert await store.streams.events.claim_stale_events("web2", min_idle_ms=100, front="web") == []
    assert await store.streams.events.ack_event(delivery.message_id, front="web") is False


async def test_the_bots_of_some_shards_read_every_event_in_their_own_group(store: AnyStore) -> None:
    from storage.streams import shards_front

    front = shards_front([1, 0])
    assert store.streams.events.events_group(front) == "bots-shards-0-1"
    await store.streams.ensure_groups()
    await store.streams.events.publish_event(Event("finished", "b1", 2))
    [mine] = await store.streams.events.read_events("bot-a", block_ms=None, front=front)
    [theirs] = await store.streams.events.read_events("bot-b", block_ms=None, front="discord")
    assert mine.message_id == theirs.message_id


async def test_a_terminal_session_reads_in_its_own_group_only_what_came_after_it_opened(
    store: AnyStore, advance: Advance
) -> None:
    await store.streams.events.publish_event(Event("progress", "before", 0))
    reader = await store.streams.sessions.add_session_group("s1")
    other = await store.streams.sessions.add_session_group("s2")
    assert (reader, other) == ("terminal:s1", "terminal:s2")
    await advance(0.01)
    await store.streams.events.publish_event(Event("progress", "after", 0))
    [mine] = await store.streams.events.read_events("s1", block_ms=None, front=reader)
    [theirs] = await store.streams.events.read_events("s2", block_ms=None, front=other)
    assert mine.payload.breed_id == theirs.payload.breed_id == "after"
    assert await store.streams.events.ack_event(mine.message_id, front=reader) is True


async def test_a_sessions_group_says_how_long_ago_it_was_made_or_read_and_goes_when_removed(
    store: AnyStore, advance: Advance
) -> None:
    assert "s1" not in await store.streams.sessions.session_groups()
    await store.streams.sessions.add_session_group("s1")
    await advance(0.3)
    groups = await store.streams.sessions.session_groups()
    assert 0.25 <= groups["s1"] < 60
    await store.streams.sessions.remove_session_group("s1")
    assert "s1" not in await store.streams.sessions.session_groups()


async def test_a_sessions_mark_of_being_alive_lasts_as_long_as_it_said(store: AnyStore, advance: Advance) -> None:
    assert not await store.streams.sessions.session_alive("s1")
    await store.streams.sessions.mark_session_alive("s1", 0.1)
    await store.streams.sessions.mark_session_alive("s2", 60)
    assert await store.streams.sessions.session_alive("s1")
    await advance(0.3)
    assert not await store.streams.sessions.session_alive("s1") and await store.streams.sessions.session_alive("s2")
    await store.streams.sessions.add_session_group("s2")
    await store.streams.sessions.remove_session_group("s2")  # the mark goes with the group
    assert not await store.streams.sessions.session_alive("s2")


async def test_the_watchdog_remembers_when_a_step_went_missing_and_tells_it_once(store: AnyStore) -> None:
    assert await store.streams.jobs.missing_since("b1", 2, "evolving", 100.0) == 100.0
    assert await store.streams.jobs.missing_since("b1", 2, "evolving", 160.0) == 100.0
    assert await store.streams.jobs.missing_since("b1", 3, "evolving", 170.0) == 170.0
    await store.streams.jobs.found_again("b1", 3, "evolving")
    assert await store.streams.jobs.missing_since("b1", 3, "evolving", 180.0) == 180.0  # forgotten: found again
    assert await store.streams.jobs.tell_once("b1", 2, "evolving") is True
    assert await store.streams.jobs.tell_once("b1", 2, "evolving") is False
    await store.streams.jobs.found_again("b1", 2, "evolving")  # told: kept, not told again
    assert await store.streams.jobs.tell_once("b1", 2, "evolving") is False
    assert await store.streams.jobs.missing_since("b1", 2, "evolving", 200.0) == 100.0
