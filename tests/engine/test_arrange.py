"""Backings as multi-track MIDI files, read back with mido and pretty_midi."""

from __future__ import annotations

import io

import mido
import pytest

from domain.model import Note
from domain.tune import BACKINGS
from engine.arrange import arrange
from engine.harmony import Key, fit_chords
from engine.midi import melody_to_midi, read_midi

# Two bars in C: C E G E | F A C' A, then two bars G B D' B | C' held.
MELODY = [Note(p, 4 * i, 4 * i + 4) for i, p in enumerate([72, 76, 79, 76, 77, 81, 84, 81, 79, 83, 86, 83])]
MELODY.append(Note(84, 48, 64))


def tracks(data: bytes) -> list[mido.MidiTrack]:
    """The tracks that hold notes (pretty_midi writes tempo and metre in a track of their own first)."""
    parsed = mido.MidiFile(file=io.BytesIO(data))
    return [track for track in parsed.tracks if any(m.type == "note_on" for m in track)]


def loudness(track: mido.MidiTrack) -> float:
    """Mean note-on velocity scaled by the channel volume: what the synthesiser makes of the part."""
    velocities = [m.velocity for m in track if m.type == "note_on" and m.velocity > 0]
    volume = next((m.value for m in track if m.type == "control_change" and m.control == 7), 100)
    return sum(velocities) / len(velocities) * volume / 127


def test_no_backing_is_the_single_track_file_of_today():
    arrangement = arrange(MELODY, "none", 120, 0, 64)
    assert arrangement.midi == melody_to_midi(MELODY, 120, 0, 64)
    assert arrangement.chords == [] and len(tracks(arrangement.midi)) == 1


@pytest.mark.parametrize(("backing", "names", "programs"), [
    ("chords", ["Melody", "Chords", "Bass"], [73, 48, 32]),
    ("band", ["Melody", "Chords", "Bass", "Drums"], [73, 4, 33, 0]),
])
def test_each_part_is_its_own_track_and_instrument_with_the_melody_first(backing, names, programs):
    music = read_midi(arrange(MELODY, backing, 100, 73, 64).midi)
    assert [i.name for i in music.instruments] == names
    assert [i.program for i in music.instruments] == programs
    assert [i.is_drum for i in music.instruments] == [name == "Drums" for name in names]
    step = 60 / 100 / 4
    assert [(n.pitch, round(n.start / step), round(n.end / step)) for n in music.instruments[0].notes] == [
        (n.pitch, n.start, n.end) for n in MELODY
    ]
    assert music.get_end_time() == pytest.approx(64 * 0.15, abs=0.01)


def test_the_drums_play_on_the_general_midi_drum_channel():
    channels = {tuple(sorted({m.channel for m in t if m.type == "note_on"})) for t in tracks(
        arrange(MELODY, "band", 120, 0, 64).midi)}
    assert (9,) in channels and all(c == (9,) or 9 not in c for c in channels)


@pytest.mark.parametrize("backing", ["chords", "band"])
def test_the_melody_is_the_loudest_part(backing):
    melody, *backing_tracks = tracks(arrange(MELODY, backing, 120, 0, 64).midi)
    assert all(loudness(melody) > 1.2 * loudness(track) for track in backing_tracks)


def test_chords_sound_the_fitted_chords_under_the_melody_and_the_bass_their_roots():
    arrangement = arrange(MELODY, "chords", 120, 0, 64)
    assert [c.name for c in arrangement.chords] == ["C", "C", "F", "F", "G", "G", "C", "C"]
    music = read_midi(arrangement.midi)
    step = 60 / 120 / 4
    chord_part, bass = music.instruments[1], music.instruments[2]
    for chord in arrangement.chords:
        sounding = [n for n in chord_part.notes if round(n.start / step) == chord.start_step]
        if sounding:
            assert {n.pitch % 12 for n in sounding} == set(chord.pitch_classes)
            assert max(n.pitch for n in sounding) < min(n.pitch for n in MELODY)
    firsts = {round(n.start / step): n.pitch for n in bass.notes}
    assert firsts[0] % 12 == 0 and firsts[16] % 12 == 5 and firsts[32] % 12 == 7 and firsts[48] % 12 == 0
    assert all(36 - 5 <= pitch <= 47 + 5 for pitch in firsts.values())


def test_given_chords_are_used_as_they_are():
    chords = fit_chords(MELODY, Key(9, "minor"), 64, 16)
    assert arrange(MELODY, "band", 120, 0, 64, chords=chords).chords == chords


def test_every_backing_is_known_and_an_unknown_one_is_refused():
    assert BACKINGS == ("none", "chords", "band")
    with pytest.raises(ValueError, match="backing must be one of none, chords, band"):
        arrange(MELODY, "orchestra", 120, 0, 64)


def test_a_tune_ends_on_a_held_chord_and_a_two_bar_clip_keeps_its_groove():
    step = 60 / 120 / 4
    tune = read_midi(arrange(MELODY, "band", 120, 0, 64).midi)
    clip = read_midi(arrange(MELODY[:8], "band", 120, 0, 32).midi)
    last_bar = [n for n in tune.instruments[1].notes if n.start >= 48 * step - 1e-6]
    assert {round(n.start / step) for n in last_bar} == {48} and {round(n.end / step) for n in last_bar} == {64}
    assert {round(n.start / step) for n in tune.instruments[3].notes if n.start >= 48 * step - 1e-6} == {48}
    clip_drums = {round(n.start / step) for n in clip.instruments[3].notes}
    assert {16, 20, 24, 28} <= clip_drums  # the second bar's beats still play
