"""The breed store: the Redis connection and the store's concepts, each with its own keys.

`BreedStore` opens nothing itself: it holds the client it is given and builds one object per
concept on it (breeds, streams, votes, nudges, posting markers, locks, the gallery, compositions,
tunes, and what a Discord server leaves: `servers`). Each concept names its own keys in its module;
storage.keys has the few they share.
"""

from __future__ import annotations

import secrets
import string

from redis.asyncio import Redis

from domain.model import Composition, TuneRequest
from storage.breeds import BreedStateStore
from storage.gallery import GalleryStore
from storage.locks import LockStore
from storage.media import MediaStore
from storage.nudges import NudgeStore, nudges_key
from storage.posts import PostStore
from storage.requests import RequestStore, composition_store, tune_store
from storage.servers import ServerStore
from storage.streams import MessageStreams
from storage.votes import VoteStore, votes_key

__all__ = ["BreedStore", "new_breed_id"]

DEFAULT_ARTIFACT_TTL_S = 14 * 86400
DEFAULT_RETENTION_S = 90 * 86400
# Lower-case letters and digits: short enough to type, 36**8 (~2.8e12) ids; breeds.create refuses a clash.
_BREED_ID_ALPHABET = string.ascii_lowercase + string.digits
_BREED_ID_LENGTH = 8


def new_breed_id() -> str:
    """A short, URL-safe random breed id."""
    return "".join(secrets.choice(_BREED_ID_ALPHABET) for _ in range(_BREED_ID_LENGTH))


class BreedStore:
    """All state of Melody Breeder in Redis, one attribute per concept. The client must return bytes
    (decode_responses=False)."""

    new_breed_id = staticmethod(new_breed_id)

    def __init__(self, redis: Redis, artifact_ttl_s: float = DEFAULT_ARTIFACT_TTL_S,
                 retention_s: float = DEFAULT_RETENTION_S, media: MediaStore | None = None) -> None:
        """`artifact_ttl_s`: how long rendered files are kept; `retention_s`: how long a breed that ended
        (finished, stopped, failed) is kept; its gallery winner stays until removed. `media`: where rendered
        audio and images go (storage.media; None: into Redis with the rest, for tools and tests)."""
        if artifact_ttl_s <= 0 or retention_s <= 0:
            raise ValueError("artifact_ttl_s and retention_s must be positive")
        self._redis = redis
        self.streams = MessageStreams(redis)
        self.breeds = BreedStateStore(redis, self.streams.jobs.queue_job, artifact_ttl_s=artifact_ttl_s,
                                      retention_s=retention_s, expiring=(votes_key, nudges_key), media=media)
        self.media = media
        self.votes = VoteStore(redis)
        self.nudges = NudgeStore(redis)
        self.posts = PostStore(redis, retention_s)
        self.locks = LockStore(redis)
        self.gallery = GalleryStore(redis, media)
        self.servers = ServerStore(redis)
        self.compositions: RequestStore[Composition] = composition_store(redis, artifact_ttl_s, media)
        self.tunes: RequestStore[TuneRequest] = tune_store(redis, artifact_ttl_s, media)

    @property
    def redis(self) -> Redis:
        return self._redis

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()
        if self.media is not None:
            await self.media.close()
