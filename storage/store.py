"""The breed store: breeds, generations, latents, artifacts, votes and the message streams in Redis.

Every check-and-write runs as a WATCH/MULTI transaction that is retried when a watched key
changes, so concurrent writers (several workers, a restarted bot) never lose an update, and
writes keyed on (breed id, generation) are idempotent under at-least-once delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, WatchError

from domain.limits import MAX_ARTIFACT_BYTES, MAX_ARTIFACTS_PER_GENERATION
from domain.model import OPEN_STATUSES, Breed, Generation
from storage import keys
from storage.codec import Job, dump, load_breed, load_generation
from storage.gallery import GalleryStore
from storage.nudges import NudgeStore
from storage.streams import Delivery, MessageStreams
from storage.votes import VoteStore

__all__ = ["BreedExistsError", "BreedStore", "Delivery", "LockTimeout", "new_breed_id"]

log = logging.getLogger(__name__)

DEFAULT_ARTIFACT_TTL_S = 14 * 86400
DEFAULT_UPLOAD_TTL_S = 86400
DEFAULT_RETENTION_S = 90 * 86400
# Lower-case letters and digits: short enough to type, 36**8 (~2.8e12) ids; create_breed refuses a clash.
_BREED_ID_ALPHABET = string.ascii_lowercase + string.digits
_BREED_ID_LENGTH = 8
# Latents are stored little-endian whatever the machine, so any process reads them bit-exact.
_LATENT_DTYPE = np.dtype("<f4")

T = TypeVar("T")


class BreedExistsError(ValueError):
    """create_breed was given an id that is taken."""


class LockTimeout(TimeoutError):
    """A breed's lock stayed taken by another process for too long."""


def new_breed_id() -> str:
    """A short, URL-safe random breed id."""
    return "".join(secrets.choice(_BREED_ID_ALPHABET) for _ in range(_BREED_ID_LENGTH))


