"""What the start and evolve jobs share: a generation decoded, rendered and written once."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from domain import model
from domain.model import Candidate, Generation, candidate_id

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from worker.handlers.base import Kit

log = logging.getLogger(__name__)

SEED = "seed"


async def make_generation(
    kit: Kit, breed: model.Breed, number: int, latents: NDArray[np.float32], candidates: tuple[Candidate, ...],
    **extra: Any,
) -> None:
    """Decode, render and write generation `number` of `breed` (telling its stages), unless it is written."""
    await kit.results.progress(breed.breed_id, number, "decoding")
    with kit.metrics.stage("decode"):
        melodies = await kit.melodies.decode(latents)
    await kit.results.progress(breed.breed_id, number, "rendering")
    with kit.metrics.stage("render"):
        files = await asyncio.to_thread(kit.sounds.generation, melodies, breed.params)
    generation = Generation(
        breed_id=breed.breed_id, number=number, candidates=candidates,
        melodies=tuple(tuple(m) for m in melodies), artifacts=tuple(sorted(files)), **extra,
    )
    with kit.metrics.stage("write"):
        written = await kit.results.generation(generation, latents, files)
    log.info("breed %s gen %d: %s", breed.breed_id, number, "written" if written else "already written")


def seeded_population(
    seed: NDArray[np.float32], population: int, sigma: float, foreign: int, rng: np.random.Generator,
    parents: tuple[str, ...] = (),
) -> tuple[NDArray[np.float32], tuple[Candidate, ...]]:
    """Generation 0 around a melody: the seed itself, mutants of it, and `foreign` fresh ones.

    `parents`: the melody id the seed is (a branch), so that the family tree goes on through it.
    """
    from engine import ga

    spread = sigma if sigma > 0 else 0.5  # variants of the seed must differ from it
    rows = [seed.astype(np.float32)]
    candidates = [Candidate(candidate_id(0, 0), 0, (SEED,), parents)]
    for i in range(1, population - foreign):
        rows.append(seed + rng.normal(0.0, spread, seed.shape).astype(np.float32))
        candidates.append(Candidate(candidate_id(0, i), i, (SEED, ga.MUTATED), parents))
    fresh = ga.random_population(foreign, seed.shape[0], rng) if foreign else np.empty((0, seed.shape[0]))
    for i, row in enumerate(fresh, start=len(rows)):
        rows.append(row)
        candidates.append(Candidate(candidate_id(0, i), i, (ga.FOREIGN,), ()))
    return np.stack(rows).astype(np.float32), tuple(candidates)
