"""compose: phrases one after the other, with a short interpolated join between different ones if asked."""

from __future__ import annotations

import asyncio
import logging

from domain import artifacts, limits
from domain.errors import BreedError
from domain.ids import parse_melody_id
from domain.jobs import ComposeJob, JobKind
from storage.codec import Event
from worker.errors import JobError
from worker.handlers.base import Handles

log = logging.getLogger(__name__)


class Compose(Handles[ComposeJob]):
    kind = JobKind.COMPOSE

    async def handle(self, job: ComposeJob) -> None:
        composition_id = job.composition_id
        if await self.store.compositions.file(composition_id, artifacts.COMPOSITION_MID) is None:
            if not int(limits.COMPOSE_PHRASES.low) <= len(job.melodies) <= int(limits.COMPOSE_PHRASES.high):
                raise JobError(f"A composition joins 2 to 8 melodies, not {len(job.melodies)}.")
            refs = []
            for melody in job.melodies:
                try:
                    refs.append(parse_melody_id(melody))
                except BreedError as error:
                    raise JobError(str(error)) from None
            phrases, latents, params = [], [], None
            for ref in refs:
                latent, notes, sounding = await self.melodies.melody_of(ref)
                phrases.append(notes)
                latents.append(latent)
                params = params or sounding  # the first phrase's tempo and instrument
            assert params is not None
            audio, data = await asyncio.to_thread(self.sounds.composition, phrases, latents, job.smooth, params)
            await self.store.compositions.add_files(
                composition_id, {artifacts.COMPOSITION_AUDIO: audio, artifacts.COMPOSITION_MID: data}
            )
            log.info("composition %s of %d phrases written (smooth: %s)", composition_id, len(refs), job.smooth)
        await self.results.publish(Event("composed", composition_id))
