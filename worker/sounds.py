"""What a job makes of melodies: audio clips, MIDI files and images, with the breed's options.

Pure work on the engine's parts (the renderer, MIDI, piano rolls, tunes); every method is blocking and
runs in a thread (`asyncio.to_thread`) from the handlers. Nothing here reads or writes the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from domain import artifacts, model
from domain.model import Note
from domain.tune import Backing

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from engine.preference import Subspace
    from engine.render import Renderer
    from engine.sampling import LatentModel


def tune_rng(key: str) -> np.random.Generator:
    """The random generator of one tune: the same finish or request always gives the same tune."""
    digest = hashlib.sha256(f"{key}:tune".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class Sounds:
    """Renders melodies for jobs: clips with the breed's backing, winners, morphs, tunes and compositions."""

    def __init__(self, model: LatentModel, renderer: Renderer, temperature: float,
                 subspace: Subspace | None) -> None:
        self.model = model
        self.renderer = renderer
        self.temperature = temperature
        self.subspace = subspace

    def generation(self, melodies: Sequence[Sequence[Note]], params: model.BreedParams) -> dict[str, bytes]:
        """Audio clip, MIDI file and the numbered piano roll of a whole generation."""
        from engine import midi, pianoroll

        # The piano roll is drawn beside the audio (PIL and the renderer let go of the GIL for their heavy parts).
        with ThreadPoolExecutor(1, thread_name_prefix="roll") as beside:
            roll = beside.submit(pianoroll.generation_png, melodies, [str(i + 1) for i in range(len(melodies))])
            if params.backing != Backing.NONE:
                files = self._backed_generation(melodies, params)
            else:
                clips = self.renderer.render_clips(melodies, params.tempo, params.instrument)
                files = {artifacts.clip_name(i): clip for i, clip in enumerate(clips)}
                for i, melody in enumerate(melodies):
                    files[artifacts.midi_name(i)] = midi.melody_to_midi(
                        melody, params.tempo, params.instrument, self.model.steps
                    )
            files[artifacts.ROLL_PNG] = roll.result()
        return files

    def _backed_generation(self, melodies: Sequence[Sequence[Note]], params: model.BreedParams) -> dict[str, bytes]:
        """A generation's clips and MIDI files with the breed's backing."""
        backed = [self.backed_midi(melody, params) for melody in melodies]
        files = {artifacts.midi_name(index): data for index, data in enumerate(backed)}
        for index, clip in enumerate(self.renderer.render_midis(backed)):
            files[artifacts.clip_name(index)] = clip
        return files

    def backed_midi(self, melody: Sequence[Note], params: model.BreedParams) -> bytes:
        """The MIDI file of a melody with the breed's backing under it."""
        from engine.arrange import arrange

        return arrange(melody, params.backing, params.tempo, params.instrument, self.model.steps).midi

    def clip_audio(self, melody: Sequence[Note], params: model.BreedParams) -> bytes:
        """One melody's audio clip, with the breed's backing."""
        if params.backing == Backing.NONE:
            return self.renderer.render_clips([melody], params.tempo, params.instrument)[0]
        return self.renderer.render_midi(self.backed_midi(melody, params))

    def generation_roll(self, melodies: Sequence[Sequence[Note]]) -> bytes:
        """The numbered piano roll of a whole generation (as `generation` draws it)."""
        from engine import pianoroll

        return pianoroll.generation_png(melodies, [str(i + 1) for i in range(len(melodies))])

    def winner_roll(self, melody: Sequence[Note], index: int) -> bytes:
        """The winner's piano roll (as `winner` draws it)."""
        from engine import pianoroll

        return pianoroll.melody_png(melody, f"Winner: candidate {index + 1}")

    def midi_audio(self, data: bytes) -> bytes:
        """The audio of a kept MIDI file (a tune's, a morph's, a piece's): exactly what was rendered from it."""
        return self.renderer.render_midi(data)

    def midi_roll(self, data: bytes, title: str) -> bytes:
        """A piano roll of a kept MIDI file's melody line, for a tune whose sections are no longer known."""
        from engine import midi, pianoroll

        notes = midi.midi_to_notes(data)
        return pianoroll.melody_png(notes, title, max([self.model.steps, *(note.end for note in notes)]))

    def winner(self, melody: Sequence[Note], params: model.BreedParams, index: int) -> dict[str, bytes]:
        """The winner's MIDI file, audio clip and piano roll."""
        from engine import midi, pianoroll

        return {
            artifacts.WINNER_MID: midi.melody_to_midi(melody, params.tempo, params.instrument, self.model.steps),
            artifacts.WINNER_AUDIO: self.clip_audio(melody, params),
            artifacts.WINNER_PNG: pianoroll.melody_png(melody, f"Winner: candidate {index + 1}"),
        }

    def morph(self, melodies: Sequence[Sequence[Note]], params: model.BreedParams) -> tuple[bytes, bytes]:
        """The audio clip and MIDI file of the melodies one after the other."""
        from engine import midi

        length = self.model.steps
        joined = [
            Note(n.pitch, n.start + i * length, n.end + i * length) for i, m in enumerate(melodies) for n in m
        ]
        data = midi.melody_to_midi(joined, params.tempo, params.instrument, length * len(melodies))
        return self.renderer.render_midi(data), data

    def morph_length(self, data: bytes, tempo: int) -> int:
        """How many melodies a written morph's MIDI file holds (its end marker closes the last one)."""
        from engine import midi

        melody_seconds = self.model.steps * midi.step_seconds(tempo)
        return round(float(midi.read_midi(data).get_end_time()) / melody_seconds)

    def tune(
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

    def composition(
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
