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
from redis.exceptions import WatchError

from domain.limits import MAX_ARTIFACT_BYTES, MAX_ARTIFACTS_PER_GENERATION
from domain.model import OPEN_STATUSES, Breed, Generation
from storage import keys
from storage.codec import Job, dump, load_breed, load_generation
from storage.gallery import GalleryStore
from storage.streams import Delivery, MessageStreams
from storage.votes import VoteStore

__all__ = ["BreedExistsError", "BreedStore", "Delivery", "LockTimeout", "new_breed_id"]

log = logging.getLogger(__name__)

DEFAULT_ARTIFACT_TTL_S = 14 * 86400
DEFAULT_UPLOAD_TTL_S = 86400
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


# Deletes the lock only if it still holds this holder's token: an expired lease taken over by another
# process is not released by the first.
_RELEASE_IF_MINE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


def new_breed_id() -> str:
    """A short, URL-safe random breed id."""
    return "".join(secrets.choice(_BREED_ID_ALPHABET) for _ in range(_BREED_ID_LENGTH))


class BreedStore(MessageStreams, GalleryStore, VoteStore):
    """All state of Melody Breeder in Redis. The client must return bytes (decode_responses=False)."""

    new_breed_id = staticmethod(new_breed_id)

    def __init__(self, redis: Redis, artifact_ttl_s: float = DEFAULT_ARTIFACT_TTL_S) -> None:
        super().__init__(redis)
        if artifact_ttl_s <= 0:
            raise ValueError("artifact_ttl_s must be positive")
        self.artifact_ttl_s = artifact_ttl_s

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
        breed_id = await self._redis.hget(keys.THREADS, str(thread_id))
        return breed_id.decode() if breed_id is not None else None

    async def link_message(self, message_id: int, breed_id: str, generation: int) -> None:
        """Remember that a Discord message shows `generation` of a breed (for its reactions)."""
        await self._redis.hset(keys.MESSAGES, str(message_id), f"{breed_id}:{generation}")

    async def message_target(self, message_id: int) -> tuple[str, int] | None:
        """The (breed id, generation) a linked message shows, or None."""
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
            pipe.multi()
            pipe.set(gen_key, dump(generation))
            pipe.delete(keys.latents(breed_id, number))
            pipe.hset(keys.latents(breed_id, number), mapping=latents_fields)
            self._queue_artifacts(pipe, breed_id, number, artifacts)
            if number > breed.generation:
                pipe.set(breed_key, dump(dataclasses.replace(breed, generation=number)))
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

    @contextlib.asynccontextmanager
    async def breed_lock(self, breed_id: str, lease_s: float = 60.0, wait_s: float = 30.0) -> AsyncIterator[None]:
        """Hold the breed's lock across processes (bots, web page) while a transition runs.

        The lease frees it if the holder dies; it is released only by its holder (compare-and-delete).
        LockTimeout when another holder keeps it longer than `wait_s`.
        """
        key, token = keys.lock(breed_id), secrets.token_hex(16)
        lease_ms = max(1, round(lease_s * 1000))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        pause = 0.005
        while not await self._redis.set(key, token, nx=True, px=lease_ms):
            if loop.time() > deadline:
                raise LockTimeout(f"breed {breed_id} stayed locked for {wait_s:.0f} s")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
        try:
            yield
        finally:
            await self._redis.eval(_RELEASE_IF_MINE, 1, key, token)

    # --- cooldowns ---------------------------------------------------------------------------

    async def take_cooldown(self, kind: str, user_id: int, seconds: float) -> float:
        """Start a user's cooldown of `kind`; 0.0 when it was free, else the seconds still to wait."""
        if seconds <= 0:
            return 0.0
        key = keys.cooldown(kind, user_id)
        if await self._redis.set(key, b"1", px=max(1, round(seconds * 1000)), nx=True):
            return 0.0
        remaining_ms = await self._redis.pttl(key)
        return max(remaining_ms, 0) / 1000

    # --- posting markers ---------------------------------------------------------------------

    async def mark_posted(self, breed_id: str, number: int, kind: str = "generation") -> bool:
        """True only the first time for (breed, generation, kind): nothing is posted twice."""
        return bool(await self._redis.set(keys.posted(breed_id, number, kind), b"1", nx=True))

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


def _queue_indexes(pipe: Pipeline, old: Breed | None, new: Breed) -> None:
    """Queue the index updates that keep thread and open-breed lookups in step with `new`."""
    if old is not None and old.thread_id is not None and old.thread_id != new.thread_id:
        pipe.hdel(keys.THREADS, str(old.thread_id))
    if new.thread_id is not None:
        pipe.hset(keys.THREADS, str(new.thread_id), new.breed_id)
    if new.status in OPEN_STATUSES:
        pipe.sadd(keys.OPEN_BREEDS, new.breed_id)
    else:
        pipe.srem(keys.OPEN_BREEDS, new.breed_id)


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
