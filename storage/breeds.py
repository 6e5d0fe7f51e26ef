"""The breeds in the store: each breed's state, its generations with their latents and files, the
indexes that find a breed (open breeds, Discord threads and messages), seed uploads, and retention.

Every check-and-write runs as a WATCH/MULTI transaction that is retried when a watched key
changes, so concurrent writers (several workers, a restarted bot) never lose an update, and
writes keyed on (breed id, generation) are idempotent under at-least-once delivery.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import TypedDict, Unpack

import numpy as np
from numpy.typing import NDArray
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from domain.jobs import Job
from domain.limits import MAX_ARTIFACT_BYTES, MAX_ARTIFACTS_PER_GENERATION
from domain.model import OPEN_STATUSES, Breed, BreedParams, Front, Generation, Status
from storage import keys
from storage.client import begin, stored, stored_or_none, stored_text, transaction, ttl_ms
from storage.codec import dump, load_breed, load_generation, pack_generation
from storage.media import MediaStore, copy_in, is_media

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_TTL_S = 86400
# An ended breed's latents are kept this long (its finish's tune, a branch or a tune asked for soon after read
# them exactly), not its whole retention: they are most of what a breed keeps (8 KiB a generation of 8).
# Later, a melody of the breed is read through the model's encoder from its notes (worker.melodies), as a
# gallery winner's is once its breed expired.
ENDED_LATENTS_S = 2 * 86400
# Latents are stored little-endian whatever the machine, so any process reads them bit-exact.
_LATENT_DTYPE = np.dtype("<f4")

# --- keys --------------------------------------------------------------------------------------

# A set of breed ids whose status is open. Thread id -> breed id and message id -> target are a key
# each (thread_key, message_key), so that they expire with their breed; THREADS and MESSAGES are the
# hashes older versions kept them in, still read.
OPEN_BREEDS = f"{keys.PREFIX}breeds:open"
THREADS = f"{keys.PREFIX}threads"
MESSAGES = f"{keys.PREFIX}messages"


def breed_key(breed_id: str) -> str:
    """The breed's JSON."""
    return keys.breed_prefix(breed_id)


def generation_key(breed_id: str, number: int) -> str:
    """The generation's JSON; its existence marks the generation as written."""
    return keys.generation_prefix(breed_id, number)


def latents_key(breed_id: str, number: int) -> str:
    """A hash with the generation's latents: float32 bytes and shape."""
    return f"{keys.generation_prefix(breed_id, number)}:latents"


def thread_key(thread_id: int) -> str:
    """The breed id a Discord thread belongs to."""
    return f"{keys.PREFIX}thread:{thread_id}"


def message_key(message_id: int) -> str:
    """The "breed id:generation" a Discord message shows."""
    return f"{keys.PREFIX}message:{message_id}"


def upload_key(token: str) -> str:
    """An uploaded seed MIDI file."""
    return f"{keys.PREFIX}upload:{token}"


# Queues the XADD of a job on a transaction's pipeline (storage.streams.jobs.JobStream.queue_job).
QueueJob = Callable[[Pipeline, Job], None]
# A key of another concept that lives per generation and expires with its breed (a generation's votes).
GenerationKey = Callable[[str, int], str]


class BreedChanges(TypedDict, total=False):
    """Fields of a breed that `update` changes, by name: every field but its id, typed as Breed has it."""

    owner_id: int
    params: BreedParams
    front: Front
    guild_id: int | None
    channel_id: int | None
    thread_id: int | None
    status: Status
    generation: int
    vote_deadline: float | None
    created_at: float
    progress_message_id: int | None
    winner: int | None
    source: str | None
    opened: int
    idle_rounds: int
    ended: str | None
    winner_generation: int | None


class BreedExistsError(ValueError):
    """create was given an id that is taken."""


