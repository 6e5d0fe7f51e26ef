"""The gallery in the store: finished winners kept per server.

A winner is kept with no TTL, and so are its files, once: the breed's own winner files (written
without TTL by the worker) are the gallery's, and outlive the rest of the breed, which expires.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from domain.model import Winner
from storage import keys
from storage.client import stored_or_none, stored_text
from storage.codec import dump, load_winner
from storage.media import MediaStore, copy_in, is_media

log = logging.getLogger(__name__)

# --- keys --------------------------------------------------------------------------------------


def gallery_key(guild_id: int | None) -> str:
    """A server's gallery: a sorted set of winners' melody ids, scored by when they finished (no TTL)."""
    return f"{keys.PREFIX}gallery:{guild_id if guild_id is not None else 'local'}"


def winner_key(melody_id: str) -> str:
    """A gallery winner's JSON (no TTL)."""
    return f"{keys.PREFIX}winner:{melody_id}"


def winner_file_key(melody_id: str, name: str) -> str:
    """Where older versions kept a second copy of a gallery winner's file (now the breed's own is kept)."""
    return f"{keys.PREFIX}winner:{melody_id}:file:{name}"


class GalleryStore:
    """Gallery winners in Redis, and their files (the breed's own artifacts, keys.artifact)."""

    def __init__(self, redis: Redis, media: MediaStore | None = None) -> None:
        """`media`: where the winners' audio and images are (None: in Redis, as older versions kept them)."""
        self._redis = redis
        self.media = media

    async def keep(self, winner: Winner) -> bool:
        """Add a winner to its server's gallery, without TTL; False if it was there already.

        Idempotent: a repeated call rewrites the same record and keeps the winner's place.
        """
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(gallery_key(winner.guild_id), {winner.melody_id: winner.finished_at}, nx=True)
            pipe.set(winner_key(winner.melody_id), dump(winner))
            added, *_ = await pipe.execute()
        log.info("breed %s gen %d: winner %s kept in the gallery of %s", winner.breed_id, winner.generation,
                 winner.melody_id, winner.guild_id)
        return bool(added)

    async def winners(self, guild_id: int | None, start: int, count: int) -> list[Winner]:
        """Winners of a server, newest first, from position `start` (0-based)."""
        melody_ids = await self._redis.zrevrange(gallery_key(guild_id), start, start + count - 1)
        if not melody_ids:
            return []
        raws = await self._redis.mget([winner_key(stored_text(m)) for m in melody_ids])
        return [load_winner(raw) for raw in raws if raw is not None]

    async def size(self, guild_id: int | None) -> int:
        return int(await self._redis.zcard(gallery_key(guild_id)))

    async def winner(self, melody_id: str) -> Winner | None:
        raw = await self._redis.get(winner_key(melody_id))
        return load_winner(raw) if raw is not None else None

    async def file(self, winner: Winner, name: str) -> bytes | None:
        """One of a gallery winner's files: its breed's own (or an older version's copy); None when it is gone
        (a medium evicted from the media store is rendered again from what Redis keeps: a render job).

        Audio or an image an older version kept in Redis is copied to the media store the first time it is read.
        """
        media = self.media if is_media(name) else None
        if media is not None:
            data = await media.get(keys.artifact_media(winner.breed_id, winner.generation, name))
            if data is not None:
                return data
        kept = [keys.artifact(winner.breed_id, winner.generation, name), winner_file_key(winner.melody_id, name)]
        data = stored_or_none(await self._redis.get(kept[0]))
        if data is None:
            data = stored_or_none(await self._redis.get(kept[1]))
        if data is not None and media is not None:
            await copy_in(media, keys.artifact_media(winner.breed_id, winner.generation, name), data)
        return data

    async def remove(self, winner: Winner, names: tuple[str, ...]) -> bool:
        """Take a winner and its files `names` out of the gallery; False if it was not there."""
        files = [key for name in names for key in (keys.artifact(winner.breed_id, winner.generation, name),
                                                    winner_file_key(winner.melody_id, name))]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(gallery_key(winner.guild_id), winner.melody_id)
            pipe.delete(winner_key(winner.melody_id), *files)
            removed, *_ = await pipe.execute()
        if self.media is not None:
            for name in names:
                if is_media(name):
                    await self.media.delete(keys.artifact_media(winner.breed_id, winner.generation, name))
        return bool(removed)
