"""A stream in memory, read in consumer groups: what the in-memory jobs and events streams share
(the twin of storage.streams.log).

Entries have Redis-like ids ("ms-seq", from the store's clock); each group keeps the last entry it
handed out and its pending entries (who holds each, since when, how often it was handed out). Reading,
reclaiming by idle time on the clock, acknowledging, dead letters and trimming behave as on Redis.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.exceptions import ResponseError

from domain.jobs import Job
from storage.codec import Event
from storage.keys import PREFIX
from storage.memory.space import Space
from storage.streams import log as redis_log
from storage.streams.log import DEAD_LETTERS_MAXLEN, FORGET_CONSUMER_MS, DeadLetter, Delivery

EntryId = tuple[int, int]
Loader = Callable[[bytes | str], Job | Event]


def text_id(entry_id: EntryId) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


def parse_id(text: str) -> EntryId:
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


@dataclass
class Held:
    """A pending entry of a group: who holds it, when it was last handed out (ms), how often."""

    consumer: str
    since_ms: int
    times: int = 1


@dataclass
class Group:
    last: EntryId
    pending: dict[EntryId, Held] = field(default_factory=dict)
    # Consumer -> when it last read or claimed (ms).
    consumers: dict[str, int] = field(default_factory=dict)


class MemoryLog:
    """One stream (`name`) read in consumer groups, in memory; `dead_letters` is the record both streams
    write to."""

    name: str

    def __init__(self, space: Space, dead_letters: list[DeadLetter]) -> None:
        self._space = space
        self._dead_letters = dead_letters
        self.entries: dict[EntryId, str] = {}  # insertion order is id order
        self.groups: dict[str, Group] = {}
        self._last_id: EntryId = (0, 0)
        self._since_trim = 0
        self._waiters: list[asyncio.Future[None]] = []

    def now_ms(self) -> int:
        return int(self._space.clock() * 1000)

    @abc.abstractmethod
    def _known(self, group: str) -> bool:
        """Whether ensure_groups makes `group` (then a read makes it again when it is missing)."""

    @abc.abstractmethod
    def _ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        """Create the stream's groups if missing, as the Redis store's ensure_groups does."""

    def _ensure_group(self, group: str, forget_idle_ms: int) -> None:
        """Create `group` (from the first entry) if missing; forget its consumers that hold nothing and were
        idle for `forget_idle_ms`, but its most recently active one."""
        found = self.groups.setdefault(group, Group(last=(0, 0)))
        now = self.now_ms()
        by_idle = sorted(found.consumers.items(), key=lambda item: now - item[1])
        for name, seen in by_idle[1:]:
            holds = any(held.consumer == name for held in found.pending.values())
            if not holds and now - seen >= forget_idle_ms:
                del found.consumers[name]

    def _group(self, group: str) -> Group:
        found = self.groups.get(group)
        if found is None:
            raise ResponseError(f"NOGROUP No such key '{self.name}' or consumer group '{group}'")
        return found

    def messages(self) -> list[str]:
        """Every payload the stream holds, oldest first, acknowledged or not (what XRANGE shows of a Redis
        stream): for a test that looks at what was sent."""
        return list(self.entries.values())

    # --- adding, reading, claiming, acknowledging --------------------------------------------

    def _add(self, raw: str) -> str:
        now = self.now_ms()
        entry_id = (now, 0) if now > self._last_id[0] else (self._last_id[0], self._last_id[1] + 1)
        self.entries[entry_id] = raw
        self._last_id = entry_id
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        self._count()
        return text_id(entry_id)

    async def _read(self, group: str, consumer: str, count: int, block_ms: int | None, loader: Loader,
                    start: str = ">") -> list[Delivery]:
        if group not in self.groups and self._known(group):
            self._ensure_groups()  # as after Redis lost its data: the group is made again
        deliveries = self._take(group, consumer, count, loader, start)
        if deliveries or block_ms is None or start != ">":
            return deliveries
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter, None if block_ms == 0 else block_ms / 1000)
        return self._take(group, consumer, count, loader, start)

    def _take(self, group: str, consumer: str, count: int, loader: Loader, start: str) -> list[Delivery]:
        found = self._group(group)
        now = self.now_ms()
        found.consumers[consumer] = now
        if start != ">":
            own = [entry_id for entry_id, held in sorted(found.pending.items()) if held.consumer == consumer]
            return [to_delivery(entry_id, self.entries.get(entry_id), loader) for entry_id in own[:count]]
        fresh = [entry_id for entry_id in self.entries if entry_id > found.last][:count]
        for entry_id in fresh:
            found.pending[entry_id] = Held(consumer, now)
            found.last = entry_id
        return [to_delivery(entry_id, self.entries[entry_id], loader) for entry_id in fresh]

    def _claim(self, group: str, consumer: str, min_idle_ms: int, count: int, loader: Loader) -> list[Delivery]:
        found = self.groups.get(group)
        if found is None:
            if self._known(group):
                self._ensure_groups()
            return []
        now = self.now_ms()
        found.consumers[consumer] = now
        deliveries: list[Delivery] = []
        for entry_id, held in sorted(found.pending.items()):
            if len(deliveries) >= count:
                break
            if now - held.since_ms < min_idle_ms:
                continue
            if entry_id not in self.entries:
                del found.pending[entry_id]  # trimmed meanwhile: XAUTOCLAIM drops it too
                continue
            held.consumer, held.since_ms, held.times = consumer, now, held.times + 1
            claimed = to_delivery(entry_id, self.entries[entry_id], loader)
            deliveries.append(Delivery(claimed.message_id, claimed.raw, claimed.payload, claimed.error,
                                       deliveries=held.times))
        return deliveries

    def _ack(self, group: str, message_id: str) -> bool:
        found = self.groups.get(group)
        acked = found is not None and found.pending.pop(parse_id(message_id), None) is not None
        self._count()
        return acked

    def _dead_letter(self, group: str, delivery: Delivery, reason: str) -> None:
        self._dead_letters.append({"id": delivery.message_id, "stream": self.name, "raw": delivery.raw,
                                   "reason": reason, "deliveries": str(delivery.deliveries), "time": time.time()})
        del self._dead_letters[:-DEAD_LETTERS_MAXLEN]
        self._ack(group, delivery.message_id)

    # --- trimming ----------------------------------------------------------------------------

    async def trim(self) -> int:
        """Remove the entries every group that holds the stream back has acknowledged; how many went."""
        return self._trim()

    def _holds_back(self, group: Group) -> bool:
        """Whether a group with nothing pending keeps what it has not read from being trimmed."""
        return True

    def _trim(self) -> int:
        bound: EntryId | None = None
        for group in self.groups.values():
            if not group.pending and not self._holds_back(group):
                continue
            oldest = min(group.pending) if group.pending else group.last
            bound = oldest if bound is None else min(bound, oldest)
        if bound is None or bound == (0, 0):
            return 0
        gone = [entry_id for entry_id in self.entries if entry_id < bound]
        for entry_id in gone:
            del self.entries[entry_id]
        return len(gone)

    async def stats(self) -> redis_log.StreamStats:
        """The stream's length and each group's pending entries and lag, as the Redis stream tells them."""
        return redis_log.StreamStats(
            self.name.removeprefix(PREFIX), len(self.entries),
            {name: len(group.pending) for name, group in self.groups.items()},
            {name: sum(1 for entry_id in self.entries if entry_id > group.last)
             for name, group in self.groups.items()})

    def _count(self) -> None:
        self._since_trim += 1
        if self._since_trim >= redis_log.TRIM_EVERY:
            self._since_trim = 0
            self._trim()


def to_delivery(entry_id: EntryId, raw: str | None, loader: Loader) -> Delivery:
    message_id = text_id(entry_id)
    if raw is None:
        return Delivery(message_id, "", None, "the message was trimmed from the stream before delivery")
    try:
        payload = loader(raw)
    except Exception as error:  # as the Redis streams: no payload may kill a consumer loop
        return Delivery(message_id, raw, None, str(error) or type(error).__name__)
    return Delivery(message_id, raw, payload, None)
