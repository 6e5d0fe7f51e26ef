"""evolve: the next generation of a breed, from the votes on this one (and, for `preference`, all before)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from domain.jobs import EvolveJob, JobKind
from domain.model import Candidate, candidate_id
from domain.strategies import Strategy
from storage.codec import Event
from worker.errors import JobError
from worker.handlers.base import Handles, step_rng
from worker.handlers.generation import make_generation

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)


class Evolve(Handles[EvolveJob]):
    kind = JobKind.EVOLVE

    async def handle(self, job: EvolveJob) -> None:
        from engine import ga

        target = job.generation + 1
        breed = await self.melodies.breed(job.breed_id)
        if await self.store.breeds.get_generation(job.breed_id, target) is None:
            source, latents = await self.melodies.generation_with_latents(job.breed_id, job.generation)
            sigma = breed.params.sigma if job.sigma is None else job.sigma
            await self.results.progress(job.breed_id, target, "evolving")
            ids = [c.candidate_id for c in source.candidates]
            learns = breed.params.strategy == Strategy.PREFERENCE  # the others read the last votes only
            history = await self.melodies.history(job.breed_id, job.generation) if learns else []
            nudge = self._nudge_shift(job)
            try:
                offspring = ga.evolve(
                    latents, np.asarray(job.fitness, dtype=np.int64), ids,
                    sigma=sigma, foreign=breed.params.foreign, rng=step_rng(job.breed_id, target),
                    strategy=breed.params.strategy, history=history, subspace=self.kit.subspace, nudge=nudge,
                )
            except ValueError as error:
                raise JobError(f"Cannot evolve: {error}") from None
            candidates = tuple(
                Candidate(candidate_id(target, i), i, origin.operators, origin.parents)
                for i, origin in enumerate(offspring.origins)
            )
            await make_generation(
                self.kit, breed, target, offspring.latents, candidates,
                rerolled=offspring.rerolled, fitness=tuple(int(v) for v in job.fitness), sigma=sigma,
                nudges=job.nudges if nudge is not None and not offspring.rerolled else (),
            )
        await self.results.publish(Event("generation_ready", job.breed_id, target))

    def _nudge_shift(self, job: EvolveJob) -> NDArray[np.float64] | None:
        """The latent shift of the job's combined nudges; None without nudges or attribute vectors."""
        if not job.nudges:
            return None
        if self.kit.attributes is None:
            log.warning("breed %s gen %d: nudges %s not applied: this worker has no attribute vectors",
                        job.breed_id, job.generation, job.nudges)
            return None
        try:
            return self.kit.attributes.shift(dict(job.nudges))
        except KeyError as error:
            raise JobError(f"Cannot evolve: {error.args[0]}") from None
