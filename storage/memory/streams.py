"""The job and event streams in memory: the twin of storage.streams.MessageStreams, with the same three
parts (`jobs`, `events`, `sessions`) over one record of dead letters."""

from __future__ import annotations

import copy

from storage.memory.events import MemoryEvents, MemorySessions
from storage.memory.jobs import MemoryJobs
from storage.memory.space import Space
from storage.streams.log import FORGET_CONSUMER_MS, DeadLetter, StreamStats


class MemoryStreams:
    """The in-memory store's streams: `jobs`, `events` and `sessions`."""

    def __init__(self, space: Space) -> None:
        dead_letters: list[DeadLetter] = []
        self.jobs = MemoryJobs(space, dead_letters)
        self.events = MemoryEvents(space, dead_letters)
        self.sessions = MemorySessions(space, self.events)
        self._dead_letters = dead_letters

    async def ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        """Create the consumer groups if missing; forget consumers that hold nothing and were idle for
        `forget_idle_ms`, but each group's most recently active one."""
        await self.jobs.ensure_groups(forget_idle_ms)
        await self.events.ensure_groups(forget_idle_ms)

    async def stats(self) -> list[StreamStats]:
        """The numbers of both streams, for the metrics."""
        return [await self.jobs.stats(), await self.events.stats()]

    def state(self) -> object:
        """What the streams hold (entries, groups, dead letters), to compare before and after."""
        return copy.deepcopy([(log.entries, log.groups) for log in (self.jobs, self.events)] + [self._dead_letters])
