"""Melodies to MIDI and back, and the refusal of unusable uploads."""

from __future__ import annotations

import io

import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.model import Note
from engine import midi


@st.composite
def melodies(draw, max_steps: int = 48) -> list[Note]:
    """Monophonic melodies: notes in time order that never overlap, rests anywhere."""
    notes, position = [], draw(st.integers(0, 8))
    for _ in range(draw(st.integers(0, 16))):
        length = draw(st.integers(1, 12))
        if position + length > max_steps:
            break
        notes.append(Note(draw(st.integers(0, 127)), position, position + length))
        position += length + draw(st.integers(0, 4))
    return notes


def polyphonic_midi(notes: list[tuple[int, float, float]], *, tempo: float | None = 120.0,
                    program: int = 0, drums: list[tuple[int, float, float]] | None = None) -> bytes:
    """A file built with pretty_midi directly, the way other software writes one; times in beats."""
    music = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=tempo or 120.0)
    seconds = 60.0 / (tempo or 120.0)
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True)
        kit.notes = [pretty_midi.Note(100, p, s * seconds, e * seconds) for p, s, e in drums]
        music.instruments.append(kit)
    track = pretty_midi.Instrument(program=program)
    track.notes = [pretty_midi.Note(100, p, s * seconds, e * seconds) for p, s, e in notes]
    music.instruments.append(track)
    buffer = io.BytesIO()
    music.write(buffer)
    data = buffer.getvalue()
    if tempo is None:
        data = _without_tempo(data)
    return data


def _without_tempo(data: bytes) -> bytes:
    import mido

    parsed = mido.MidiFile(file=io.BytesIO(data))
    for track in parsed.tracks:
        kept = []
        carry = 0
        for message in track:
            if message.type == "set_tempo":
                carry += message.time
                continue
            kept.append(message.copy(time=message.time + carry))
            carry = 0
        track[:] = kept
    buffer = io.BytesIO()
    parsed.save(file=buffer)
    return buffer.getvalue()


@settings(max_examples=150, deadline=None)
@given(melodies(), st.integers(40, 240), st.integers(0, 127))
def test_round_trip_gives_back_the_same_notes(notes, tempo, instrument):
    data = midi.melody_to_midi(notes, tempo, instrument)
    assert midi.midi_to_notes(data) == notes


@given(st.integers(40, 240), st.integers(0, 127))
def test_file_carries_the_tempo_and_instrument(tempo, instrument):
    data = midi.melody_to_midi([Note(60, 0, 4), Note(64, 4, 8)], tempo, instrument)
    music = midi.read_midi(data)
    (track,) = music.instruments
    assert track.program == instrument
    assert not track.is_drum
    _, tempi = music.get_tempo_changes()
    assert list(tempi) == pytest.approx([tempo], rel=1e-5)
    assert track.notes[1].start == pytest.approx(4 * 60 / tempo / 4, rel=1e-5)


def test_file_lasts_the_whole_clip_despite_a_trailing_rest():
    data = midi.melody_to_midi([Note(60, 0, 4)], 120, 0, steps=32)
    assert midi.read_midi(data).get_end_time() == pytest.approx(4.0)
    assert midi.midi_to_notes(data) == [Note(60, 0, 4)]


def test_melody_longer_than_steps_is_kept_whole():
    notes = [Note(60, 30, 40)]
    data = midi.melody_to_midi(notes, 100, 0, steps=32)
    assert midi.midi_to_notes(data) == notes
    assert midi.read_midi(data).get_end_time() == pytest.approx(40 * 60 / 100 / 4)


@pytest.mark.parametrize("note", [Note(128, 0, 4), Note(-1, 0, 4), Note(60, 4, 4), Note(60, -2, 2)])
def test_unplayable_notes_are_refused(note):
    with pytest.raises(ValueError, match="not a playable note"):
        midi.melody_to_midi([note], 120, 0)


def test_melody_line_is_the_highest_note_of_a_chord_progression():
    # C major then F major triads (two beats each), with a low bass note held under both.
    chords = [(60, 0, 2), (64, 0, 2), (67, 0, 2), (65, 2, 4), (69, 2, 4), (72, 2, 4), (36, 0, 4)]
    assert midi.midi_to_notes(polyphonic_midi(chords)) == [Note(67, 0, 8), Note(72, 8, 16)]