class BreedStore(MessageStreams, GalleryStore, VoteStore, NudgeStore):
    """All state of Melody Breeder in Redis. The client must return bytes (decode_responses=False)."""

    new_breed_id = staticmethod(new_breed_id)

    def __init__(self, redis: Redis, artifact_ttl_s: float = DEFAULT_ARTIFACT_TTL_S,
                 retention_s: float = DEFAULT_RETENTION_S) -> None:
        """`retention_s`: how long a breed that ended (finished, stopped, failed) is kept; its gallery
        winner stays until removed."""
        super().__init__(redis)
        if artifact_ttl_s <= 0 or retention_s <= 0:
            raise ValueError("artifact_ttl_s and retention_s must be positive")
        self.artifact_ttl_s = artifact_ttl_s
        self.retention_s = retention_s

    @property
    def _retention_ms(self) -> int:
        return max(1, round(self.retention_s * 1000))

    @property
    def redis(self) -> Redis:
        return self._redis

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()

    # --- breeds ------------------------------------------------------------------------------

    async def create_breed(self, breed: Breed, job: Job | None = None) -> None:
        """Store a new breed and index it, and enqueue `job` in the same transaction;
        BreedExistsError if the id is taken."""
        key = keys.breed(breed.breed_id)

        async def write(pipe: Pipeline) -> None:
            if await pipe.exists(key):
                raise BreedExistsError(f"breed {breed.breed_id} exists already")
            pipe.multi()
            pipe.set(key, dump(breed))
            _queue_indexes(pipe, None, breed)
            if job is not None:
                self._queue_job(pipe, job)
            await pipe.execute()

        await self._transaction([key], write)
        log.info("breed %s created (status %s)", breed.breed_id, breed.status)

    async def get_breed(self, breed_id: str) -> Breed | None:
        raw = await self._redis.get(keys.breed(breed_id))
        return load_breed(raw) if raw is not None else None

    async def update_breed(self, breed_id: str, /, *, job: Job | None = None, **changes: object) -> Breed:
        """Change fields of a breed atomically and return it; KeyError if there is no such breed.

        `job` is enqueued in the same transaction: a state change and the job it asks for happen together
        or not at all, even if Redis goes away in between.
        """
        if changes.get("breed_id", breed_id) != breed_id:
            raise ValueError("a breed's id cannot change")
        key = keys.breed(breed_id)

        async def write(pipe: Pipeline) -> Breed:
            raw = await pipe.get(key)
            if raw is None:
                raise KeyError(f"breed {breed_id} does not exist")
            old = load_breed(raw)
            new = dataclasses.replace(old, **changes)
            pipe.multi()
            pipe.set(key, dump(new))
            _queue_indexes(pipe, old, new)
            if new.status not in OPEN_STATUSES:
                _queue_retention(pipe, new, self._retention_ms)
            if job is not None:
                self._queue_job(pipe, job)
            await pipe.execute()
            return new

        return await self._transaction([key], write)

    async def open_breeds(self) -> list[Breed]:
        """Breeds whose status is open (starting, voting, evolving), oldest first."""
        breed_ids = sorted(await self._redis.smembers(keys.OPEN_BREEDS))
        if not breed_ids:
            return []
        raws = await self._redis.mget([keys.breed(b.decode()) for b in breed_ids])
        breeds = [load_breed(raw) for raw in raws if raw is not None]
        return sorted(breeds, key=lambda breed: (breed.created_at, breed.breed_id))

    async def breed_for_thread(self, thread_id: int) -> str | None:
        breed_id = await self._redis.get(keys.thread(thread_id))
        if breed_id is None:
            breed_id = await self._redis.hget(keys.THREADS, str(thread_id))
        return breed_id.decode() if breed_id is not None else None

    async def link_message(self, message_id: int, breed_id: str, generation: int) -> None:
        """Remember that a Discord message shows `generation` of a breed (for its reactions), for the retention."""
        await self._redis.set(keys.message(message_id), f"{breed_id}:{generation}", px=self._retention_ms)

    async def message_target(self, message_id: int) -> tuple[str, int] | None:
        """The (breed id, generation) a linked message shows, or None."""
        target = await self._redis.get(keys.message(message_id))
        if target is None:
            target = await self._redis.hget(keys.MESSAGES, str(message_id))
        if target is None:
            return None
        breed_id, _, generation = target.decode().rpartition(":")
        return breed_id, int(generation)

    # --- generations -------------------------------------------------------------------------

    async def write_generation(
        self, generation: Generation, latents: NDArray[np.float32], artifacts: dict[str, bytes]
    ) -> bool:
        """Write a generation with its latents and artifacts in one transaction, once.

        Returns False (and writes nothing) if generation (breed_id, number) exists already. Also
        raises the breed's `generation` to `number`. KeyError if the breed does not exist.
        """
        breed_id, number = generation.breed_id, generation.number
        gen_key, breed_key = keys.generation(breed_id, number), keys.breed(breed_id)
        latents_fields = _latents_fields(latents)

        async def write(pipe: Pipeline) -> bool:
            if await pipe.exists(gen_key):
                return False
            raw = await pipe.get(breed_key)
            if raw is None:
                raise KeyError(f"breed {breed_id} does not exist")
            breed = load_breed(raw)
            # A breed that ended keeps its retention, should a late result still come.
            ttl_ms = None if breed.status in OPEN_STATUSES else self._retention_ms
            pipe.multi()
            pipe.set(gen_key, dump(generation), px=ttl_ms)
            pipe.delete(keys.latents(breed_id, number))
            pipe.hset(keys.latents(breed_id, number), mapping=latents_fields)
            if ttl_ms is not None:
                pipe.pexpire(keys.latents(breed_id, number), ttl_ms)
            self._queue_artifacts(pipe, breed_id, number, artifacts)
            if number > breed.generation:
                pipe.set(breed_key, dump(dataclasses.replace(breed, generation=number)), keepttl=True)
            await pipe.execute()
            return True

        written = await self._transaction([gen_key, breed_key], write)
        if written:
            log.info("breed %s generation %d written (%d artifacts)", breed_id, number, len(artifacts))
        else:
            log.info("breed %s generation %d exists already; nothing written", breed_id, number)
        return written

    async def get_generation(self, breed_id: str, number: int) -> Generation | None:
        raw = await self._redis.get(keys.generation(breed_id, number))
        return load_generation(raw) if raw is not None else None

    async def get_latents(self, breed_id: str, number: int) -> NDArray[np.float32] | None:
        """The generation's latents as a writable float32 array, bit-exact as written."""
        fields = await self._redis.hgetall(keys.latents(breed_id, number))
        if not fields:
            return None
        shape = tuple(json.loads(fields[b"shape"]))
        stored = np.frombuffer(fields[b"data"], dtype=np.dtype(fields[b"dtype"].decode()))
        return stored.astype(np.float32).reshape(shape)

    async def get_artifact(self, breed_id: str, number: int, name: str) -> bytes | None:
        """A rendered file of a generation; None if never written or expired."""
        return await self._redis.get(keys.artifact(breed_id, number, name))

    async def add_artifacts(
        self, breed_id: str, number: int, artifacts: dict[str, bytes], *, keep: bool = False
    ) -> None:
        """Store (or overwrite) artifacts of a generation, e.g. the winner's or a morph's files.

        `keep`: no expiry (a finished breed keeps its winner's files); else they expire after the TTL.
        """
        async with self._redis.pipeline(transaction=True) as pipe:
            self._queue_artifacts(pipe, breed_id, number, artifacts, keep=keep)
            await pipe.execute()

    def _queue_artifacts(
        self, pipe: Pipeline, breed_id: str, number: int, artifacts: dict[str, bytes], *, keep: bool = False
    ) -> None:
        if len(artifacts) > MAX_ARTIFACTS_PER_GENERATION:
            raise ValueError(f"{len(artifacts)} files for one generation; at most {MAX_ARTIFACTS_PER_GENERATION}")
        too_big = [name for name, data in artifacts.items() if len(data) > MAX_ARTIFACT_BYTES]
        if too_big:
            raise ValueError(f"{too_big[0]} is larger than {MAX_ARTIFACT_BYTES // (1024 * 1024)} MiB")
        ttl_ms = None if keep else max(1, round(self.artifact_ttl_s * 1000))
        for name, data in artifacts.items():
            pipe.set(keys.artifact(breed_id, number, name), data, px=ttl_ms)

    # --- uploads -----------------------------------------------------------------------------

    async def save_upload(self, data: bytes, ttl_s: float = DEFAULT_UPLOAD_TTL_S) -> str:
        """Keep an uploaded seed MIDI for ttl_s; returns the token that load_upload takes."""
        token = secrets.token_urlsafe(16)
        await self._redis.set(keys.upload(token), data, px=max(1, round(ttl_s * 1000)))
        return token

    async def load_upload(self, token: str) -> bytes | None:
        return await self._redis.get(keys.upload(token))

    # --- the breed lock ----------------------------------------------------------------------

    def breed_lock(self, breed_id: str, lease_s: float = 60.0,
                   wait_s: float = 30.0) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the breed's lock across processes (bots, web page) while a transition runs.

        The lease is renewed while the lock is held (a transition may wait on Discord for long), so it
        frees the lock only when its holder died; it is released only by its holder (redis-py's token
        check). LockTimeout when another holder keeps it longer than `wait_s`.
        """
        return self._leased_lock(keys.lock(breed_id), f"breed {breed_id}", lease_s, wait_s)

    def start_lock(self, scope: int | str | None, lease_s: float = 60.0,
                   wait_s: float = 30.0) -> contextlib.AbstractAsyncContextManager[None]:
        """Held while a breed of `scope` (a server, a web client) is checked against its limits and started."""
        return self._leased_lock(keys.start_lock(scope), f"starts of {scope}", lease_s, wait_s)

    @contextlib.asynccontextmanager
    async def _leased_lock(self, key: str, what: str, lease_s: float, wait_s: float) -> AsyncIterator[None]:
        lock = self._redis.lock(key, timeout=lease_s, sleep=0.02, blocking_timeout=wait_s, thread_local=False)
        if not await lock.acquire():
            raise LockTimeout(f"{what} stayed locked for {wait_s:.0f} s")
        renewal = asyncio.create_task(_keep_lock(lock, what, lease_s / 3), name=f"lock {key}")
        try:
            yield
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            with contextlib.suppress(LockError):
                await lock.release()

    # --- cooldowns ---------------------------------------------------------------------------

    async def take_cooldown(self, kind: str, user_id: int | str, seconds: float) -> float:
        """Start a user's cooldown of `kind`; 0.0 when it was free, else the seconds still to wait."""
        if seconds <= 0:
            return 0.0
        key = keys.cooldown(kind, user_id)
        if await self._redis.set(key, b"1", px=max(1, round(seconds * 1000)), nx=True):
            return 0.0
        remaining_ms = await self._redis.pttl(key)
        return max(remaining_ms, 0) / 1000

    async def give_back_cooldown(self, kind: str, user_id: int | str) -> None:
        """End a user's cooldown of `kind`: what it was taken for did not happen."""
        await self._redis.delete(keys.cooldown(kind, user_id))

    # --- posting markers ---------------------------------------------------------------------

    async def mark_posted(self, breed_id: str, number: int, kind: str = "generation") -> bool:
        """True only the first time for (breed, generation, kind): nothing is posted twice."""
        return bool(await self._redis.set(keys.posted(breed_id, number, kind), b"1", nx=True, px=self._retention_ms))

    async def is_posted(self, breed_id: str, number: int, kind: str = "generation") -> bool:
        """Whether `kind` of the generation is marked as posted."""
        return bool(await self._redis.exists(keys.posted(breed_id, number, kind)))

    async def posted_kinds(self, breed_id: str, number: int, kinds: list[str]) -> set[str]:
        """Which of `kinds` of the generation are marked as posted, in one round trip."""
        if not kinds:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for kind in kinds:
                pipe.exists(keys.posted(breed_id, number, kind))
            found = await pipe.execute()
        return {kind for kind, exists in zip(kinds, found, strict=True) if exists}

    async def unmark_posted(self, breed_id: str, number: int, kind: str = "generation") -> None:
        """Forget a posting marker, so that a post that failed after mark_posted can be retried."""
        await self._redis.delete(keys.posted(breed_id, number, kind))

    async def post_part(self, breed_id: str, number: int, kind: str, part: str) -> str | None:
        """What a part of a post of `kind` left when it was sent (a message id), or None if it was not."""
        value = await self._redis.hget(keys.posted_parts(breed_id, number, kind), part)
        return value.decode() if value is not None else None

    async def record_post_part(self, breed_id: str, number: int, kind: str, part: str, value: str) -> None:
        """Note that a part of a post of `kind` was sent, so that a retried post does not send it again."""
        key = keys.posted_parts(breed_id, number, kind)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, part, value)
            pipe.pexpire(key, self._retention_ms)
            await pipe.execute()

    # --- internals ---------------------------------------------------------------------------

    async def _transaction(self, watched: list[str], body: Callable[[Pipeline], Awaitable[T]]) -> T:
        """Run `body` on a pipeline WATCHing `watched`, again whenever a watched key changed meanwhile.

        `body` reads in immediate mode, then calls pipe.multi(), queues writes and executes.
        """
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(*watched)
                    return await body(pipe)
                except WatchError:
                    log.debug("watched keys %s changed during a transaction; retrying", watched)
                finally:
                    await pipe.reset()


