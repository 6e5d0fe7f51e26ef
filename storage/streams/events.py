"""The events stream: worker -> front end events in `mb:events`, one consumer group per reader.

Each front end that reads worker events has its own group: each sees every event, and handles those of
its own breeds. Bot processes that split the shards (SHARD_IDS) each read every event in a group of their
shards; a terminal session reads in a group of its own (storage.streams.sessions). A group whose readers
have all been gone for `ABANDONED_READER_MS` no longer holds events back from trimming.
"""

from __future__ import annotations

from typing import Any

from storage.codec import Event, dump, load_event
from storage.streams.log import EVENTS, FORGET_CONSUMER_MS, Delivery, GroupStream

BOTS_GROUP = "bots"
WEB_GROUP = "web"
EVENT_GROUPS = {"discord": BOTS_GROUP, "web": WEB_GROUP}
# A terminal session reads the events stream in a group of its own, made when it starts and removed
# when it ends: sessions on one Redis must not take each other's events.
SESSION_READER_PREFIX = "terminal:"
# Bot processes that split the shards (SHARD_IDS) each read every event in a group of their shards and
# handle those of their own servers; processes that run every shard share BOTS_GROUP.
SHARDS_GROUP_PREFIX = f"{BOTS_GROUP}-shards-"
# A group of the events stream whose consumers have all been idle this long (a front end gone for good)
# no longer keeps the events it has not read from being trimmed.
ABANDONED_READER_MS = 7 * 86_400_000


def session_reader(session_id: str) -> str:
    """The reader name (and group) of one terminal session on the events stream."""
    return f"{SESSION_READER_PREFIX}{session_id}"


def event_group(reader: str) -> str:
    """The events stream's consumer group of `reader`: a front end ("discord", "web"), the bot processes of
    some shards, or a terminal session."""
    if reader.startswith((SESSION_READER_PREFIX, SHARDS_GROUP_PREFIX)):
        return reader
    return EVENT_GROUPS[reader]


def shards_front(shard_ids: list[int]) -> str:
    """The `front` to read events as for bot processes running exactly `shard_ids`: their own events group."""
    return SHARDS_GROUP_PREFIX + "-".join(str(shard) for shard in sorted(shard_ids))


class EventStream(GroupStream):
    """The events stream of the store: publish, read per front end, reclaim, acknowledge, dead-letter."""

    name = EVENTS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shard_groups: set[str] = set()

    def events_group(self, front: str) -> str:
        """The events group a reader reads: "discord", "web", a shards group (made by ensure_groups from
        then on) or a terminal session's."""
        if front.startswith(SHARDS_GROUP_PREFIX):
            self._shard_groups.add(front)
        return event_group(front)

    async def ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        """Create the stream and the front ends' groups (and the shards groups known) if missing."""
        for group in [*EVENT_GROUPS.values(), *sorted(self._shard_groups)]:
            await self._ensure_group(group, forget_idle_ms)

    async def publish_event(self, event: Event) -> str:
        """Append an event for the front ends; returns its message id."""
        return await self._add(dump(event))

    async def read_events(self, consumer: str, count: int = 10, block_ms: int | None = 1000,
                          *, front: str, own_pending: bool = False) -> list[Delivery]:
        """New events for `consumer` of `front`'s group, waiting up to block_ms (None: no wait) when there are none.

        `own_pending`: instead, the events this consumer read before and has not acknowledged (a restart).
        """
        return await self._read(self.events_group(front), consumer, count, block_ms, load_event,
                                start="0" if own_pending else ">")

    async def claim_stale_events(self, consumer: str, min_idle_ms: int, count: int = 10,
                                 *, front: str) -> list[Delivery]:
        """Take over events that another consumer of `front` read but has not acked for min_idle_ms."""
        return await self._claim(self.events_group(front), consumer, min_idle_ms, count, load_event)

    async def ack_event(self, message_id: str, front: str) -> bool:
        """Mark an event handled by `front`; True if it was pending."""
        return await self._ack(self.events_group(front), message_id)

    async def dead_letter_event(self, delivery: Delivery, reason: str, front: str) -> None:
        """Record an event `front` gave up on (with the reason) and ack it, in one transaction."""
        await self._dead_letter(self.events_group(front), delivery, reason)

    async def _holds_back(self, group: Any) -> bool:
        """A group with nothing pending holds events back while one of its consumers read in the last
        `ABANDONED_READER_MS` (a front end that never ran here, or has been gone that long, holds nothing)."""
        consumers = await self._redis.xinfo_consumers(self.name, group)
        return any(int(consumer["idle"]) < ABANDONED_READER_MS for consumer in consumers)
