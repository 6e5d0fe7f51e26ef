"""What every handler is built from, and what it is: one job kind, done by `handle`."""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, TypeVar

import numpy as np

from domain.jobs import Job, JobKind
from runtime.metrics import Metrics

if TYPE_CHECKING:
    from engine.attributes import AttributeVectors
    from engine.preference import Subspace
    from engine.sampling import LatentModel
    from storage.store import BreedStore
    from worker.melodies import Melodies
    from worker.results import Results
    from worker.sounds import Sounds

J = TypeVar("J", bound=Job, contravariant=True)
K = TypeVar("K", bound=Job)


@dataclass(frozen=True)
class Kit:
    """The collaborators a handler works with; one per worker, shared by its handlers."""

    store: BreedStore
    model: LatentModel
    melodies: Melodies
    sounds: Sounds
    results: Results
    subspace: Subspace | None = None
    attributes: AttributeVectors | None = None
    # Where the stages of a generation are timed (the worker's, served on /metrics).
    metrics: Metrics = field(default_factory=Metrics)


class Handler(Protocol[J]):
    """Does one kind of job. Idempotent: a result already written is not written again, its event is
    published once more (delivery is at least once)."""

    kind: ClassVar[JobKind]

    async def handle(self, job: J) -> None: ...


class Handles(abc.ABC, Generic[K]):
    """The base of the handlers: the kit, by name, and the one method each handler has."""

    kind: ClassVar[JobKind]

    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.store = kit.store
        self.model = kit.model
        self.melodies = kit.melodies
        self.sounds = kit.sounds
        self.results = kit.results

    @abc.abstractmethod
    async def handle(self, job: K) -> None:
        """Do the job; JobError (shown to people) when it cannot be done."""


def step_rng(breed_id: str, generation: int, purpose: str = "evolve") -> np.random.Generator:
    """The random generator of one step: the same job always gives the same generation."""
    digest = hashlib.sha256(f"{breed_id}:{generation}:{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))
