"""The backing's MIDI file, written by engine.arrange itself, is the very file pretty_midi writes for the same parts."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pretty_midi
import pytest

from engine import arrange
from engine.midi import END_MARKER, TICKS_PER_BEAT, step_seconds
from tests.support.melodies import melody


def pretty_midi_file(parts: Sequence[arrange.Part], tempo: int, length: int) -> bytes:
    """How the parts were written before: through pretty_midi (and mido)."""
    step = step_seconds(tempo)
    music = pretty_midi.PrettyMIDI(resolution=TICKS_PER_BEAT, initial_tempo=float(tempo))
    music.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    for part in parts:
        track = pretty_midi.Instrument(program=part.program or 0, is_drum=part.program is None, name=part.name)
        track.control_changes.append(pretty_midi.ControlChange(arrange.VOLUME, part.volume, 0.0))
        if part.name == "Chords":
            track.control_changes.append(pretty_midi.ControlChange(arrange.PAN, arrange.CHORDS_PAN, 0.0))
        for pitch, start, end, velocity in part.notes:
            track.notes.append(pretty_midi.Note(velocity, pitch, start * step, end * step))
        music.instruments.append(track)
    music.text_events.append(pretty_midi.Text(END_MARKER, length * step))
    buffer = io.BytesIO()
    music.write(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("backing", ["chords", "band"])
@pytest.mark.parametrize("steps", [32, 48, 256])  # a clip, a clip with a long last note, a 16-bar tune
@pytest.mark.parametrize("tempo", [60, 75, 120, 133, 200])
def test_the_backing_file_is_the_one_pretty_midi_writes(backing, steps, tempo):
    for seed in range(12):
        notes = melody(seed, steps)
        instrument = (0, 24, 4, 40, 48, 73)[seed % 6]  # piano, guitar, electric piano, violin, strings, flute
        made = arrange.arrange(notes, backing, tempo, instrument, steps)
        length = max([steps, *(note.end for note in notes), made.chords[-1].end_step])
        assert made.midi == pretty_midi_file(made.parts, tempo, length), (seed, instrument)


def test_a_long_gap_is_written_as_a_multi_byte_delta():
    part = arrange.Part("Melody", 0, 100, [(60, 0, 1, 90), (62, 4000, 4001, 90)])  # 480,000 ticks later
    assert arrange._write([part], 120, 4001) == pretty_midi_file([part], 120, 4001)