async def _keep_lock(lock: Lock, what: str, interval_s: float) -> None:
    """Renew a held lock's lease every `interval_s`; stop when it was lost (logged: it should not be)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await lock.reacquire()
        except LockError:
            log.error("%s: the lock was lost while held", what)
            return
        except Exception as error:  # noqa: BLE001 - Redis away: try again at the next beat
            log.warning("%s: the lock's lease was not renewed (%s)", what, error)


def _queue_indexes(pipe: Pipeline, old: Breed | None, new: Breed) -> None:
    """Queue the index updates that keep thread and open-breed lookups in step with `new`."""
    if old is not None and old.thread_id is not None and old.thread_id != new.thread_id:
        pipe.delete(keys.thread(old.thread_id))
        pipe.hdel(keys.THREADS, str(old.thread_id))
    if new.thread_id is not None and (old is None or old.thread_id != new.thread_id):
        pipe.set(keys.thread(new.thread_id), new.breed_id)
    if new.status in OPEN_STATUSES:
        pipe.sadd(keys.OPEN_BREEDS, new.breed_id)
    else:
        pipe.srem(keys.OPEN_BREEDS, new.breed_id)


def _queue_retention(pipe: Pipeline, breed: Breed, ttl_ms: int) -> None:
    """Queue the expiry of a breed that ended: its state, generations, latents, votes and thread link.

    Files already expire (ARTIFACT_TTL_DAYS), except the winner's, which the gallery keeps; markers and
    message links carry the retention from the start. LT: a shorter expiry already set stays.
    """
    expiring = [keys.breed(breed.breed_id)]
    for number in range(breed.generation + 1):
        expiring += [keys.generation(breed.breed_id, number), keys.latents(breed.breed_id, number),
                     keys.votes(breed.breed_id, number)]
    if breed.thread_id is not None:
        expiring.append(keys.thread(breed.thread_id))
        pipe.hdel(keys.THREADS, str(breed.thread_id))  # an older version's link
    for key in expiring:
        pipe.pexpire(key, ttl_ms, lt=True)


def _latents_fields(latents: NDArray[np.float32]) -> dict[str, bytes]:
    array = np.asarray(latents)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"latents must be a float array, not {array.dtype}")
    stored = np.ascontiguousarray(array, dtype=_LATENT_DTYPE)
    return {
        "shape": json.dumps(list(stored.shape)).encode(),
        "dtype": _LATENT_DTYPE.str.encode(),
        "data": stored.tobytes(),
    }
