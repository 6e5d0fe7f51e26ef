"""The store in memory: a twin of storage.store.BreedStore for tests that are not about Redis.

Each concept behaves as its Redis counterpart does (tests/contract runs the same tests on both): the
same values come back and the same errors are raised. Expiry follows the store's clock, which a test
may move on (`ManualClock`); nothing is written anywhere, and a store starts empty.
"""

from __future__ import annotations

from domain.model import Composition, TuneRequest
from storage.codec import load_composition, load_tune
from storage.memory.breeds import MemoryBreeds
from storage.memory.jobs import MemoryJobLease
from storage.memory.places import MemoryLocks, MemoryServers
from storage.memory.records import MemoryGallery, MemoryNudges, MemoryPosts, MemoryRequests, MemoryVotes
from storage.memory.space import Clock, ManualClock, Space
from storage.memory.streams import MemoryStreams
from storage.requests import COMPOSITION, TUNE
from storage.store import DEFAULT_ARTIFACT_TTL_S, DEFAULT_RETENTION_S, new_breed_id

__all__ = ["ManualClock", "MemoryJobLease", "MemoryStore"]


class MemoryStore:
    """All state of Melody Breeder in memory, one attribute per concept, as BreedStore has them.

    `clock()` gives the seconds that expiries and idle times are measured in (default: the wall clock).
    """

    new_breed_id = staticmethod(new_breed_id)

    def __init__(self, clock: Clock | None = None, artifact_ttl_s: float = DEFAULT_ARTIFACT_TTL_S,
                 retention_s: float = DEFAULT_RETENTION_S) -> None:
        if artifact_ttl_s <= 0 or retention_s <= 0:
            raise ValueError("artifact_ttl_s and retention_s must be positive")
        space = self._space = Space(clock) if clock is not None else Space()
        self.clock = space.clock
        self.streams = MemoryStreams(space)
        self.breeds = MemoryBreeds(space, self.streams.jobs.add_job_now, artifact_ttl_s=artifact_ttl_s,
                                   retention_s=retention_s)
        self.votes = MemoryVotes(space)
        self.nudges = MemoryNudges(space)
        self.posts = MemoryPosts(space, retention_s)
        self.locks = MemoryLocks(space)
        self.gallery = MemoryGallery(space)
        self.servers = MemoryServers(space)
        self.compositions: MemoryRequests[Composition] = MemoryRequests(
            space, COMPOSITION, artifact_ttl_s, lambda piece: piece.composition_id, load_composition)
        self.tunes: MemoryRequests[TuneRequest] = MemoryRequests(
            space, TUNE, artifact_ttl_s, lambda tune: tune.tune_id, load_tune)
        self.closed = False

    def snapshot(self) -> tuple[object, object]:
        """A copy of everything the store holds, to compare before and after (a refusal changes nothing)."""
        return self._space.snapshot(), self.streams.state()

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self.closed = True
