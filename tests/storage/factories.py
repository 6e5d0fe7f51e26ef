"""Small builders of schema objects for the storage tests."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from domain.model import Breed, BreedParams, Candidate, Front, Generation, Note


def make_breed(breed_id: str = "b1", **fields: object) -> Breed:
    values: dict[str, object] = {"owner_id": 42, "params": BreedParams(population=4), "front": Front.DISCORD,
                                 "created_at": 1000.0}
    values.update(fields)
    return Breed(breed_id=breed_id, **values)


def make_generation(
    breed_id: str = "b1", number: int = 0, population: int = 4, **fields: object
) -> Generation:
    candidates = tuple(
        Candidate(candidate_id=f"{breed_id}-{number}-{i}", index=i, operators=("random",), parents=())
        for i in range(population)
    )
    melodies = tuple(
        (Note(pitch=60 + i, start=0, end=4), Note(pitch=64, start=4, end=8)) for i in range(population)
    )
    return Generation(breed_id=breed_id, number=number, candidates=candidates, melodies=melodies,
                      **fields)


def make_latents(population: int = 4, size: int = 16, seed: int = 0) -> NDArray[np.float32]:
    return np.random.default_rng(seed).standard_normal((population, size)).astype(np.float32)
