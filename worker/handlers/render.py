"""render: audio and images made again from what Redis keeps, after the media store let them go.

Clips and piano rolls from the generation's melodies (with the breed's options), the winner's files from its
melody (or, once its breed is no longer kept, from the gallery's winner.mid), tunes, morphs and pieces from
their kept MIDI files, family trees from the lineage. The same inputs give the same files as the first render.
A file whose inputs are gone too is left out (logged): the front end that asked says so in one line.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

from domain import artifacts, model
from domain.errors import BreedError
from domain.ids import MelodyRef, parse_melody_id
from domain.jobs import JobKind, MediaOwner, RenderJob
from domain.model import Generation, Note
from storage.media import is_media
from worker.errors import JobError
from worker.handlers.base import Handles
from worker.handlers.tune import finish_tune

log = logging.getLogger(__name__)

_CLIP = re.compile(r"clip-(\d{1,2})\.ogg")
_TREE = re.compile(r"tree-(\d{1,2})\.png")
_MORPH = re.compile(r"(morph-\d{1,2}-\d{1,2})\.ogg")
_WINNER_TITLE = "The winner's family tree"


class Render(Handles[RenderJob]):
    kind = JobKind.RENDER

    async def handle(self, job: RenderJob) -> None:
        if not all(is_media(name) for name in job.names):
            raise JobError("Only audio and images are rendered again.")
        if job.owner == MediaOwner.BREED:
            files = await self._breed_files(job)
            if files:
                await self.results.breed_files(job.subject, job.generation, files)
        else:
            files = await self._request_files(job)
            requests = self.store.tunes if job.owner == MediaOwner.TUNE else self.store.compositions
            if files:
                await requests.add_files(job.subject, files)
        if self.store.media is not None and files:
            self.store.media.observers.tell_rerendered(len(files))
        left = sorted(set(job.names) - set(files))
        log.info("breed %s gen %d: %s rendered again%s", job.subject, job.generation, sorted(files) or "nothing",
                 f" ({left} cannot be: what they are made of is gone)" if left else "")

    # --- a breed's files --------------------------------------------------------------------------

    async def _breed_files(self, job: RenderJob) -> dict[str, bytes]:
        breed = await self.store.breeds.get(job.subject)
        generation = await self.store.breeds.get_generation(job.subject, job.generation) if breed else None
        files: dict[str, bytes] = {}
        for name in dict.fromkeys(job.names):
            data = await self._breed_file(job, breed, generation, name)
            if data is not None:
                files[name] = data
        return files

    async def _breed_file(self, job: RenderJob, breed: model.Breed | None, generation: Generation | None,
                          name: str) -> bytes | None:
        clip, tree, morph = _CLIP.fullmatch(name), _TREE.fullmatch(name), _MORPH.fullmatch(name)
        if name in (artifacts.WINNER_AUDIO, artifacts.WINNER_PNG, artifacts.LINEAGE_PNG, artifacts.TUNE_PNG):
            return await self._winner_file(job, breed, generation, name)
        if name == artifacts.TUNE_AUDIO or morph is not None:
            midi_name = artifacts.TUNE_MID if morph is None else f"{morph.group(1)}.mid"
            data = await self.store.breeds.get_artifact(job.subject, job.generation, midi_name)
            return await asyncio.to_thread(self.sounds.midi_audio, data) if data is not None else None
        if tree is not None:
            return await self._tree(MelodyRef(job.subject, job.generation, int(tree.group(1)) - 1), "Family tree")
        if breed is None or generation is None:
            return None
        if name == artifacts.ROLL_PNG:
            return await asyncio.to_thread(self.sounds.generation_roll, generation.melodies)
        if clip is not None and 0 < int(clip.group(1)) <= len(generation.melodies):
            melody = generation.melodies[int(clip.group(1)) - 1]
            return await asyncio.to_thread(self.sounds.clip_audio, melody, breed.params)
        raise JobError(f"`{name}` is not a file of a generation.")

    async def _winner_file(self, job: RenderJob, breed: model.Breed | None, generation: Generation | None,
                           name: str) -> bytes | None:
        index = job.candidate if job.candidate is not None else breed.winner if breed is not None else None
        if index is None:
            return None
        ref = MelodyRef(job.subject, job.generation, index)
        if name == artifacts.LINEAGE_PNG:
            return await self._tree(ref, _WINNER_TITLE)
        if breed is not None and generation is not None and 0 <= index < len(generation.melodies):
            melody: Sequence[Note] = generation.melodies[index]
            params = breed.params
            if name == artifacts.TUNE_PNG:
                if await self.store.breeds.get_latents(job.subject, job.generation) is not None:
                    # The same finish builds the same tune: its roll with its sections and chords.
                    return (await finish_tune(self.kit, ref, breed, melody)).get(artifacts.TUNE_PNG)
                tune = await self.store.breeds.get_artifact(job.subject, job.generation, artifacts.TUNE_MID)
                return await asyncio.to_thread(self.sounds.midi_roll, tune, "Tune") if tune is not None else None
        else:
            # The breed is no longer kept: the gallery's record and its winner.mid still are.
            winner = await self.store.gallery.winner(str(ref))
            kept = await self.store.gallery.file(winner, artifacts.WINNER_MID) if winner is not None else None
            if winner is None or kept is None:
                return None
            if name == artifacts.TUNE_PNG:
                tune = await self.store.gallery.file(winner, artifacts.TUNE_MID)
                return await asyncio.to_thread(self.sounds.midi_roll, tune, "Tune") if tune is not None else None
            melody = await asyncio.to_thread(_notes, kept)
            params = model.BreedParams(tempo=winner.tempo, instrument=winner.instrument)
        if name == artifacts.WINNER_AUDIO:
            return await asyncio.to_thread(self.sounds.clip_audio, melody, params)
        return await asyncio.to_thread(self.sounds.winner_roll, melody, index)

    async def _tree(self, ref: MelodyRef, title: str) -> bytes | None:
        generation = await self.store.breeds.get_generation(ref.breed_id, ref.generation)
        if generation is None or not 0 <= ref.index < len(generation.candidates):
            return None  # the lineage went with the breed
        return await self.melodies.family_tree(ref, title)

    # --- a tune's or a piece's files ----------------------------------------------------------------

    async def _request_files(self, job: RenderJob) -> dict[str, bytes]:
        requests = self.store.tunes if job.owner == MediaOwner.TUNE else self.store.compositions
        files: dict[str, bytes] = {}
        for name in dict.fromkeys(job.names):
            if name in (artifacts.TUNE_AUDIO, artifacts.COMPOSITION_AUDIO):
                midi_name = artifacts.TUNE_MID if name == artifacts.TUNE_AUDIO else artifacts.COMPOSITION_MID
                data = await requests.file(job.subject, midi_name)
                if data is not None:
                    files[name] = await asyncio.to_thread(self.sounds.midi_audio, data)
            elif name == artifacts.TUNE_PNG and job.owner == MediaOwner.TUNE:
                png = await self._tune_roll(job.subject)
                if png is not None:
                    files[name] = png
            else:
                raise JobError(f"`{name}` is not a file of a {job.owner}.")
        return files

    async def _tune_roll(self, tune_id: str) -> bytes | None:
        """The tune's piano roll: the tune built again (the same request gives the same tune) while its melody
        is kept, else its MIDI file's melody line."""
        request = await self.store.tunes.get(tune_id)
        if request is not None:
            try:
                theme, notes, params = await self.melodies.melody_of(parse_melody_id(request.melody))
            except (BreedError, JobError):
                pass
            else:
                files = await asyncio.to_thread(self.sounds.tune, theme, notes, None, request.bars, request.backing,
                                                params, tune_id)
                return files[artifacts.TUNE_PNG]
        data = await self.store.tunes.file(tune_id, artifacts.TUNE_MID)
        return await asyncio.to_thread(self.sounds.midi_roll, data, "Tune") if data is not None else None


def _notes(data: bytes) -> list[Note]:
    from engine.midi import midi_to_notes

    return midi_to_notes(data)