def test_higher_onset_cuts_a_sounding_note_and_lower_onset_under_it_is_dropped():
    notes = [(60, 0, 2), (67, 1, 1.5), (55, 1.5, 3.5), (62, 3, 4)]
    # 60 sounds until 67 starts; 55 starts under nothing (67 has ended) so it plays; then 62 cuts it.
    assert midi.midi_to_notes(polyphonic_midi(notes)) == [
        Note(60, 0, 4), Note(67, 4, 6), Note(55, 6, 12), Note(62, 12, 16),
    ]
    under = [(72, 0, 4), (60, 1, 2)]
    assert midi.midi_to_notes(polyphonic_midi(under)) == [Note(72, 0, 16)]


def test_drums_are_ignored_and_the_first_melodic_instrument_is_read():
    data = polyphonic_midi([(62, 0, 1), (64, 1, 2)], drums=[(36, 0, 0.5), (38, 1, 1.5)], program=73)
    assert midi.midi_to_notes(data) == [Note(62, 0, 4), Note(64, 4, 8)]


def test_positions_follow_the_files_own_tempo():
    data = polyphonic_midi([(60, 0, 1), (62, 2, 3)], tempo=90.0)
    assert midi.midi_to_notes(data) == [Note(60, 0, 4), Note(62, 8, 12)]


def test_tempo_hint_applies_only_to_files_without_a_tempo():
    # Played at 60 BPM but written without a tempo, so the file means 120 BPM: a beat lasts 0.5 s
    # of file time and each real beat (1 s) is two file beats.
    untimed = polyphonic_midi([(60, 0, 2), (62, 2, 4)], tempo=None)
    assert midi.midi_to_notes(untimed) == [Note(60, 0, 8), Note(62, 8, 16)]
    assert midi.midi_to_notes(untimed, tempo_hint=60) == [Note(60, 0, 4), Note(62, 4, 8)]
    timed = polyphonic_midi([(60, 0, 1)], tempo=100.0)
    assert midi.midi_to_notes(timed, tempo_hint=60) == [Note(60, 0, 4)]


def test_very_short_notes_last_at_least_one_step():
    data = polyphonic_midi([(60, 0, 0.05), (62, 1, 1.1)])
    assert midi.midi_to_notes(data) == [Note(60, 0, 1), Note(62, 4, 5)]


def test_a_good_upload_passes():
    midi.validate_upload(midi.melody_to_midi([Note(60, 0, 4)], 120, 0))


def assert_refused(data: bytes, reason: str, **kwargs) -> str:
    with pytest.raises(midi.MidiError, match=reason) as caught:
        midi.validate_upload(data, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_garbage_is_refused_as_not_midi():
    assert_refused(b"ID3\x03\x00 this is an mp3 really" * 10, "not a MIDI file")
    assert_refused(b"", "empty")


def test_truncated_midi_is_refused_as_corrupt():
    data = midi.melody_to_midi([Note(60, 0, 4), Note(62, 4, 8)], 120, 0)
    assert_refused(data[: len(data) // 2], "corrupt")


def test_damaged_midi_is_refused_as_corrupt():
    data = bytearray(midi.melody_to_midi([Note(60, 0, 4)], 120, 0))
    data[8:14] = b"\xff" * 6  # header: format, track count, resolution
    assert_refused(bytes(data), "corrupt")


def test_midi_without_notes_is_refused():
    assert_refused(midi.melody_to_midi([], 120, 0), "no notes")
    assert_refused(polyphonic_midi([], drums=[(36, 0, 1)]), "no notes")


def test_file_over_the_limit_is_refused_before_parsing():
    data = midi.melody_to_midi([Note(60, 0, 4)], 120, 0)
    message = assert_refused(data + b"\x00" * (1 << 20), "too big")
    assert "1 MiB" in message
    assert_refused(data, "too big", max_bytes=len(data) - 1)


def test_midi_error_is_a_value_error():
    with pytest.raises(ValueError):
        midi.midi_to_notes(b"RIFF....WAVE")