class BreedStateStore:
    """Breeds, generations, latents, artifacts, uploads and the indexes. The client must return bytes.

    `queue_job` puts a job in a state change's transaction; `expiring` are other concepts' per-generation
    keys that expire with an ended breed; `retention_s`: how long a breed that ended (finished, stopped,
    failed) is kept; `artifact_ttl_s`: how long a generation's files are. `media`: where rendered audio and
    images go (None: into Redis with the other files, as older versions kept them).
    """

    def __init__(self, redis: Redis, queue_job: QueueJob, *, artifact_ttl_s: float, retention_s: float,
                 expiring: Sequence[GenerationKey] = (), media: MediaStore | None = None) -> None:
        self._redis = redis
        self.media = media
        self._queue_job = queue_job
        self._expiring = tuple(expiring)
        self.artifact_ttl_s = artifact_ttl_s
        self.retention_s = retention_s

    @property
    def _retention_ms(self) -> int:
        return ttl_ms(self.retention_s)

    # --- breeds ------------------------------------------------------------------------------

    async def create(self, breed: Breed, job: Job | None = None) -> None:
        """Store a new breed and index it, and enqueue `job` in the same transaction;
        BreedExistsError if the id is taken."""
        key = breed_key(breed.breed_id)

        async def write(pipe: Pipeline) -> None:
            if await pipe.exists(key):
                raise BreedExistsError(f"breed {breed.breed_id} exists already")
            begin(pipe)
            pipe.set(key, dump(breed))
            _queue_indexes(pipe, None, breed)
            if job is not None:
                self._queue_job(pipe, job)
            await pipe.execute()

        await transaction(self._redis, [key], write)
        log.info("breed %s created (status %s)", breed.breed_id, breed.status)

    async def get(self, breed_id: str) -> Breed | None:
        raw = await self._redis.get(breed_key(breed_id))
        return load_breed(raw) if raw is not None else None

    async def update(self, breed_id: str, /, *, job: Job | None = None, **changes: Unpack[BreedChanges]) -> Breed:
        """Change fields of a breed atomically and return it; KeyError if there is no such breed.

        `job` is enqueued in the same transaction: a state change and the job it asks for happen together
        or not at all, even if Redis goes away in between.
        """
        if changes.get("breed_id", breed_id) != breed_id:
            raise ValueError("a breed's id cannot change")
        key = breed_key(breed_id)

        async def write(pipe: Pipeline) -> Breed:
            raw = await pipe.get(key)
            if raw is None:
                raise KeyError(f"breed {breed_id} does not exist")
            old = load_breed(raw)
            new = dataclasses.replace(old, **changes)
            begin(pipe)
            pipe.set(key, dump(new))
            _queue_indexes(pipe, old, new)
            if new.status not in OPEN_STATUSES:
                self._queue_retention(pipe, new)
            if job is not None:
                self._queue_job(pipe, job)
            await pipe.execute()
            return new

        return await transaction(self._redis, [key], write)

    async def open_breeds(self) -> list[Breed]:
        """Breeds whose status is open (starting, voting, evolving), oldest first."""
        breed_ids = sorted(await self._redis.smembers(OPEN_BREEDS))
        if not breed_ids:
            return []
        raws = await self._redis.mget([breed_key(stored_text(b)) for b in breed_ids])
        breeds = [load_breed(raw) for raw in raws if raw is not None]
        return sorted(breeds, key=lambda breed: (breed.created_at, breed.breed_id))

    async def for_thread(self, thread_id: int) -> str | None:
        """The id of the breed whose Discord thread `thread_id` is, or None."""
        breed_id = await self._redis.get(thread_key(thread_id))
        if breed_id is None:
            breed_id = await self._redis.hget(THREADS, str(thread_id))
        return stored_text(breed_id) if breed_id is not None else None

    async def link_message(self, message_id: int, breed_id: str, generation: int) -> None:
        """Remember that a Discord message shows `generation` of a breed (for its reactions), for the retention."""
        await self._redis.set(message_key(message_id), f"{breed_id}:{generation}", px=self._retention_ms)

    async def message_target(self, message_id: int) -> tuple[str, int] | None:
        """The (breed id, generation) a linked message shows, or None."""
        target = await self._redis.get(message_key(message_id))
        if target is None:
            target = await self._redis.hget(MESSAGES, str(message_id))
        if target is None:
            return None
        breed_id, _, generation = stored_text(target).rpartition(":")
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
        gen_key, this_breed = generation_key(breed_id, number), breed_key(breed_id)
        latents_fields = _latents_fields(latents)
        check_artifacts(artifacts)
        if not await self._redis.exists(gen_key):
            # The media first: once the generation can be read, its files are there (or a render makes them).
            await self._put_media(breed_id, number, artifacts)

        async def write(pipe: Pipeline) -> bool:
            if await pipe.exists(gen_key):
                return False
            raw = await pipe.get(this_breed)
            if raw is None:
                raise KeyError(f"breed {breed_id} does not exist")
            breed = load_breed(raw)
            # A breed that ended keeps its retention, should a late result still come.
            expiry_ms = None if breed.status in OPEN_STATUSES else self._retention_ms
            begin(pipe)
            pipe.set(gen_key, pack_generation(generation), px=expiry_ms)
            pipe.delete(latents_key(breed_id, number))
            pipe.hset(latents_key(breed_id, number), mapping=latents_fields)
            if expiry_ms is not None:
                pipe.pexpire(latents_key(breed_id, number), min(expiry_ms, ttl_ms(ENDED_LATENTS_S)))
            self._queue_artifacts(pipe, breed_id, number, artifacts)
            if number > breed.generation:
                pipe.set(this_breed, dump(dataclasses.replace(breed, generation=number)), keepttl=True)
            await pipe.execute()
            return True

        written = await transaction(self._redis, [gen_key, this_breed], write)
        if written:
            log.info("breed %s generation %d written (%d artifacts)", breed_id, number, len(artifacts))
        else:
            log.info("breed %s generation %d exists already; nothing written", breed_id, number)
        return written

    async def get_generation(self, breed_id: str, number: int) -> Generation | None:
        raw = await self._redis.get(generation_key(breed_id, number))
        return load_generation(raw) if raw is not None else None

    async def get_latents(self, breed_id: str, number: int) -> NDArray[np.float32] | None:
        """The generation's latents as a writable float32 array, bit-exact as written."""
        fields = await self._redis.hgetall(latents_key(breed_id, number))
        if not fields:
            return None
        shape = tuple(json.loads(fields[b"shape"]))
        values = np.frombuffer(stored(fields[b"data"]), dtype=np.dtype(stored_text(fields[b"dtype"])))
        return values.astype(np.float32).reshape(shape)

    async def get_artifact(self, breed_id: str, number: int, name: str) -> bytes | None:
        """A rendered file of a generation; None if never written, expired or evicted from the media store.

        Audio or an image an older version kept in Redis is copied to the media store the first time it is read.
        """
        key = keys.artifact(breed_id, number, name)
        if self.media is None or not is_media(name):
            return stored_or_none(await self._redis.get(key))
        data = await self.media.get(keys.artifact_media(breed_id, number, name))
        if data is None:
            data = stored_or_none(await self._redis.get(key))
            if data is not None:
                await copy_in(self.media, keys.artifact_media(breed_id, number, name), data)
        return data

    async def add_artifacts(
        self, breed_id: str, number: int, artifacts: dict[str, bytes], *, keep: bool = False
    ) -> None:
        """Store (or overwrite) artifacts of a generation, e.g. the winner's or a morph's files.

        `keep`: no expiry (a finished breed keeps its winner's files); else they expire after the TTL. Media
        go to the media store, which evicts them by itself.
        """
        check_artifacts(artifacts)
        await self._put_media(breed_id, number, artifacts)
        async with self._redis.pipeline(transaction=True) as pipe:
            self._queue_artifacts(pipe, breed_id, number, artifacts, keep=keep)
            await pipe.execute()

    async def _put_media(self, breed_id: str, number: int, artifacts: dict[str, bytes]) -> None:
        if self.media is None:
            return
        for name, data in artifacts.items():
            if is_media(name):
                await self.media.put(keys.artifact_media(breed_id, number, name), data)

    def _queue_artifacts(
        self, pipe: Pipeline, breed_id: str, number: int, artifacts: dict[str, bytes], *, keep: bool = False
    ) -> None:
        check_artifacts(artifacts)
        expiry_ms = None if keep else ttl_ms(self.artifact_ttl_s)
        for name, data in artifacts.items():
            if self.media is None or not is_media(name):
                pipe.set(keys.artifact(breed_id, number, name), data, px=expiry_ms)

    # --- uploads -----------------------------------------------------------------------------

    async def save_upload(self, data: bytes, ttl_s: float = DEFAULT_UPLOAD_TTL_S) -> str:
        """Keep an uploaded seed MIDI for ttl_s; returns the token that load_upload takes."""
        token = secrets.token_urlsafe(16)
        await self._redis.set(upload_key(token), data, px=ttl_ms(ttl_s))
        return token

    async def load_upload(self, token: str) -> bytes | None:
        return stored_or_none(await self._redis.get(upload_key(token)))

    # --- retention ---------------------------------------------------------------------------

    def _queue_retention(self, pipe: Pipeline, breed: Breed) -> None:
        """Queue the expiry of a breed that ended: its state, generations, votes and thread link after the
        retention, its latents sooner (ENDED_LATENTS_S).

        Files already expire (ARTIFACT_TTL_DAYS), except the winner's, which the gallery keeps; markers and
        message links carry the retention from the start. LT: a shorter expiry already set stays.
        """
        expiring = [breed_key(breed.breed_id)]
        latents_ms = min(ttl_ms(ENDED_LATENTS_S), self._retention_ms)
        for number in range(breed.generation + 1):
            expiring += [generation_key(breed.breed_id, number)]
            expiring += [key(breed.breed_id, number) for key in self._expiring]
            pipe.pexpire(latents_key(breed.breed_id, number), latents_ms, lt=True)
        if breed.thread_id is not None:
            expiring.append(thread_key(breed.thread_id))
            pipe.hdel(THREADS, str(breed.thread_id))  # an older version's link
        for key in expiring:
            pipe.pexpire(key, self._retention_ms, lt=True)


