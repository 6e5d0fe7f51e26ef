"""Requests that a worker renders once and a front end shows once, in the store: compositions and tunes.

A request is kept like a generation's artifacts (for their TTL), with its rendered files and a
marker set the first time it is shown. Each kind has its own keys: "mb:<kind>:<id>", its files
"mb:<kind>:<id>:file:<name>" and its marker "mb:<kind>:<id>:posted".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from redis.asyncio import Redis

from domain.model import Composition, TuneRequest
from storage import keys
from storage.client import stored, stored_or_none, stored_text, ttl_ms
from storage.codec import dump, load_composition, load_tune
from storage.media import MediaStore, is_media, media_key

R = TypeVar("R", Composition, TuneRequest)

COMPOSITION = "composition"
TUNE = "tune"

# --- keys --------------------------------------------------------------------------------------


def request_key(kind: str, request_id: str) -> str:
    """A request's JSON: what it is made from and where it was asked for."""
    return f"{keys.PREFIX}{kind}:{request_id}"


def file_key(kind: str, request_id: str, name: str) -> str:
    """One rendered file of a request (with the artifacts' TTL)."""
    return f"{request_key(kind, request_id)}:file:{name}"


def file_media_key(kind: str, request_id: str, name: str) -> str:
    """Where a request's rendered audio or image lives in the media store."""
    return media_key(kind, request_id, name)


def posted_key(kind: str, request_id: str) -> str:
    """A marker set the first time a front end shows the request."""
    return f"{request_key(kind, request_id)}:posted"


def failed_key(kind: str, request_id: str) -> str:
    """Why the worker could not do the request, once it failed."""
    return f"{request_key(kind, request_id)}:failed"


class RequestStore(Generic[R]):
    """Requests of one kind in Redis, each kept for `artifact_ttl_s`; `id_of` names a request; `media`: where
    its audio and images go (None: in Redis with its MIDI file)."""

    def __init__(self, redis: Redis, kind: str, artifact_ttl_s: float, id_of: Callable[[R], str],
                 load: Callable[[bytes], R], media: MediaStore | None = None) -> None:
        self._redis = redis
        self.media = media
        self._kind = kind
        self._ttl_ms = ttl_ms(artifact_ttl_s)
        self._id_of: Callable[[R], str] = id_of
        self._load: Callable[[bytes], R] = load

    async def create(self, request: R) -> None:
        """Store a request, for the artifacts' TTL."""
        await self._redis.set(request_key(self._kind, self._id_of(request)), dump(request), px=self._ttl_ms)

    async def delete(self, request: R) -> None:
        """Take back a request that was refused before any worker saw it."""
        await self._redis.delete(request_key(self._kind, self._id_of(request)))

    async def get(self, request_id: str) -> R | None:
        raw = await self._redis.get(request_key(self._kind, request_id))
        return self._load(stored(raw)) if raw is not None else None

    async def add_files(self, request_id: str, files: dict[str, bytes]) -> None:
        media = self.media
        in_media = {name: data for name, data in files.items() if media is not None and is_media(name)}
        if media is not None:
            for name, data in in_media.items():
                await media.put(file_media_key(self._kind, request_id, name), data)
        async with self._redis.pipeline(transaction=True) as pipe:
            for name, data in files.items():
                if name not in in_media:
                    pipe.set(file_key(self._kind, request_id, name), data, px=self._ttl_ms)
            await pipe.execute()

    async def file(self, request_id: str, name: str) -> bytes | None:
        """A rendered file of the request; None when never made, expired or evicted from the media store."""
        if self.media is not None and is_media(name):
            data = await self.media.get(file_media_key(self._kind, request_id, name))
            if data is not None:
                return data
        return stored_or_none(await self._redis.get(file_key(self._kind, request_id, name)))

    async def mark_posted(self, request_id: str) -> bool:
        """True only the first time: a request is shown once."""
        return bool(await self._redis.set(posted_key(self._kind, request_id), b"1", nx=True, px=self._ttl_ms))

    async def unmark_posted(self, request_id: str) -> None:
        await self._redis.delete(posted_key(self._kind, request_id))

    async def mark_failed(self, request_id: str, message: str) -> None:
        """Keep why the request failed, for a front end that reads it later (as long as the request)."""
        await self._redis.set(failed_key(self._kind, request_id), message.encode(), px=self._ttl_ms)

    async def failure(self, request_id: str) -> str | None:
        """Why the request failed, or None."""
        raw = await self._redis.get(failed_key(self._kind, request_id))
        return stored_text(raw) if raw is not None else None


def composition_store(redis: Redis, artifact_ttl_s: float,
                      media: MediaStore | None = None) -> RequestStore[Composition]:
    return RequestStore(redis, COMPOSITION, artifact_ttl_s, lambda piece: piece.composition_id, load_composition,
                        media)


def tune_store(redis: Redis, artifact_ttl_s: float, media: MediaStore | None = None) -> RequestStore[TuneRequest]:
    return RequestStore(redis, TUNE, artifact_ttl_s, lambda tune: tune.tune_id, load_tune, media)
