"""morph: the melodies on the way from one candidate to another, one after the other in one clip."""

from __future__ import annotations

import asyncio
import logging

from domain import artifacts, limits
from domain.jobs import JobKind, MorphJob
from storage.codec import Event
from worker.errors import JobError
from worker.handlers.base import Handles

log = logging.getLogger(__name__)


def morph_steps(requested: int) -> int:
    """The number of melodies of a morph: 0 asks for the default, others are clamped to the range."""
    if requested == 0:
        return limits.MORPH_DEFAULT_STEPS
    return min(max(requested, int(limits.MORPH_STEPS.low)), int(limits.MORPH_STEPS.high))


class Morph(Handles[MorphJob]):
    kind = JobKind.MORPH

    async def handle(self, job: MorphJob) -> None:
        breed = await self.melodies.breed(job.breed_id)
        generation, latents = await self.melodies.generation_with_latents(job.breed_id, job.generation)
        a, b = job.candidate, job.other
        for index in (a, b):
            if not 0 <= index < len(generation.candidates):
                raise JobError(f"There is no candidate {index + 1} in this generation.")
        if a == b:
            raise JobError(f"A morph needs two different candidates, not candidate {a + 1} twice.")
        steps = morph_steps(job.steps)
        midi_name = artifacts.morph_name(a, b, "mid")
        existing = await self.store.breeds.get_artifact(job.breed_id, job.generation, midi_name)
        if existing is None:
            path = self.model.interpolate(latents[a], latents[b], steps)
            # Exactly the candidates at both ends, so that they sound as they did in the vote
            # even where slerp's float rounding would tip a sampled note.
            path[0], path[-1] = latents[a], latents[b]
            melodies = await asyncio.to_thread(self.model.decode, path, self.melodies.temperature)
            audio, data = await asyncio.to_thread(self.sounds.morph, melodies, breed.params)
            await self.results.breed_files(
                job.breed_id, job.generation, {artifacts.morph_name(a, b, "ogg"): audio, midi_name: data}
            )
            log.info("breed %s gen %d: morph %d -> %d in %d steps written", job.breed_id, job.generation,
                     a, b, steps)
        else:
            # Written before (by this job, delivered again, or an earlier one): tell what it holds.
            steps = self.sounds.morph_length(existing, breed.params.tempo)
        await self.results.publish(
            Event("morph_ready", job.breed_id, job.generation, candidate=a, other=b, steps=steps)
        )
