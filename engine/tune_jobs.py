"""The worker's side of backing and tunes: clips with the breed's backing, the tune of every finish,
and the tune job of `/breed tune`.

A part of the worker (Worker mixes it in): the same store, model and renderer. Idempotent like
every job: a tune already written is not written again, its event is published once more.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from domain import artifacts, model
from domain.errors import BreedError, ParamsError
from domain.ids import MelodyRef, parse_melody_id
from domain.model import Note, check_tune
from engine.errors import JobError
from engine.keepsakes import KeepsakeJobs
from storage.codec import Event, Job

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from engine.preference import Subspace
    from engine.render import Renderer
    from engine.sampling import LatentModel
    from storage.store import BreedStore

log = logging.getLogger(__name__)

NO_BACKING = "none"


def tune_rng(key: str) -> np.random.Generator:
    """The random generator of one tune: the same finish or request always gives the same tune."""
    digest = hashlib.sha256(f"{key}:tune".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def runner_up(votes: Sequence[int], winner: int) -> int | None:
    """The candidate with the most votes after the winner (the lowest number on a tie); None when no other has any."""
    others = [(count, -index) for index, count in enumerate(votes) if index != winner and count > 0]
    return -max(others)[1] if others else None


class TuneJobs(KeepsakeJobs):
    """Backed clips, the finish's tune and the tune job (on top of the keepsakes' jobs)."""

    store: BreedStore
    model: LatentModel
    renderer: Renderer
    subspace: Subspace | None

    # --- backing ---------------------------------------------------------------------------

    def backed_midi(self, melody: Sequence[Note], params: model.BreedParams) -> bytes:
        """The MIDI file of a melody with the breed's backing under it."""
        from engine.arrange import arrange

        return arrange(melody, params.backing, params.tempo, params.instrument, self.model.steps).midi

    def clip_audio(self, melody: Sequence[Note], params: model.BreedParams) -> bytes:
        """One melody's audio clip, with the breed's backing."""
        if params.backing == NO_BACKING:
            return self.renderer.render_clips([melody], params.tempo, params.instrument)[0]
        return self.renderer.render_midi(self.backed_midi(melody, params))

    def render_backed_generation(
        self, melodies: Sequence[Sequence[Note]], params: model.BreedParams,
    ) -> dict[str, bytes]:
        """A generation's clips and MIDI files with the breed's backing, and its numbered piano roll."""
        from engine import pianoroll

        backed = [self.backed_midi(melody, params) for melody in melodies]
        files = {artifacts.midi_name(index): data for index, data in enumerate(backed)}
        for index, clip in enumerate(self.renderer.render_midis(backed)):
            files[artifacts.clip_name(index)] = clip
        files[artifacts.ROLL_PNG] = pianoroll.generation_png(melodies, [str(i + 1) for i in range(len(melodies))])
        return files

    # --- tunes -----------------------------------------------------------------------------

    def make_tune(
        self, theme: NDArray[np.float32], notes: Sequence[Note] | None, contrast: NDArray[np.float32] | None,
        bars: int, backing: str, params: model.BreedParams, key: str,
    ) -> dict[str, bytes]:
        """tune.mid, tune.ogg and tune.png of the tune built on `theme` (whose notes are `notes`, if known)
        and `contrast`, if any."""
        from engine.pianoroll import tune_roll
        from engine.tune import build_tune

        tune = build_tune(self.model, theme, contrast=contrast, bars=bars, backing=backing, tempo=params.tempo,
                          instrument=params.instrument, subspace=self.subspace, rng=tune_rng(key),
                          theme_notes=notes, temperature=self.temperature)
        return {
            artifacts.TUNE_MID: tune.midi,
            artifacts.TUNE_AUDIO: self.renderer.render_midi(tune.midi),
            artifacts.TUNE_PNG: tune_roll(tune),
        }

    async def finish_tune(self, ref: MelodyRef, breed: model.Breed, melody: Sequence[Note]) -> dict[str, bytes]:
        """The tune of a finish: the winner is its theme, the runner-up of its generation (if any) its contrast.

        A tune that cannot be made leaves the finish with the winner's own files (logged): the
        breed's result must not be lost to it.
        """
        latents = await self.store.breeds.get_latents(ref.breed_id, ref.generation)
        if latents is None or not 0 <= ref.index < len(latents):
            log.error("breed %s gen %d: no latents for the winner's tune", ref.breed_id, ref.generation)
            return {}
        votes = await self.store.votes.tally(ref.breed_id, ref.generation, len(latents))
        other = runner_up(votes, ref.index)
        contrast = latents[other] if other is not None else None
        params = breed.params
        try:
            files = await asyncio.to_thread(self.make_tune, latents[ref.index], melody, contrast, params.bars,
                                            params.backing, params, str(ref))
        except Exception:  # the winner's files are written all the same
            log.exception("breed %s gen %d: the winner's tune failed", ref.breed_id, ref.generation)
            return {}
        log.info("breed %s gen %d: tune of %s written (%d bars, backing %s, contrast %s)", ref.breed_id,
                 ref.generation, ref, params.bars, params.backing, other)
        return files

    async def _tune(self, job: Job) -> None:
        """The tune of `/breed tune`: from any melody id, written once per request."""
        tune_id = job.breed_id
        if await self.store.tunes.file(tune_id, artifacts.TUNE_MID) is None:
            try:
                ref = parse_melody_id(job.source or "")
                check_tune(job.bars, job.backing)
            except (BreedError, ParamsError) as error:
                raise JobError(f"Cannot make that tune: {error}") from None
            assert job.backing is not None
            theme, notes, params = await self._melody_of(ref)
            files = await asyncio.to_thread(self.make_tune, theme, notes, None, job.bars, job.backing, params,
                                            tune_id)
            await self.store.tunes.add_files(tune_id, files)
            log.info("breed %s gen %d: tune %s of %s written (%d bars, backing %s)", ref.breed_id, ref.generation,
                     tune_id, ref, job.bars, job.backing)
        await self.store.streams.publish_event(Event("tune_ready", tune_id, job.generation))
