"""Melodies between Notes, NoteSequences and MusicVAE tokens, and the 2-bar window of a tune (no TensorFlow)."""

from __future__ import annotations

import note_seq
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.model import Note
from engine import melody


@st.composite
def monophonic(draw, steps: int = 32) -> list[Note]:
    """Notes in time order that never overlap, the first in the first bar, all within `steps`."""
    notes, position = [], draw(st.integers(0, 15))
    for _ in range(draw(st.integers(1, 16))):
        length = draw(st.integers(1, 8))
        if position + length > steps:
            break
        notes.append(Note(draw(st.integers(melody.MIN_PITCH, melody.MAX_PITCH)), position, position + length))
        position += length + draw(st.integers(0, 3))
    return notes


@st.composite
def any_notes(draw) -> list[Note]:
    """Overlapping and simultaneous notes too, one of them starting in the first bar."""
    first = Note(draw(st.integers(melody.MIN_PITCH, melody.MAX_PITCH)), draw(st.integers(0, 15)), 0)
    notes = [Note(first.pitch, first.start, first.start + draw(st.integers(1, 20)))]
    for _ in range(draw(st.integers(0, 10))):
        start = draw(st.integers(0, 31))
        notes.append(Note(draw(st.integers(melody.MIN_PITCH, melody.MAX_PITCH)), start,
                          start + draw(st.integers(1, 20))))
    return notes


def magenta_tokens(notes: list[Note], steps: int = 32) -> list[int]:
    """What Magenta's melody converter makes of notes: note_seq's Melody and MelodyOneHotEncoding."""
    quantised = melody.quantise(melody.to_note_sequence(notes))
    line = note_seq.Melody()
    line.from_quantized_sequence(quantised, gap_bars=100, ignore_polyphonic_notes=True)
    line.set_length(steps)
    encoding = note_seq.MelodyOneHotEncoding(melody.MIN_PITCH, melody.MAX_PITCH + 1)
    return [encoding.encode_event(event) for event in line]


@settings(max_examples=150, deadline=None)
@given(any_notes())
def test_tokens_are_those_of_magentas_melody_converter(notes):
    assert melody.notes_to_tokens(notes).tolist() == magenta_tokens(notes)


@settings(max_examples=150, deadline=None)
@given(monophonic())
def test_monophonic_melody_survives_tokens_round_trip(notes):
    assert melody.tokens_to_notes(melody.notes_to_tokens(notes)) == notes


def test_tokens_decode_note_off_and_sustain():
    c4, e4 = 60 - melody.MIN_PITCH + melody.FIRST_PITCH_TOKEN, 64 - melody.MIN_PITCH + melody.FIRST_PITCH_TOKEN
    tokens = [c4, 0, 0, 0, melody.NOTE_OFF, 0, e4, 0] + [0] * 24
    assert melody.tokens_to_notes(tokens) == [Note(60, 0, 4), Note(64, 6, 32)]
    assert melody.tokens_to_notes([melody.NOTE_OFF] + [0] * 31) == []


def test_pitches_outside_the_piano_range_move_by_octaves():
    tokens = melody.notes_to_tokens([Note(12, 0, 4), Note(120, 4, 8)])
    assert [n.pitch for n in melody.tokens_to_notes(tokens)] == [24, 108]


def test_one_hot_rows_mark_the_token():
    rows = melody.one_hot(np.array([[0, 1, 89]]))
    assert rows.shape == (1, 3, melody.TOKEN_COUNT) and rows.dtype == np.float32
    assert rows.sum() == 3 and rows[0, 2, 89] == 1


@pytest.mark.parametrize("tempo", [60.0, 120.0, 173.0])
def test_note_sequence_round_trip_keeps_steps_at_any_tempo(tempo):
    notes = [Note(60, 0, 3), Note(62, 4, 8), Note(67, 8, 32)]
    sequence = melody.to_note_sequence(notes, tempo=tempo)
    assert sequence.tempos[0].qpm == tempo
    assert sequence.notes[1].start_time == pytest.approx(4 * 15.0 / tempo)
    assert sequence.total_time == pytest.approx(32 * 15.0 / tempo)
    assert melody.from_note_sequence(sequence) == notes


def test_note_sequence_total_time_covers_a_trailing_rest():
    sequence = melody.to_note_sequence([Note(60, 0, 4)], steps=32)
    assert sequence.total_time == pytest.approx(4.0)  # 32 sixteenths at 120 BPM


def test_quantise_snaps_played_timing_to_sixteenths():
    sequence = melody.to_note_sequence([Note(60, 0, 4), Note(64, 4, 8)])
    sequence.notes[0].start_time += 0.02  # 20 ms late: a sixteenth at 120 BPM is 125 ms
    sequence.notes[1].start_time -= 0.03
    sequence.notes[1].end_time += 0.04
    assert not note_seq.sequences_lib.is_quantized_sequence(sequence)
    assert melody.from_note_sequence(sequence) == [Note(60, 0, 4), Note(64, 4, 8)]
    quantised = melody.quantise(sequence)
    assert melody.quantise(quantised) is quantised


def test_from_note_sequence_keeps_the_top_line_and_drops_drums():
    sequence = melody.to_note_sequence([Note(60, 0, 8), Note(67, 0, 4), Note(64, 4, 8)])
    sequence.notes.add(pitch=36, start_time=0.0, end_time=0.5, velocity=100, is_drum=True)
    assert melody.from_note_sequence(sequence) == [Note(67, 0, 4), Note(64, 4, 8)]


def test_first_bars_skips_leading_empty_bars_and_cuts_at_the_window():
    notes = [Note(60, 36, 40), Note(62, 48, 52), Note(64, 64, 72), Note(65, 66, 80), Note(67, 80, 84)]
    window = melody.first_bars(notes)
    assert window == [Note(60, 4, 8), Note(62, 16, 20)]  # bar 2 (steps 32..63) starts the window
    assert melody.first_bars(notes, bars=3) == [Note(60, 4, 8), Note(62, 16, 20), Note(64, 32, 40),
                                               Note(65, 34, 48)]


def test_first_bars_keeps_a_pickup_in_its_place_and_cuts_a_held_note():
    notes = [Note(55, 12, 16), Note(60, 16, 24), Note(62, 24, 40)]
    assert melody.first_bars(notes) == [Note(55, 12, 16), Note(60, 16, 24), Note(62, 24, 32)]


def test_first_bars_of_nothing_is_nothing():
    assert melody.first_bars([]) == []
