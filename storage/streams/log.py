"""What the job and event streams share: a Redis stream read in consumer groups, at least once.

Each message has one field, "payload", holding codec JSON. A consumer acknowledges a message only after
its result is written; a message whose consumer died is reclaimed with XAUTOCLAIM once it has been idle
long enough, and one that cannot be handled goes to the dead letters with its reason.

A stream is never trimmed by length (`MAXLEN` drops entries nobody has read): every `TRIM_EVERY` messages
added or acknowledged, it is trimmed (`XTRIM MINID`) up to the oldest entry some group that holds it back
has not acknowledged or not read yet.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import OutOfMemoryError, RedisError, ResponseError
from redis.typing import EncodableT, FieldT, KeyT, StreamEntry, StreamIdT, XReadGroupResponse

from domain.jobs import Job
from storage.client import stored, stored_text
from storage.codec import Event
from storage.keys import PREFIX

log = logging.getLogger(__name__)

# --- keys: the streams and their consumer groups (group names live inside a stream, so they need no prefix)

JOBS = f"{PREFIX}jobs"
EVENTS = f"{PREFIX}events"
DEAD_LETTERS = f"{PREFIX}dead-letters"

PAYLOAD_FIELD = b"payload"
# A consumer that holds no message and has been idle this long is forgotten (ensure_groups), unless it
# is its group's last.
FORGET_CONSUMER_MS = 86_400_000
# The dead letters are a record nobody reads in a group: only they are trimmed by length.
DEAD_LETTERS_MAXLEN = 10_000
# A stream is trimmed up to what every group has acknowledged once per this many adds and acks.
TRIM_EVERY = 100
# XAUTOCLAIM scans a bounded slice of the pending list per call; this bounds the calls per claim.
_MAX_CLAIM_SCANS = 10

Loader = Callable[[bytes], Job | Event]
# A dead letter as read back: its id, stream, raw payload, reason and deliveries as text, and its time in seconds.
DeadLetter = dict[str, str | float]


def stream_id(text: str) -> tuple[int, int]:
    """A stream entry's id as (milliseconds, sequence), to compare ids."""
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


@dataclass(frozen=True)
class Delivery:
    """One message read from a stream. A payload that does not decode has payload None and an error."""

    message_id: str
    raw: str
    payload: Job | Event | None
    error: str | None
    # How often the stream has handed this message out, counted by Redis itself (XPENDING), so it
    # survives restarts: 1 for a fresh read, more each time it was reclaimed from a consumer that died.
    deliveries: int = 1


@dataclass(frozen=True)
class StreamStats:
    """One stream's numbers for the metrics: its length, and per consumer group the entries handed out and
    not acknowledged (`pending`) and those not handed out yet (`lag`). `stream` is "jobs" or "events"."""

    stream: str
    length: int
    pending: dict[str, int]
    lag: dict[str, int]


# Counting a group's unread entries one by one (when Redis cannot tell its lag) stops here.
_MAX_LAG_SCAN = 10_000


def text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def to_delivery(message_id: bytes | str, fields: dict[bytes | str, bytes | str] | None, loader: Loader) -> Delivery:
    """The Delivery of one entry as Redis returned it (fields None: deleted since it was read)."""
    mid = text(message_id)
    if fields is None:
        return Delivery(mid, "", None, "the message was trimmed from the stream before delivery")
    found = fields.get(PAYLOAD_FIELD)
    if found is None:
        return Delivery(mid, "", None, "the message has no payload field")
    raw = stored(found)
    try:
        payload = loader(raw)
    # Broad on purpose: a stream message is untrusted input, and no payload may kill a consumer loop.
    except Exception as error:
        return Delivery(mid, text(raw), None, str(error) or type(error).__name__)
    return Delivery(mid, text(raw), payload, None)


def _deliveries(messages: list[StreamEntry], loader: Loader) -> list[Delivery]:
    # A (None, None) entry is a pending message that was deleted; old servers report it without an id.
    return [to_delivery(mid, fields, loader) for mid, fields in messages if mid is not None]


