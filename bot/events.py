"""The bot's side of the events stream: worker -> bot, at least once.

An event is acknowledged only after it was handled, so a bot that dies mid-way handles it
again on start-up (the handlers are idempotent). A handler that fails is retried after
RETRY_IDLE_MS, at most MAX_ATTEMPTS times; an event that does not decode is logged and dropped.
A Redis error (outage, timeout) pauses the loop with back-off; it never ends it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from redis.exceptions import RedisError

from storage import BreedStore, Delivery
from storage.codec import Event

log = logging.getLogger(__name__)

T = TypeVar("T")

BLOCK_MS = 2000
RETRY_IDLE_MS = 30_000
MAX_ATTEMPTS = 5
MIN_PAUSE_S = 0.5
MAX_PAUSE_S = 30.0

EventHandler = Callable[[Event], Awaitable[None]]


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
        store: BreedStore,
        handle: EventHandler,
        consumer: str,
        *,
        external_wait: ExternalWait = wait_plainly,
        block_ms: int = BLOCK_MS,
        retry_idle_ms: int = RETRY_IDLE_MS,
    ) -> None:
        self.store = store
        self.handle = handle
        self.consumer = consumer
        self.external_wait = external_wait
        self.block_ms = block_ms
        self.retry_idle_ms = retry_idle_ms
        self._attempts: dict[str, int] = {}
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
        # Events a previous run of this bot read but did not acknowledge come first.
        min_idle_ms = 0
        next_claim = loop.time()
        pause_s = MIN_PAUSE_S
        log.info("reading events as consumer %s", self.consumer)
        while not self._stopping.is_set():
            try:
                if loop.time() >= next_claim:
                    await self.drain(await self.store.claim_stale_events(self.consumer, min_idle_ms, count=100))
                    min_idle_ms = self.retry_idle_ms
                    next_claim = loop.time() + self.retry_idle_ms / 1000
                deliveries: list[Delivery] = await self.external_wait(
                    self.store.read_events(self.consumer, count=10, block_ms=self.block_ms),
                    reason="waiting for worker events from Redis",
                )
                await self.drain(deliveries)
            except RedisError as error:
                log.warning("reading events failed (%s: %s); trying again in %.0f s",
                            type(error).__name__, error, pause_s)
                await asyncio.sleep(pause_s)
                pause_s = min(pause_s * 2, MAX_PAUSE_S)
            else:
                pause_s = MIN_PAUSE_S
        log.info("consumer %s stopped reading events", self.consumer)

    async def drain(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            await self.deliver(delivery)

    async def deliver(self, delivery: Delivery) -> None:
        """Handle one delivery; acknowledge it when done, dropped, or out of attempts."""
        event = delivery.payload
        if not isinstance(event, Event):
            log.warning("dropping unreadable event %s: %s", delivery.message_id, delivery.error)
            await self.store.ack_event(delivery.message_id)
            return
        try:
            await self.handle(event)
        except Exception:
            attempts = self._attempts.get(delivery.message_id, 0) + 1
            self._attempts[delivery.message_id] = attempts
            if attempts < MAX_ATTEMPTS:
                log.exception("breed %s gen %d: %s event failed (attempt %d); will retry",
                              event.breed_id, event.generation, event.type, attempts)
                return
            log.exception("breed %s gen %d: %s event failed %d times; giving up",
                          event.breed_id, event.generation, event.type, attempts)
        self._attempts.pop(delivery.message_id, None)
        await self.store.ack_event(delivery.message_id)
