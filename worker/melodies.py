"""What a job reads of melodies: breeds, generations, latent vectors, notes, and the voting history.

Everything here reads the store; the handlers decide what to make of it. A melody id names one
candidate of one generation; a gallery winner outlives its breed, so its kept MIDI file stands in
for latents that expired.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from domain import artifacts, model
from domain.errors import BreedError
from domain.ids import MelodyRef, parse_melody_id
from domain.model import Generation, Note
from worker import batching
from worker.errors import JobError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from engine.sampling import LatentModel
    from storage.store import BreedStore

VOTED_CACHE = 1024  # voted generations kept for the preference fit: 8 KB each at population 8

Voted = tuple["NDArray[np.float32]", tuple[int, ...]]


class Melodies:
    """Reads melodies for jobs: from the store, and through the model (decoding, encoding)."""

    def __init__(self, store: BreedStore, model: LatentModel, temperature: float) -> None:
        self.store = store
        self.model = model
        self.temperature = temperature
        self._voted: OrderedDict[tuple[str, int], Voted] = OrderedDict()

    async def breed(self, breed_id: str) -> model.Breed:
        breed = await self.store.breeds.get(breed_id)
        if breed is None:
            raise JobError(f"Unknown breed {breed_id}.")
        return breed

    async def generation_with_latents(self, breed_id: str, number: int) -> tuple[Generation, NDArray[np.float32]]:
        """A generation and its latents; JobError when either is gone."""
        generation = await self.store.breeds.get_generation(breed_id, number)
        latents = await self.store.breeds.get_latents(breed_id, number)
        if generation is None or latents is None:
            raise JobError(f"Generation {number + 1} of this breed is missing.")
        return generation, latents

    async def named_candidate(self, breed_id: str, number: int, index: int) -> Generation:
        """The generation a job reads, checked to hold the candidate it names; JobError when either is not there."""
        generation = await self.store.breeds.get_generation(breed_id, number)
        if generation is None:
            raise JobError(f"Generation {number + 1} of this breed is missing.")
        if not 0 <= index < len(generation.candidates):
            raise JobError(f"There is no candidate {index + 1} in this generation.")
        return generation

    async def decode(self, latents: NDArray[np.float32]) -> list[list[Note]]:
        """The melodies of `latents`, decoded together with other breeds' when the runner batches jobs."""
        batch = batching.current.get()
        if batch is None:
            return await asyncio.to_thread(self.model.decode, latents, self.temperature)
        return await batch.decode(latents)

    def encode_seed(self, data: bytes) -> NDArray[np.float32]:
        try:
            seed: NDArray[np.float32] = self.model.encode_midi(data)[0]
        except ValueError as error:
            raise JobError(f"Could not use the MIDI file: {error}") from None
        return seed

    async def latent_of(self, melody: str | MelodyRef) -> NDArray[np.float32]:
        """The stored latent vector of a melody id: exactly the melody people heard. An ended breed's latents
        go before its melodies (storage.breeds.ENDED_LATENTS_S): then the model's reading of the melody's
        notes, as of a MIDI file (an open breed keeps its latents: without them, its melody is gone)."""
        try:
            ref = parse_melody_id(melody) if isinstance(melody, str) else melody
        except BreedError as error:
            raise JobError(str(error)) from None
        latents = await self.store.breeds.get_latents(ref.breed_id, ref.generation)
        if latents is not None and 0 <= ref.index < len(latents):
            latent: NDArray[np.float32] = latents[ref.index]
            return latent
        breed = await self.store.breeds.get(ref.breed_id)
        generation = await self.store.breeds.get_generation(ref.breed_id, ref.generation)
        if breed is None or breed.status in model.OPEN_STATUSES or generation is None \
                or not 0 <= ref.index < len(generation.melodies) or not generation.melodies[ref.index]:
            raise JobError(f"The melody `{ref}` is not stored any more.")
        read: NDArray[np.float32] = (await asyncio.to_thread(self.model.encode, [generation.melodies[ref.index]]))[0]
        return read

    async def melody_of(self, ref: MelodyRef) -> tuple[NDArray[np.float32], list[Note], model.BreedParams]:
        """A melody's latent, its notes and the options it sounds with (tempo, instrument).

        A gallery winner outlives its breed (BREED_RETENTION_DAYS): then its kept MIDI file gives
        the notes, the model's reading of them the latent, and the gallery's record the options.
        """
        gone = JobError(f"The melody `{ref}` is not stored any more.")
        breed = await self.store.breeds.get(ref.breed_id)
        generation = await self.store.breeds.get_generation(ref.breed_id, ref.generation) if breed else None
        if breed is not None and generation is not None and 0 <= ref.index < len(generation.melodies):
            with contextlib.suppress(JobError):  # its latents expired: the gallery's copy, below
                return await self.latent_of(ref), list(generation.melodies[ref.index]), breed.params
        winner = await self.store.gallery.winner(str(ref))
        data = await self.store.gallery.file(winner, artifacts.WINNER_MID) if winner is not None else None
        if winner is None or data is None:
            raise gone
        params = breed.params if breed is not None else model.BreedParams(tempo=winner.tempo,
                                                                           instrument=winner.instrument)
        latent, notes = await asyncio.to_thread(self._read_winner, data)
        return latent, notes, params

    def _read_winner(self, data: bytes) -> tuple[NDArray[np.float32], list[Note]]:
        from engine.midi import midi_to_notes

        return self.model.encode_midi(data)[0], midi_to_notes(data)

    async def history(self, breed_id: str, before: int) -> list[Voted]:
        """Every generation of the breed before `before` with the votes it got, oldest first.

        A generation's votes are stored with the generation they made (its `fitness`), so generation k's
        votes are generation k+1's record; a generation whose latents expired or never were is skipped.
        """
        history = []
        for number in range(before):
            known = self._voted.get((breed_id, number))
            if known is None:
                latents = await self.store.breeds.get_latents(breed_id, number)
                made = await self.store.breeds.get_generation(breed_id, number + 1)
                if latents is None or made is None or len(made.fitness) != len(latents):
                    continue
                # Written once and never changed: kept, the next step of the breed reads only its newest.
                known = self._voted[(breed_id, number)] = (latents, made.fitness)
                while len(self._voted) > VOTED_CACHE:
                    self._voted.popitem(last=False)
            else:
                self._voted.move_to_end((breed_id, number))
            history.append(known)
        return history

    async def family_tree(self, leaf: MelodyRef, title: str) -> bytes:
        """The family tree image of a melody."""
        from engine.lineage import tree_png
        from worker.family import family_nodes

        nodes = await family_nodes(self.store, leaf)
        return await asyncio.to_thread(tree_png, nodes, str(leaf), f"{title}: {leaf}")