def _queue_indexes(pipe: Pipeline, old: Breed | None, new: Breed) -> None:
    """Queue the index updates that keep thread and open-breed lookups in step with `new`."""
    if old is not None and old.thread_id is not None and old.thread_id != new.thread_id:
        pipe.delete(thread_key(old.thread_id))
        pipe.hdel(THREADS, str(old.thread_id))
    if new.thread_id is not None and (old is None or old.thread_id != new.thread_id):
        pipe.set(thread_key(new.thread_id), new.breed_id)
    if new.status in OPEN_STATUSES:
        pipe.sadd(OPEN_BREEDS, new.breed_id)
    else:
        pipe.srem(OPEN_BREEDS, new.breed_id)


def check_artifacts(artifacts: dict[str, bytes]) -> None:
    """ValueError when a generation's files are too many or one is too big (both stores refuse them)."""
    if len(artifacts) > MAX_ARTIFACTS_PER_GENERATION:
        raise ValueError(f"{len(artifacts)} files for one generation; at most {MAX_ARTIFACTS_PER_GENERATION}")
    too_big = [name for name, data in artifacts.items() if len(data) > MAX_ARTIFACT_BYTES]
    if too_big:
        raise ValueError(f"{too_big[0]} is larger than {MAX_ARTIFACT_BYTES // (1024 * 1024)} MiB")


def _latents_fields(latents: NDArray[np.float32]) -> dict[FieldT, EncodableT]:
    array = np.asarray(latents)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"latents must be a float array, not {array.dtype}")
    stored = np.ascontiguousarray(array, dtype=_LATENT_DTYPE)
    return {
        "shape": json.dumps(list(stored.shape)).encode(),
        "dtype": _LATENT_DTYPE.str.encode(),
        "data": stored.tobytes(),
    }
