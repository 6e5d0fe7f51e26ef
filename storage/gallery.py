"""The gallery half of the store: finished winners kept per server, compositions and tunes.

A winner is kept with no TTL, and so are its files, once: the breed's own winner files (written
without TTL by the worker) are the gallery's, and outlive the rest of the breed, which expires.
Compositions and tunes are like a generation's artifacts: rendered once, kept for the TTL.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from domain.model import Composition, TuneRequest, Winner
from storage import keys
from storage.codec import dump, load_composition, load_tune, load_winner

log = logging.getLogger(__name__)


class GalleryStore:
    """Winners, compositions and tunes in Redis; mixed into BreedStore, whose client and artifact TTL it uses."""

    _redis: Redis
    artifact_ttl_s: float

    # --- the gallery -----------------------------------------------------------------------

    async def keep_winner(self, winner: Winner) -> bool:
        """Add a winner to its server's gallery, without TTL; False if it was there already.

        Idempotent: a repeated call rewrites the same record and keeps the winner's place.
        """
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.gallery(winner.guild_id), {winner.melody_id: winner.finished_at}, nx=True)
            pipe.set(keys.gallery_winner(winner.melody_id), dump(winner))
            added, *_ = await pipe.execute()
        log.info("breed %s gen %d: winner %s kept in the gallery of %s", winner.breed_id, winner.generation,
                 winner.melody_id, winner.guild_id)
        return bool(added)

    async def gallery(self, guild_id: int | None, start: int, count: int) -> list[Winner]:
        """Winners of a server, newest first, from position `start` (0-based)."""
        melody_ids = await self._redis.zrevrange(keys.gallery(guild_id), start, start + count - 1)
        if not melody_ids:
            return []
        raws = await self._redis.mget([keys.gallery_winner(m.decode()) for m in melody_ids])
        return [load_winner(raw) for raw in raws if raw is not None]

    async def gallery_size(self, guild_id: int | None) -> int:
        return int(await self._redis.zcard(keys.gallery(guild_id)))

    async def gallery_winner(self, melody_id: str) -> Winner | None:
        raw = await self._redis.get(keys.gallery_winner(melody_id))
        return load_winner(raw) if raw is not None else None

    async def gallery_file(self, winner: Winner, name: str) -> bytes | None:
        """One of a gallery winner's files: its breed's own (or an older version's copy)."""
        data = await self._redis.get(keys.artifact(winner.breed_id, winner.generation, name))
        if data is None:
            data = await self._redis.get(keys.gallery_file(winner.melody_id, name))
        return data

    async def remove_winner(self, winner: Winner, names: tuple[str, ...]) -> bool:
        """Take a winner and its files `names` out of the gallery; False if it was not there."""
        files = [key for name in names for key in (keys.artifact(winner.breed_id, winner.generation, name),
                                                    keys.gallery_file(winner.melody_id, name))]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.gallery(winner.guild_id), winner.melody_id)
            pipe.delete(keys.gallery_winner(winner.melody_id), *files)
            removed, *_ = await pipe.execute()
        return bool(removed)

    # --- compositions ----------------------------------------------------------------------

    async def create_composition(self, composition: Composition) -> None:
        """Store a composition's request, for the artifacts' TTL."""
        ttl_ms = max(1, round(self.artifact_ttl_s * 1000))
        await self._redis.set(keys.composition(composition.composition_id), dump(composition), px=ttl_ms)

    async def get_composition(self, composition_id: str) -> Composition | None:
        raw = await self._redis.get(keys.composition(composition_id))
        return load_composition(raw) if raw is not None else None

    async def add_composition_files(self, composition_id: str, files: dict[str, bytes]) -> None:
        ttl_ms = max(1, round(self.artifact_ttl_s * 1000))
        async with self._redis.pipeline(transaction=True) as pipe:
            for name, data in files.items():
                pipe.set(keys.composition_file(composition_id, name), data, px=ttl_ms)
            await pipe.execute()

    async def composition_file(self, composition_id: str, name: str) -> bytes | None:
        return await self._redis.get(keys.composition_file(composition_id, name))

    async def mark_composition_posted(self, composition_id: str) -> bool:
        """True only the first time: a composition is posted once."""
        ttl_ms = max(1, round(self.artifact_ttl_s * 1000))
        return bool(await self._redis.set(keys.composition_posted(composition_id), b"1", nx=True, px=ttl_ms))

    async def unmark_composition_posted(self, composition_id: str) -> None:
        await self._redis.delete(keys.composition_posted(composition_id))

    # --- tunes -----------------------------------------------------------------------------

    def _ttl_ms(self) -> int:
        return max(1, round(self.artifact_ttl_s * 1000))

    async def create_tune(self, tune: TuneRequest) -> None:
        """Store a tune's request, for the artifacts' TTL."""
        await self._redis.set(keys.tune(tune.tune_id), dump(tune), px=self._ttl_ms())

    async def get_tune(self, tune_id: str) -> TuneRequest | None:
        raw = await self._redis.get(keys.tune(tune_id))
        return load_tune(raw) if raw is not None else None

    async def add_tune_files(self, tune_id: str, files: dict[str, bytes]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for name, data in files.items():
                pipe.set(keys.tune_file(tune_id, name), data, px=self._ttl_ms())
            await pipe.execute()

    async def tune_file(self, tune_id: str, name: str) -> bytes | None:
        return await self._redis.get(keys.tune_file(tune_id, name))

    async def mark_tune_posted(self, tune_id: str) -> bool:
        """True only the first time: a tune is shown once."""
        return bool(await self._redis.set(keys.tune_posted(tune_id), b"1", nx=True, px=self._ttl_ms()))

    async def unmark_tune_posted(self, tune_id: str) -> None:
        await self._redis.delete(keys.tune_posted(tune_id))
