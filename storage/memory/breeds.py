"""Breeds in memory: the twin of storage.breeds.BreedStateStore (same values back, same errors)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Sequence
from typing import Unpack

import numpy as np
from numpy.typing import NDArray

from domain.jobs import Job
from domain.model import OPEN_STATUSES, Breed, Generation
from storage.breeds import DEFAULT_UPLOAD_TTL_S, ENDED_LATENTS_S, BreedChanges, BreedExistsError, check_artifacts
from storage.codec import dump, load_breed, load_generation
from storage.memory.space import Space

# Adds a job to the jobs stream together with the state change that asks for it (what it returns is not used).
AddJob = Callable[[Job], object]
# Kinds of per-generation keys of other concepts that expire with an ended breed (its votes, its nudges).
EXPIRING = ("votes", "nudges")


class MemoryBreeds:
    """Breeds, generations, latents, artifacts, uploads and the indexes, in memory."""

    def __init__(self, space: Space, add_job: AddJob, *, artifact_ttl_s: float, retention_s: float,
                 expiring: Sequence[str] = EXPIRING) -> None:
        self._space = space
        self._add_job = add_job
        self._expiring = tuple(expiring)
        self.artifact_ttl_s = artifact_ttl_s
        self.retention_s = retention_s

    # --- breeds ------------------------------------------------------------------------------

    async def create(self, breed: Breed, job: Job | None = None) -> None:
        """Store a new breed and index it, and enqueue `job` with it; BreedExistsError if the id is taken."""
        key = ("breed", breed.breed_id)
        if self._space.exists(key):
            raise BreedExistsError(f"breed {breed.breed_id} exists already")
        self._space.set(key, dump(breed))
        self._index(None, breed)
        if job is not None:
            self._add_job(job)

    async def get(self, breed_id: str) -> Breed | None:
        raw = self._space.get(("breed", breed_id))
        return load_breed(raw) if raw is not None else None

    async def update(self, breed_id: str, /, *, job: Job | None = None, **changes: Unpack[BreedChanges]) -> Breed:
        """Change fields of a breed and return it; KeyError if there is no such breed."""
        if changes.get("breed_id", breed_id) != breed_id:
            raise ValueError("a breed's id cannot change")
        raw = self._space.get(("breed", breed_id))
        if raw is None:
            raise KeyError(f"breed {breed_id} does not exist")
        old = load_breed(raw)
        new = dataclasses.replace(old, **changes)
        self._space.set(("breed", breed_id), dump(new))
        self._index(old, new)
        if new.status not in OPEN_STATUSES:
            self._expire_ended(new)
        if job is not None:
            self._add_job(job)
        return load_breed(dump(new))

    async def open_breeds(self) -> list[Breed]:
        """Breeds whose status is open (starting, voting, evolving), oldest first."""
        breeds = [await self.get(breed_id) for breed_id in sorted(self._space.get(("open",), set()))]
        return sorted((b for b in breeds if b is not None), key=lambda breed: (breed.created_at, breed.breed_id))

    async def for_thread(self, thread_id: int) -> str | None:
        return self._space.get_as(("thread", thread_id), str)

    async def link_message(self, message_id: int, breed_id: str, generation: int) -> None:
        self._space.set(("message", message_id), (breed_id, generation), self.retention_s)

    async def message_target(self, message_id: int) -> tuple[str, int] | None:
        target: tuple[str, int] | None = self._space.get(("message", message_id))  # as link_message keeps it
        return target

    # --- generations -------------------------------------------------------------------------

    async def write_generation(
        self, generation: Generation, latents: NDArray[np.float32], artifacts: dict[str, bytes]
    ) -> bool:
        """Write a generation with its latents and artifacts once; False (nothing written) if it exists.
        Raises the breed's `generation` to `number`; KeyError if the breed does not exist."""
        breed_id, number = generation.breed_id, generation.number
        stored = _stored_latents(latents)
        if self._space.exists(("gen", breed_id, number)):
            return False
        raw = self._space.get(("breed", breed_id))
        if raw is None:
            raise KeyError(f"breed {breed_id} does not exist")
        breed = load_breed(raw)
        check_artifacts(artifacts)
        expiry = None if breed.status in OPEN_STATUSES else self.retention_s
        self._space.set(("gen", breed_id, number), dump(generation), expiry)
        self._space.set(("latents", breed_id, number), stored,
                        None if expiry is None else min(expiry, ENDED_LATENTS_S))
        self._put_artifacts(breed_id, number, artifacts)
        if number > breed.generation:
            self._space.set(("breed", breed_id), dump(dataclasses.replace(breed, generation=number)), keep_ttl=True)
        return True

    async def get_generation(self, breed_id: str, number: int) -> Generation | None:
        raw = self._space.get(("gen", breed_id, number))
        return load_generation(raw) if raw is not None else None

    async def get_latents(self, breed_id: str, number: int) -> NDArray[np.float32] | None:
        """The generation's latents as a writable float32 array, bit-exact as written."""
        stored = self._space.get(("latents", breed_id, number))
        if stored is None:
            return None
        shape, data = stored
        return np.frombuffer(data, dtype=np.float32).reshape(shape).copy()

    async def get_artifact(self, breed_id: str, number: int, name: str) -> bytes | None:
        return self._space.get_as(("artifact", breed_id, number, name), bytes)

    async def add_artifacts(
        self, breed_id: str, number: int, artifacts: dict[str, bytes], *, keep: bool = False
    ) -> None:
        """Store (or overwrite) artifacts of a generation; `keep`: no expiry, else the artifacts' TTL."""
        check_artifacts(artifacts)
        self._put_artifacts(breed_id, number, artifacts, keep=keep)

    def _put_artifacts(self, breed_id: str, number: int, artifacts: dict[str, bytes], *, keep: bool = False) -> None:
        for name, data in artifacts.items():
            self._space.set(("artifact", breed_id, number, name), bytes(data), None if keep else self.artifact_ttl_s)

    # --- uploads -----------------------------------------------------------------------------

    async def save_upload(self, data: bytes, ttl_s: float = DEFAULT_UPLOAD_TTL_S) -> str:
        token = secrets.token_urlsafe(16)
        self._space.set(("upload", token), bytes(data), ttl_s)
        return token

    async def load_upload(self, token: str) -> bytes | None:
        return self._space.get_as(("upload", token), bytes)

    # --- indexes and retention ---------------------------------------------------------------

    def _index(self, old: Breed | None, new: Breed) -> None:
        if old is not None and old.thread_id is not None and old.thread_id != new.thread_id:
            self._space.delete(("thread", old.thread_id))
        if new.thread_id is not None and (old is None or old.thread_id != new.thread_id):
            self._space.set(("thread", new.thread_id), new.breed_id)
        open_ids: set[str] = self._space.setdefault(("open",), set)
        if new.status in OPEN_STATUSES:
            open_ids.add(new.breed_id)
        else:
            open_ids.discard(new.breed_id)

    def _expire_ended(self, breed: Breed) -> None:
        """A breed that ended expires after the retention, with its generations, votes, nudges and thread link,
        its latents sooner (storage.breeds.ENDED_LATENTS_S); a shorter expiry already set stays."""
        expiring: list[tuple[object, ...]] = [("breed", breed.breed_id)]
        for number in range(breed.generation + 1):
            expiring += [(kind, breed.breed_id, number) for kind in ("gen", *self._expiring)]
            self._space.expire(("latents", breed.breed_id, number), min(ENDED_LATENTS_S, self.retention_s), lt=True)
        if breed.thread_id is not None:
            expiring.append(("thread", breed.thread_id))
        for key in expiring:
            self._space.expire(key, self.retention_s, lt=True)


def _stored_latents(latents: NDArray[np.float32]) -> tuple[tuple[int, ...], bytes]:
    """Latents as their shape and float32 bytes: kept apart from the caller's array, compared by value."""
    array = np.asarray(latents)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"latents must be a float array, not {array.dtype}")
    stored = np.ascontiguousarray(array, dtype=np.float32)
    return tuple(stored.shape), stored.tobytes()
