"""What a Discord server leaves in the store, and forgetting it when the bot leaves that server.

A server's data is its gallery (winners, their records and files), its breeds with everything that
hangs off them (generations, files, votes and nudges: who took part), the indexes that find those
breeds (open breeds, threads), and the compositions and tunes asked for there. None of it has a key
per server but the gallery, so the breeds and requests are found by scanning their records once: a
rare step (the bot left, or an admin asked), which may be repeated until it finds nothing more; the keys
under those records are found in one more scan per kind.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from redis.asyncio import Redis

from domain.model import Composition, TuneRequest
from storage import keys
from storage.breeds import OPEN_BREEDS, THREADS, breed_key, thread_key
from storage.client import stored, stored_text
from storage.codec import load_breed, load_composition, load_tune
from storage.gallery import gallery_key, winner_key
from storage.requests import COMPOSITION, TUNE, request_key

log = logging.getLogger(__name__)

T = TypeVar("T")

SCAN_COUNT = 1000
# A breed's or a request's own record: the prefix and an id, nothing after it.
_RECORD_ID = re.compile(r"^[a-z0-9]{1,64}$")


@dataclass(frozen=True)
class Forgotten:
    """How much of a server was deleted."""

    winners: int = 0
    breeds: int = 0
    requests: int = 0


class ServerStore:
    """Finds and deletes everything the store keeps of one Discord server."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def forget(self, guild_id: int) -> Forgotten:
        """Delete the server's gallery, its breeds (with their votes, nudges, files) and its requests."""
        winners = await self._forget_gallery(guild_id)
        breeds = await self._forget_breeds(guild_id)
        requests = await self._forget_requests(guild_id)
        forgotten = Forgotten(winners, breeds, requests)
        log.info("server %d forgotten: %d gallery winners, %d breeds, %d compositions and tunes", guild_id,
                 forgotten.winners, forgotten.breeds, forgotten.requests)
        return forgotten

    async def _forget_gallery(self, guild_id: int) -> int:
        gallery = gallery_key(guild_id)
        melody_ids = [stored_text(raw) for raw in await self._redis.zrange(gallery, 0, -1)]
        older_copies = await self._parts(winner_key(""), set(melody_ids))
        for melody_id in melody_ids:
            await self._redis.delete(winner_key(melody_id), *older_copies[melody_id])
        await self._redis.delete(gallery)
        return len(melody_ids)

    async def _forget_breeds(self, guild_id: int) -> int:
        prefix = keys.breed_prefix("")
        breeds = {breed_id: breed for breed_id, breed in await self._records(prefix, load_breed)
                  if breed.guild_id == guild_id}
        parts = await self._parts(prefix, set(breeds))
        for breed_id, breed in breeds.items():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(breed_key(breed_id), *parts[breed_id])
                pipe.srem(OPEN_BREEDS, breed_id)
                if breed.thread_id is not None:
                    pipe.delete(thread_key(breed.thread_id))
                    pipe.hdel(THREADS, str(breed.thread_id))
                await pipe.execute()
        return len(breeds)

    async def _forget_requests(self, guild_id: int) -> int:
        forgotten = 0
        kinds: tuple[tuple[str, Callable[[bytes], Composition | TuneRequest]], ...] = (
            (COMPOSITION, load_composition), (TUNE, load_tune))
        for kind, load in kinds:
            prefix = request_key(kind, "")
            request_ids = {request_id for request_id, request in await self._records(prefix, load)
                           if request.guild_id == guild_id}
            parts = await self._parts(prefix, request_ids)
            for request_id in request_ids:
                await self._redis.delete(request_key(kind, request_id), *parts[request_id])
            forgotten += len(request_ids)
        return forgotten

    async def _records(self, prefix: str, load: Callable[[bytes], T]) -> list[tuple[str, T]]:
        """Every record "<prefix><id>" (a breed's or a request's own, nothing after the id) with its id."""
        records = []
        async for raw_key in self._redis.scan_iter(match=f"{prefix}*", count=SCAN_COUNT):
            record_id = raw_key.decode()[len(prefix):]
            if not _RECORD_ID.match(record_id):
                continue
            raw = await self._redis.get(raw_key)
            if raw is not None:
                records.append((record_id, load(stored(raw))))
        return records

    async def _parts(self, prefix: str, record_ids: set[str]) -> dict[str, list[bytes]]:
        """The keys under each record "<prefix><id>:" of `record_ids`, found in one scan, not one per record."""
        parts: dict[str, list[bytes]] = {record_id: [] for record_id in record_ids}
        if not record_ids:
            return parts
        async for raw_key in self._redis.scan_iter(match=f"{prefix}*", count=SCAN_COUNT):
            record_id, under, _ = raw_key.decode()[len(prefix):].partition(":")
            if under and record_id in parts:
                parts[record_id].append(raw_key)
        return parts
