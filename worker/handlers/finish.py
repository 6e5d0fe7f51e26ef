"""finish: the winner's files (MIDI, audio, piano roll), its family tree and its tune, kept without expiry."""

from __future__ import annotations

import asyncio

from domain import artifacts
from domain.ids import MelodyRef
from domain.jobs import FinishJob, JobKind
from storage.codec import Event
from worker.handlers.base import Handles
from worker.handlers.tune import finish_tune


class Finish(Handles[FinishJob]):
    kind = JobKind.FINISH

    async def handle(self, job: FinishJob) -> None:
        breed = await self.melodies.breed(job.breed_id)
        generation = await self.melodies.named_candidate(job.breed_id, job.generation, job.candidate)
        if await self.store.breeds.get_artifact(job.breed_id, job.generation, artifacts.WINNER_MID) is None:
            melody = generation.melodies[job.candidate]
            files = await asyncio.to_thread(self.sounds.winner, melody, breed.params, job.candidate)
            winner = MelodyRef(job.breed_id, job.generation, job.candidate)
            files[artifacts.LINEAGE_PNG] = await self.melodies.family_tree(winner, "The winner's family tree")
            files.update(await finish_tune(self.kit, winner, breed, melody))
            # A finished breed keeps its winner: no expiry, unlike the generations' clips. These are also
            # the gallery's files (stored once).
            await self.results.breed_files(job.breed_id, job.generation, files, keep=True)
        await self.results.publish(Event("finished", job.breed_id, job.generation))