def _read_entries(response: XReadGroupResponse | None) -> list[StreamEntry]:
    """The entries of an XREADGROUP reply, of every stream it names (None: nothing came in time)."""
    if response is None:
        return []
    # The store's client speaks RESP2 (storage.client.connect): a list of [stream, entries] pairs.
    if not isinstance(response, list):
        raise TypeError("the store's Redis client must speak RESP2 (a list of streams from XREADGROUP)")
    return [entry for _stream, entries in response for entry in entries]


class GroupStream(abc.ABC):
    """One stream (`name`) read in consumer groups: add, read, reclaim, acknowledge, dead-letter, trim."""

    name: str

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._since_trim = 0  # adds and acks since the stream was last trimmed (by this process)

    @abc.abstractmethod
    async def ensure_groups(self, forget_idle_ms: int = FORGET_CONSUMER_MS) -> None:
        """Create the stream and its consumer groups if missing (safe to call on every start)."""

    async def _ensure_group(self, group: str, forget_idle_ms: int) -> None:
        """Create `group` from the stream's first entry if missing, and forget its consumers that hold nothing
        and were idle for `forget_idle_ms` (every process restart leaves one behind), but its most recent."""
        try:
            # From id 0: messages added before the group existed are still delivered.
            await self._redis.xgroup_create(self.name, group, id="0", mkstream=True)
        except OutOfMemoryError:
            # A full Redis refuses even a group that exists: a process still starts if it needs none.
            if await self._group(group) is None:
                raise
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        # The most recently active consumer stays: a group left without one would no longer hold the
        # messages it has not read against trimming (a bot down for a day, coming back).
        consumers = sorted(await self._redis.xinfo_consumers(self.name, group), key=lambda c: int(c["idle"]))
        for consumer in consumers[1:]:
            if int(consumer["pending"]) == 0 and int(consumer["idle"]) >= forget_idle_ms:
                await self._redis.xgroup_delconsumer(self.name, group, consumer["name"])

    async def _group(self, group: str) -> dict[str, Any] | None:
        """The stream's XINFO GROUPS entry of `group`; None when there is no such group (or no stream)."""
        try:
            groups = await self._redis.xinfo_groups(self.name)
        except ResponseError:  # no stream
            return None
        return next((found for found in groups if text(found["name"]) == group), None)

    async def _add(self, payload: str) -> str:
        fields: dict[FieldT, EncodableT] = {PAYLOAD_FIELD: payload}
        message_id = await self._redis.xadd(self.name, fields)
        await self._count()
        return text(message_id)

    async def _read(self, group: str, consumer: str, count: int, block_ms: int | None, loader: Loader,
                    start: str = ">") -> list[Delivery]:
        streams: dict[KeyT, StreamIdT] = {self.name: start}
        try:
            response = await self._redis.xreadgroup(group, consumer, streams, count=count, block=block_ms)
        except ResponseError as error:
            # The group is gone when Redis lost its data (no AOF, FLUSHALL): recreate it and go on.
            if "NOGROUP" not in str(error):
                raise
            log.warning("consumer group %s of %s was missing; creating it", group, self.name)
            await self.ensure_groups()
            response = await self._redis.xreadgroup(group, consumer, streams, count=count, block=block_ms)
        return _deliveries(_read_entries(response), loader)

    async def _delivery_counts(self, group: str, message_ids: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message_id in message_ids:
            entries = await self._redis.xpending_range(self.name, group, min=message_id, max=message_id, count=1)
            for entry in entries:
                counts[stored_text(entry["message_id"])] = int(entry["times_delivered"])
        return counts

    async def _claim(self, group: str, consumer: str, min_idle_ms: int, count: int, loader: Loader) -> list[Delivery]:
        deliveries: list[Delivery] = []
        start: bytes | str = "0-0"
        for _ in range(_MAX_CLAIM_SCANS):
            try:
                response = await self._redis.xautoclaim(
                    self.name, group, consumer, min_idle_time=min_idle_ms, start_id=start,
                    count=count - len(deliveries),
                )
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                await self.ensure_groups()
                return []
            start, messages = response[0], response[1]
            claimed = _deliveries(messages, loader)
            counts = await self._delivery_counts(group, [d.message_id for d in claimed])
            deliveries.extend(dataclasses.replace(d, deliveries=counts.get(d.message_id, 1)) for d in claimed)
            if text(start) == "0-0" or len(deliveries) >= count:
                break
        for claimed_one in deliveries:
            log.info("reclaimed %s message %s for %s", self.name, claimed_one.message_id, consumer)
        return deliveries

    async def _ack(self, group: str, message_id: str) -> bool:
        acked = bool(await self._redis.xack(self.name, group, message_id))
        await self._count()
        return acked

    async def _dead_letter(self, group: str, delivery: Delivery, reason: str) -> None:
        """Record a message that cannot be handled (with the reason) and acknowledge it, in one transaction."""
        record: dict[FieldT, EncodableT] = {
            "id": delivery.message_id, "stream": self.name, "raw": delivery.raw, "reason": reason,
            "deliveries": str(delivery.deliveries), "time": repr(time.time()),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(DEAD_LETTERS, record, maxlen=DEAD_LETTERS_MAXLEN, approximate=True)
            pipe.xack(self.name, group, delivery.message_id)
            self._queue_dead_letter(pipe, delivery)
            await pipe.execute()
        await self._count()
        log.warning("%s message %s dead-lettered: %s", self.name, delivery.message_id, reason)

    def _queue_dead_letter(self, pipe: Pipeline, delivery: Delivery) -> None:  # noqa: B027 - a hook, empty by default
        """What else a dead letter changes, in its transaction (nothing, unless a stream says so)."""

    # --- trimming ----------------------------------------------------------------------------

    async def trim(self) -> int:
        """Remove the entries every group that holds the stream back has acknowledged; how many went."""
        try:
            groups = await self._redis.xinfo_groups(self.name)
        except ResponseError:  # no stream yet
            return 0
        bound: tuple[int, int] | None = None
        for group in groups:
            pending = int(group["pending"])
            if not pending and not await self._holds_back(group["name"]):
                continue
            # The oldest pending entry; with none (or none left since XINFO: acknowledged meanwhile), the
            # last delivered, kept itself: one acked entry more is harmless.
            oldest_pending = (await self._redis.xpending(self.name, group["name"]))["min"] if pending else None
            oldest = stream_id(text(oldest_pending if oldest_pending is not None else group["last-delivered-id"]))
            bound = oldest if bound is None else min(bound, oldest)
        if bound is None or bound == (0, 0):
            return 0
        return int(await self._redis.xtrim(self.name, minid=f"{bound[0]}-{bound[1]}", approximate=False))

    async def _holds_back(self, group: Any) -> bool:
        """Whether a group with nothing pending keeps what it has not read from being trimmed (every group,
        unless a stream says otherwise)."""
        return True

    async def _count(self) -> None:
        """Count an add or ack; trim the stream every TRIM_EVERY of them (a failed trim waits for the next)."""
        self._since_trim += 1
        if self._since_trim < TRIM_EVERY:
            return
        self._since_trim = 0
        try:
            removed = await self.trim()
        except RedisError as error:
            log.info("%s not trimmed (%s)", self.name, error)
            return
        except Exception:  # housekeeping: it never fails the add or acknowledgement it follows
            log.exception("%s not trimmed", self.name)
            return
        log.debug("%s trimmed by %d entries", self.name, removed)

    # --- numbers -------------------------------------------------------------------------------

    async def stats(self) -> StreamStats:
        """The stream's length and each group's pending entries and lag (XLEN, XINFO GROUPS)."""
        length = int(await self._redis.xlen(self.name))  # 0 without a stream
        try:
            groups = await self._redis.xinfo_groups(self.name)
        except ResponseError:  # no stream yet
            groups = []
        pending: dict[str, int] = {}
        lag: dict[str, int] = {}
        for group in groups:
            name = text(group["name"])
            pending[name] = int(group["pending"])
            behind = group.get("lag")
            if behind is None:
                # Redis cannot tell (before 7, or an entry deleted in the unread range): count the unread.
                unread = await self._redis.xrange(self.name, min=f"({text(group['last-delivered-id'])}", max="+",
                                                  count=_MAX_LAG_SCAN)
                behind = len(unread or [])
            lag[name] = int(behind)
        return StreamStats(self.name.removeprefix(PREFIX), length, pending, lag)
