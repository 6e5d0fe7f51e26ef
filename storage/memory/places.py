"""Locks, cooldowns and forgetting a server, in memory: the twins of storage.locks and storage.servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from domain.model import Breed, Composition, TuneRequest
from storage.codec import load_breed, load_composition, load_tune
from storage.locks import LockTimeout
from storage.memory.space import Key, Space
from storage.requests import COMPOSITION, TUNE
from storage.servers import Forgotten

# How often a lock that is taken is tried again (as redis-py's lock polls).
_RETRY_S = 0.02
# What hangs off a breed's id: (kind, breed id, ...) keys that go with the breed.
_BREED_PARTS = ("breed", "gen", "latents", "artifact", "votes", "nudges", "posted", "parts")
_REQUEST_PARTS = ("request", "request-file", "request-posted", "request-failed")


class MemoryLocks:
    """Locks and cooldowns in memory. A lock is held by its `async with` until it ends: no process can die
    holding one here, so its lease never has to run out; `wait_s` is waited in the loop's time."""

    def __init__(self, space: Space) -> None:
        self._space = space

    def breed_lock(self, breed_id: str, lease_s: float = 60.0,
                   wait_s: float = 30.0) -> contextlib.AbstractAsyncContextManager[None]:
        return self._held(("lock", breed_id), f"breed {breed_id}", wait_s)

    def start_lock(self, scope: int | str | None, lease_s: float = 60.0,
                   wait_s: float = 30.0) -> contextlib.AbstractAsyncContextManager[None]:
        return self._held(("start-lock", scope), f"starts of {scope}", wait_s)

    @contextlib.asynccontextmanager
    async def _held(self, key: tuple[object, ...], what: str, wait_s: float) -> AsyncIterator[None]:
        token = object()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while not self._space.set(key, token, nx=True):
            if loop.time() >= deadline:
                raise LockTimeout(f"{what} stayed locked for {wait_s:.0f} s")
            await asyncio.sleep(_RETRY_S)
        try:
            yield
        finally:
            if self._space.get(key) is token:
                self._space.delete(key)

    async def take_cooldown(self, kind: str, user_id: int | str, seconds: float) -> float:
        """Start a user's cooldown of `kind`; 0.0 when it was free, else the seconds still to wait."""
        if seconds <= 0:
            return 0.0
        key = ("cooldown", kind, str(user_id))
        if self._space.set(key, True, seconds, nx=True):
            return 0.0
        return max(round((self._space.ttl(key) or 0.0) * 1000), 0) / 1000

    async def give_back_cooldown(self, kind: str, user_id: int | str) -> None:
        self._space.delete(("cooldown", kind, str(user_id)))


class MemoryServers:
    """Finds and deletes everything the in-memory store keeps of one Discord server."""

    def __init__(self, space: Space) -> None:
        self._space = space

    async def forget(self, guild_id: int) -> Forgotten:
        """Delete the server's gallery, its breeds (with their votes, nudges, files) and its requests."""
        melody_ids = list(self._space.get(("gallery", guild_id), {}))
        self._space.delete(*(("winner", melody_id) for melody_id in melody_ids), ("gallery", guild_id))
        breeds = [breed for breed in (load_breed(self._space.get(key)) for key in self._space.keys("breed"))
                  if breed.guild_id == guild_id]
        for breed in breeds:
            self._forget_breed(breed)
        requests = 0
        kinds: tuple[tuple[str, Callable[[bytes | str], Composition | TuneRequest]], ...] = (
            (COMPOSITION, load_composition), (TUNE, load_tune))
        for kind, load in kinds:
            for key in [key for key in self._space.keys("request") if key[1] == kind]:
                if load(self._space.get(key)).guild_id == guild_id:
                    self._delete_under(_REQUEST_PARTS, _parts_of(kind, key[2]))
                    requests += 1
        return Forgotten(len(melody_ids), len(breeds), requests)

    def _forget_breed(self, breed: Breed) -> None:
        self._delete_under(_BREED_PARTS, lambda key: key[1] == breed.breed_id)
        self._space.get(("open",), set()).discard(breed.breed_id)
        if breed.thread_id is not None:
            self._space.delete(("thread", breed.thread_id))

    def _delete_under(self, kinds: tuple[str, ...], belongs: Callable[[Key], bool]) -> None:
        for kind in kinds:
            self._space.delete(*[key for key in self._space.keys(kind) if belongs(key)])


def _parts_of(kind: str, request_id: str) -> Callable[[Key], bool]:
    """Whether a key hangs off the request `request_id` of `kind`."""
    return lambda part: part[1:3] == (kind, request_id)
