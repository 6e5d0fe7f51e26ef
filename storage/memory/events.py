"""The events stream and the terminal sessions' groups in memory: the twins of storage.streams.events
and storage.streams.sessions."""

from __future__ import annotations

from redis.exceptions import ResponseError

from storage.codec import Event, dump, load_event
from storage.memory.log import Group, MemoryLog
from storage.memory.space import Space
from storage.streams import events as redis_events
from storage.streams.events import EVENT_GROUPS, SESSION_READER_PREFIX, SHARDS_GROUP_PREFIX, event_group, session_reader
from storage.streams.log import EVENTS, FORGET_CONSUMER_MS, DeadLetter, Delivery


class MemoryEvents(MemoryLog):
    """The events stream in memory: publish, read per front end, reclaim, acknowledge, dead-letter."""

    name = EVENTS

    def __init__(self, space: Space, dead_letters: list[DeadLetter]) -> None:
        super().__init__(space, dead_letters)
        self._shard_groups: set[str] = set()

    def events_group(self, front: str) -> str:
        if front.startswith(SHARDS_GROUP_PREFIX):
            self._shard_groups.add(front)
        return event_group(front)

    def _known(self, group: str) -> bool:
        return group in (*EVENT_GROUPS.values(), *self._shard_groups)

    def _ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        for group in [*EVENT_GROUPS.values(), *sorted(self._shard_groups)]:
            self._ensure_group(group, forget_idle_ms)

    async def ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        self._ensure_groups(forget_idle_ms)

    async def publish_event(self, event: Event) -> str:
        return self._add(dump(event))

    async def read_events(self, consumer: str, count: int = 10, block_ms: int | None = 1000,
                          *, front: str, own_pending: bool = False) -> list[Delivery]:
        return await self._read(self.events_group(front), consumer, count, block_ms, load_event,
                                start="0" if own_pending else ">")

    async def claim_stale_events(self, consumer: str, min_idle_ms: int, count: int = 10,
                                 *, front: str) -> list[Delivery]:
        return self._claim(self.events_group(front), consumer, min_idle_ms, count, load_event)

    async def ack_event(self, message_id: str, front: str) -> bool:
        return self._ack(self.events_group(front), message_id)

    async def dead_letter_event(self, delivery: Delivery, reason: str, front: str) -> None:
        self._dead_letter(self.events_group(front), delivery, reason)

    def _holds_back(self, group: Group) -> bool:
        now = self.now_ms()
        return any(now - seen < redis_events.ABANDONED_READER_MS for seen in group.consumers.values())


class MemorySessions:
    """The terminal sessions' own groups of the in-memory events stream, and their marks of being alive."""

    def __init__(self, space: Space, events: MemoryEvents) -> None:
        self._space = space
        self._events = events

    async def add_session_group(self, session_id: str) -> str:
        reader = session_reader(session_id)
        if event_group(reader) in self._events.groups:
            raise ResponseError("BUSYGROUP Consumer Group name already exists")
        self._events.groups[event_group(reader)] = Group(last=(self._events.now_ms(), 0))
        return reader

    async def session_groups(self) -> dict[str, float]:
        now = self._events.now_ms()
        return {name.removeprefix(SESSION_READER_PREFIX): max(0, now - group.last[0]) / 1000
                for name, group in self._events.groups.items() if name.startswith(SESSION_READER_PREFIX)}

    async def remove_session_group(self, session_id: str) -> None:
        self._events.groups.pop(event_group(session_reader(session_id)), None)
        self._space.delete(("session-alive", session_id))

    async def mark_session_alive(self, session_id: str, for_s: float) -> None:
        self._space.set(("session-alive", session_id), True, max(0.001, for_s))

    async def session_alive(self, session_id: str) -> bool:
        return self._space.exists(("session-alive", session_id))
