"""start: generation 1 of a breed, at random, from an uploaded MIDI file, or around a melody (a branch)."""

from __future__ import annotations

import asyncio

from domain.jobs import JobKind, StartJob
from domain.model import Candidate, candidate_id
from storage.codec import Event
from worker.errors import JobError
from worker.handlers.base import Handles, step_rng
from worker.handlers.generation import make_generation, seeded_population


class Start(Handles[StartJob]):
    kind = JobKind.START

    async def handle(self, job: StartJob) -> None:
        breed = await self.melodies.breed(job.breed_id)
        if await self.store.breeds.get_generation(job.breed_id, 0) is None:
            params = breed.params
            await self.results.progress(job.breed_id, 0, "evolving")
            rng = step_rng(job.breed_id, 0)
            if job.source:
                seed = await self.melodies.latent_of(job.source)
                latents, candidates = seeded_population(
                    seed, params.population, params.sigma, params.foreign, rng, parents=(job.source,)
                )
            elif job.seed_midi_key:
                data = await self.store.breeds.load_upload(job.seed_midi_key)
                if data is None:
                    raise JobError("The uploaded MIDI file has expired; start again with it.")
                seed = await asyncio.to_thread(self.melodies.encode_seed, data)
                latents, candidates = seeded_population(seed, params.population, params.sigma, params.foreign, rng)
            else:
                from engine import ga

                latents = ga.random_population(params.population, self.model.latent_size, rng)
                candidates = tuple(Candidate(candidate_id(0, i), i, (ga.FOREIGN,), ()) for i in range(len(latents)))
            await make_generation(self.kit, breed, 0, latents, candidates)
        await self.results.publish(Event("generation_ready", job.breed_id, 0))
