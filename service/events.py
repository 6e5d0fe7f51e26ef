"""A front end's side of the events stream: worker -> bot or web page, at least once.

An event is acknowledged only after it was handled, so a bot that dies mid-way handles it
again on start-up (the handlers are idempotent). A handler that fails is retried after
RETRY_IDLE_MS; an event handed out more than `max_deliveries` times (counted by Redis, so a bot
that crashes on it each time stops too) goes to the dead letters. An event that does not
decode is dead-lettered at once. A Redis outage pauses the loop with back-off, logged once; it
never ends it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from domain.errors import BreedError
from domain.model import OPEN_STATUSES, Breed, Front
from runtime.backoff import Outage
from service.stores import BreedStates, EventStream, SessionStream
from storage import UNAVAILABLE, Delivery
from storage.codec import Event
from storage.streams import shards_front

__all__ = ["Event", "EventConsumer", "ExternalWait", "SessionGroups", "discord_group", "wait_plainly"]

log = logging.getLogger(__name__)

T = TypeVar("T")

BLOCK_MS = 2000
RETRY_IDLE_MS = 30_000
MAX_DELIVERIES = 3
# A session's group of the events stream made or read this long ago, whose breed is not going, is a
# killed session's; a running session says it is alive for this long, every SESSION_BEAT_S.
STALE_SESSION_S = 60.0
SESSION_BEAT_S = 15.0

EventHandler = Callable[[Event], Awaitable[None]]


def discord_group(shard_ids: list[int] | None, shard_count: int) -> str:
    """The events group of a bot process: "discord" when it runs every shard, else its shards' own group,
    whose events it filters to its own servers (each process of a split bot sees every event once)."""
    if shard_ids is None or len(set(shard_ids)) == shard_count:
        return Front.DISCORD
    return shards_front(shard_ids)


class ExternalWait(Protocol):
    """Awaits an input from outside the bot (a blocking Redis read)."""

    def __call__(self, awaitable: Awaitable[T], /, *, reason: str) -> Awaitable[T]: ...


async def wait_plainly(awaitable: Awaitable[T], /, *, reason: str) -> T:
    """The production ExternalWait: just await. (Tests pass SimCord's Env.external_wait.)"""
    return await awaitable


class EventConsumer:
    """Reads the events stream for one bot and hands each event to `handle`."""

    def __init__(
        self,
        streams: EventStream,
        handle: EventHandler,
        consumer: str,
        *,
        external_wait: ExternalWait = wait_plainly,
        block_ms: int = BLOCK_MS,
        retry_idle_ms: int = RETRY_IDLE_MS,
        max_deliveries: int = MAX_DELIVERIES,
        front: str,
    ) -> None:
        self.streams = streams
        self.handle = handle
        self.consumer = consumer
        self.external_wait = external_wait
        self.block_ms = block_ms
        self.retry_idle_ms = retry_idle_ms
        self.max_deliveries = max_deliveries
        self.front = front  # whose consumer group it reads: each front end (and each terminal session) sees every event
        streams.events_group(front)  # known to the store, which creates it with the others
        self.outage = Outage(log, f"events consumer {consumer}")
        self._in_hand: list[Delivery] = []
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Make `run` return after the read in hand (at most block_ms)."""
        self._stopping.set()

    async def run(self) -> None:
        """Handle events until `stop()`; a Redis outage only pauses it.

        Stopping is cooperative: cancelling a task inside redis-py's blocking read can hang
        (redis-py 8 with a socket timeout on Python 3.11), and a read cut short helps nobody.
        """
        loop = asyncio.get_running_loop()
        # Events another process (another bot, or this one before a restart under another name) read but
        # did not acknowledge are taken over only once idle: a live process is still handling its own.
        next_claim = loop.time()
        resumed = False
        log.info("reading events as consumer %s", self.consumer)
        while not self._stopping.is_set():
            try:
                if self._in_hand:
                    await self.drain(self._in_hand)
                if not resumed:
                    # What this consumer read before a restart under the same name comes first.
                    await self.drain(await self.streams.read_events(self.consumer, count=100, block_ms=None,
                                                                    front=self.front, own_pending=True))
                    resumed = True
                if loop.time() >= next_claim:
                    await self.drain(await self.streams.claim_stale_events(self.consumer, self.retry_idle_ms,
                                                                           count=100, front=self.front))
                    next_claim = loop.time() + self.retry_idle_ms / 1000
                deliveries: list[Delivery] = await self.external_wait(
                    self.streams.read_events(self.consumer, count=10, block_ms=self.block_ms, front=self.front),
                    reason="waiting for worker events from Redis",
                )
                await self.drain(deliveries)
            except UNAVAILABLE as error:
                delay = self.outage.failed(error)
                # Waiting for Redis to come back is waiting for outside input, like the read itself.
                await self.external_wait(self._pause(delay), reason="waiting for Redis to come back")
            else:
                self.outage.recovered()
        log.info("consumer %s stopped reading events", self.consumer)

    async def _pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less when stopped; in this task (a wait_for would start another)."""
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass

    async def drain(self, deliveries: list[Delivery]) -> None:
        """Deliver in order; what Redis's going away interrupts is delivered first once it is back."""
        self._in_hand = list(deliveries)
        while self._in_hand:
            await self.deliver(self._in_hand[0])
            self._in_hand.pop(0)

    async def deliver(self, delivery: Delivery) -> None:
        """Handle one delivery; acknowledge it when done, or dead-letter it when it cannot be handled.

        Raises only when Redis is unavailable: the event stays pending and comes again.
        """
        event = delivery.payload
        if not isinstance(event, Event):
            await self.streams.dead_letter_event(delivery, f"unreadable event: {delivery.error}", self.front)
            return
        if delivery.deliveries > self.max_deliveries:
            await self.streams.dead_letter_event(
                delivery, f"handed out {delivery.deliveries} times without being handled", self.front)
            log.error("breed %s gen %d: %s event dead-lettered after %d deliveries",
                      event.breed_id, event.generation, event.type, delivery.deliveries)
            return
        try:
            await self.handle(event)
        except UNAVAILABLE:
            raise
        except Exception:
            if delivery.deliveries < self.max_deliveries:
                log.exception("breed %s gen %d: %s event failed (delivery %d of %d); will retry",
                              event.breed_id, event.generation, event.type, delivery.deliveries,
                              self.max_deliveries)
                return
            log.exception("breed %s gen %d: %s event failed %d times; giving up",
                          event.breed_id, event.generation, event.type, delivery.deliveries)
            await self.streams.dead_letter_event(delivery, "its handler failed on every delivery", self.front)
            return
        await self.streams.ack_event(delivery.message_id, self.front)


class SessionGroups:
    """The terminal sessions' own groups of the events stream (`service.sessions`): each session sees
    every event added while it runs, and no other session takes them.

    A running session says every SESSION_BEAT_S that it is alive. Nobody can come back to a terminal
    breed, so one whose session stopped saying so (killed, closed terminal, crash) is stopped when the
    next session opens, and then expires like any breed that ended.
    """

    def __init__(self, streams: SessionStream, breeds: BreedStates,
                 stop: Callable[[Breed], Awaitable[object]]) -> None:
        self.streams = streams
        self.breeds = breeds
        self.stop = stop

    async def open(self, session_id: str) -> str:
        """Give a terminal session its own group of the events stream, from now on; returns its reader
        name (for service.router.EventRouter).

        Breeds of sessions that were killed are stopped first, and their groups go (and those whose
        breed never started); a group younger than a minute may be a session's that is starting its
        breed right now.
        """
        await self.beat(session_id)
        await self.stop_abandoned()
        for other, idle_s in (await self.streams.session_groups()).items():
            breed = await self.breeds.get(other)
            if idle_s > STALE_SESSION_S and (breed is None or breed.status not in OPEN_STATUSES):
                await self.streams.remove_session_group(other)
        return await self.streams.add_session_group(session_id)

    async def beat(self, session_id: str) -> None:
        """A running session is alive for STALE_SESSION_S more."""
        await self.streams.mark_session_alive(session_id, STALE_SESSION_S)

    async def stop_abandoned(self) -> list[str]:
        """Stop the open terminal breeds whose session no longer runs; their ids."""
        stopped = []
        for breed in await self.breeds.open_breeds():
            if breed.front != Front.TERMINAL or await self.streams.session_alive(breed.breed_id):
                continue
            try:
                await self.stop(breed)
            except BreedError as error:  # it ended meanwhile
                log.info("breed %s: abandoned in a terminal, not stopped (%s)", breed.breed_id, error)
                continue
            log.warning("breed %s gen %d: its terminal session is gone; stopped", breed.breed_id, breed.generation)
            stopped.append(breed.breed_id)
        return stopped

    async def close(self, session_id: str) -> None:
        """Remove a terminal session's group of the events stream."""
        await self.streams.remove_session_group(session_id)
