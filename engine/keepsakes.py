"""The worker's jobs for what outlives a breed: family trees, compositions, and branches' seeds.

A part of the worker (Worker mixes it in): the same store, model and renderer. Idempotent like
every job: a tree or a composition already written is not written again, its event is published
once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from domain import artifacts, limits, model
from domain.errors import BreedError
from domain.ids import MelodyRef, parse_melody_id
from domain.model import Generation, Note
from engine.errors import JobError
from storage.codec import Event, Job

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from engine.render import Renderer
    from engine.sampling import LatentModel
    from storage.store import BreedStore

log = logging.getLogger(__name__)


class KeepsakeJobs:
    """The tree and compose jobs, and the latent vector a branch starts from."""

    store: BreedStore
    model: LatentModel
    renderer: Renderer
    temperature: float

    async def _named_candidate(self, job: Job) -> tuple[Generation, int]:
        """The generation a job reads and the candidate it names; JobError when either is not there."""
        generation = await self.store.breeds.get_generation(job.breed_id, job.generation)
        if generation is None:
            raise JobError(f"Generation {job.generation + 1} of this breed is missing.")
        index = job.candidate
        if index is None or not 0 <= index < len(generation.candidates):
            raise JobError(f"There is no candidate {'?' if index is None else index + 1} in this generation.")
        return generation, index

    async def _latent_of(self, melody: str | MelodyRef) -> NDArray[np.float32]:
        """The stored latent vector of a melody id: exactly the melody people heard."""
        try:
            ref = parse_melody_id(melody) if isinstance(melody, str) else melody
        except BreedError as error:
            raise JobError(str(error)) from None
        latents = await self.store.breeds.get_latents(ref.breed_id, ref.generation)
        if latents is None or not 0 <= ref.index < len(latents):
            raise JobError(f"The melody `{ref}` is not stored any more.")
        return latents[ref.index]

    async def _melody_of(self, ref: MelodyRef) -> tuple[NDArray[np.float32], list[Note], model.BreedParams]:
        """A melody's latent, its notes and the options it sounds with (tempo, instrument).

        A gallery winner outlives its breed (BREED_RETENTION_DAYS): then its kept MIDI file gives
        the notes, the model's reading of them the latent, and the gallery's record the options.
        """
        gone = JobError(f"The melody `{ref}` is not stored any more.")
        breed = await self.store.breeds.get(ref.breed_id)
        generation = await self.store.breeds.get_generation(ref.breed_id, ref.generation) if breed else None
        if breed is not None and generation is not None and 0 <= ref.index < len(generation.melodies):
            with contextlib.suppress(JobError):  # its latents expired: the gallery's copy, below
                return await self._latent_of(ref), list(generation.melodies[ref.index]), breed.params
        winner = await self.store.gallery.winner(str(ref))
        data = await self.store.gallery.file(winner, artifacts.WINNER_MID) if winner is not None else None
        if winner is None or data is None:
            raise gone
        params = breed.params if breed is not None else model.BreedParams(tempo=winner.tempo,
                                                                           instrument=winner.instrument)
        return await asyncio.to_thread(self._read_winner, data) + (params,)

    def _read_winner(self, data: bytes) -> tuple[NDArray[np.float32], list[Note]]:
        from engine.midi import midi_to_notes

        return self.model.encode_midi(data)[0], midi_to_notes(data)

    async def _family_tree(self, leaf: MelodyRef, title: str) -> bytes:
        from engine.family import family_nodes
        from engine.lineage import tree_png

        nodes = await family_nodes(self.store, leaf)
        return await asyncio.to_thread(tree_png, nodes, str(leaf), f"{title}: {leaf}")

    async def _tree(self, job: Job) -> None:
        """The family tree of one candidate, written once per candidate and generation."""
        _, index = await self._named_candidate(job)
        name = artifacts.tree_name(index)
        if await self.store.breeds.get_artifact(job.breed_id, job.generation, name) is None:
            png = await self._family_tree(MelodyRef(job.breed_id, job.generation, index), "Family tree")
            await self.store.breeds.add_artifacts(job.breed_id, job.generation, {name: png})
        await self.store.streams.publish_event(Event("tree_ready", job.breed_id, job.generation, candidate=index))

    async def _compose(self, job: Job) -> None:
        """Phrases one after the other, with a short interpolated join between different ones if asked."""
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
                latent, notes, sounding = await self._melody_of(ref)
                phrases.append(notes)
                latents.append(latent)
                params = params or sounding  # the first phrase's tempo and instrument
            assert params is not None
            audio, data = await asyncio.to_thread(self._render_composition, phrases, latents, job.smooth, params)
            await self.store.compositions.add_files(
                composition_id, {artifacts.COMPOSITION_AUDIO: audio, artifacts.COMPOSITION_MID: data}
            )
            log.info("composition %s of %d phrases written (smooth: %s)", composition_id, len(refs), job.smooth)
        await self.store.streams.publish_event(Event("composed", composition_id))

    def _render_composition(
        self, phrases: Sequence[Sequence[Note]], latents: Sequence[NDArray[np.float32]], smooth: bool,
        params: model.BreedParams,
    ) -> tuple[bytes, bytes]:
        """The audio and MIDI file of a composition; its joins are the melody halfway between two phrases."""
        from engine import midi
        from engine.compose import join_phrases

        bridges: list[list[Note] | None] = [None] * (len(phrases) - 1)
        if smooth:
            pairs = [i for i in range(len(phrases) - 1) if not np.array_equal(latents[i], latents[i + 1])]
            if pairs:
                middles = np.stack([self.model.interpolate(latents[i], latents[i + 1], 3)[1] for i in pairs])
                for i, melody in zip(pairs, self.model.decode(middles, self.temperature), strict=True):
                    bridges[i] = melody
        notes, length = join_phrases(phrases, bridges, self.model.steps)
        data = midi.melody_to_midi(notes, params.tempo, params.instrument, length)
        return self.renderer.render_midi(data), data

