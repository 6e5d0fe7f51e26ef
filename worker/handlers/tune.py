"""tune: the tune of `/breed tune`, from any melody id; and the tune every finish makes of its winner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from domain import artifacts, model
from domain.errors import BreedError, ParamsError
from domain.ids import MelodyRef, parse_melody_id
from domain.jobs import JobKind, TuneJob
from domain.model import Note, check_tune
from storage.codec import Event
from worker.errors import JobError
from worker.handlers.base import Handles

if TYPE_CHECKING:
    from worker.handlers.base import Kit

log = logging.getLogger(__name__)


def runner_up(votes: Sequence[int], winner: int) -> int | None:
    """The candidate with the most votes after the winner (the lowest number on a tie); None when no other has any."""
    others = [(count, -index) for index, count in enumerate(votes) if index != winner and count > 0]
    return -max(others)[1] if others else None


class Tune(Handles[TuneJob]):
    kind = JobKind.TUNE

    async def handle(self, job: TuneJob) -> None:
        """Written once per request."""
        tune_id = job.tune_id
        if await self.store.tunes.file(tune_id, artifacts.TUNE_MID) is None:
            try:
                ref = parse_melody_id(job.source)
                check_tune(job.bars, job.backing)
            except (BreedError, ParamsError) as error:
                raise JobError(f"Cannot make that tune: {error}") from None
            theme, notes, params = await self.melodies.melody_of(ref)
            files = await asyncio.to_thread(self.sounds.tune, theme, notes, None, job.bars, job.backing, params,
                                            tune_id)
            await self.store.tunes.add_files(tune_id, files)
            log.info("breed %s gen %d: tune %s of %s written (%d bars, backing %s)", ref.breed_id, ref.generation,
                     tune_id, ref, job.bars, job.backing)
        await self.results.publish(Event("tune_ready", tune_id, job.generation))


async def finish_tune(kit: Kit, ref: MelodyRef, breed: model.Breed, melody: Sequence[Note]) -> dict[str, bytes]:
    """The tune of a finish: the winner is its theme, the runner-up of its generation (if any) its contrast.

    A tune that cannot be made leaves the finish with the winner's own files (logged): the
    breed's result must not be lost to it.
    """
    latents = await kit.store.breeds.get_latents(ref.breed_id, ref.generation)
    if latents is None or not 0 <= ref.index < len(latents):
        log.error("breed %s gen %d: no latents for the winner's tune", ref.breed_id, ref.generation)
        return {}
    votes = await kit.store.votes.tally(ref.breed_id, ref.generation, len(latents))
    other = runner_up(votes, ref.index)
    contrast = latents[other] if other is not None else None
    params = breed.params
    try:
        files = await asyncio.to_thread(kit.sounds.tune, latents[ref.index], melody, contrast, params.bars,
                                        params.backing, params, str(ref))
    except Exception:  # the winner's files are written all the same
        log.exception("breed %s gen %d: the winner's tune failed", ref.breed_id, ref.generation)
        return {}
    log.info("breed %s gen %d: tune of %s written (%d bars, backing %s, contrast %s)", ref.breed_id,
             ref.generation, ref, params.bars, params.backing, other)
    return files
