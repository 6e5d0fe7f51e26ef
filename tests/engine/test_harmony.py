"""The harmonizer: key finding and chord fitting on hand-made melodies."""

from __future__ import annotations

import pytest

from domain.model import Note
from engine.harmony import Chord, Key, estimate_key, fit_chords, in_key, key_chords, merge_repeats, strong_beat_fit

C_MAJOR = Key(0, "major")
A_MINOR = Key(9, "minor")


def run_of(pitches: list[int], length: int = 4, start: int = 0) -> list[Note]:
    return [Note(p, start + i * length, start + (i + 1) * length) for i, p in enumerate(pitches)]


C_SCALE = run_of([60, 62, 64, 65, 67, 69, 71, 72], length=8)  # 4 bars, two notes a bar
# A natural minor with its raised leading tone before the close, opening and ending on A.
A_MINOR_TUNE = run_of([69, 72, 76, 72, 74, 71, 68, 71, 69, 72, 76, 74, 71, 68, 69, 69])


def test_a_c_major_scale_is_in_c_major_and_gets_chords_of_c_majors_family():
    assert estimate_key(C_SCALE) == C_MAJOR
    chords = fit_chords(C_SCALE, C_MAJOR, 64)
    family = {chord.name for chord in key_chords(C_MAJOR) if in_key(chord, C_MAJOR)}
    assert {chord.name for chord in chords} <= family
    assert all(set(chord.pitch_classes) <= {0, 2, 4, 5, 7, 9, 11} for chord in chords)


def test_a_melody_in_a_minor_is_found_in_a_minor_and_gets_a_minors_chords():
    key = estimate_key(A_MINOR_TUNE)
    assert key == A_MINOR and key.name == "A minor"
    chords = fit_chords(A_MINOR_TUNE, key, 64)
    a_minor = {9, 11, 0, 2, 4, 5, 7, 8}  # natural minor and its leading tone G#
    assert all(set(chord.pitch_classes) <= a_minor for chord in chords)
    assert chords[0].name == "Am" and chords[-1].name == "Am"


@pytest.mark.parametrize(("key", "melody"), [
    (C_MAJOR, run_of([67, 64, 65, 62, 71, 74, 72, 72], length=8)),
    (Key(7, "major"), run_of([67, 71, 74, 72, 69, 66, 69, 67], length=8)),
    (A_MINOR, A_MINOR_TUNE),
])
def test_a_melody_that_ends_on_the_tonic_ends_on_the_tonic_chord(key: Key, melody: list[Note]):
    assert melody[-1].pitch % 12 == key.tonic
    chords = fit_chords(melody, key, max(n.end for n in melody))
    assert chords[-1].is_tonic and chords[-1].root == key.tonic


@pytest.mark.parametrize(("key", "ends_on_tonic", "melody"), [
    (C_MAJOR, True, run_of([64, 62, 65, 67, 71, 74, 72, 72])),
    (Key(7, "major"), True, run_of([71, 69, 72, 74, 66, 69, 67, 67])),
    (A_MINOR, True, run_of([69, 72, 76, 74, 71, 68, 69, 69])),
    (C_MAJOR, False, run_of([64, 62, 65, 67, 72, 74, 71, 74])),  # ends on the fifth: on the dominant
    (Key(7, "major"), False, run_of([71, 69, 72, 74, 67, 69, 66, 69])),
])
def test_a_2_bar_phrase_ends_on_the_tonic_chord_when_its_melody_ends_on_the_tonic(key, ends_on_tonic, melody):
    # A breed's 2-bar clip is a fragment: its last chord is not forced, the melody decides it.
    chords = fit_chords(melody, key, 32)
    assert chords[-1].is_tonic == ends_on_tonic
    if not ends_on_tonic:
        assert chords[-1].root == (key.tonic + 7) % 12


def test_a_cadence_puts_the_dominant_before_the_final_tonic():
    melody = [*run_of([64, 67, 72, 67, 65, 69, 72, 69, 67, 71, 74, 71]), Note(72, 48, 64)]  # C F G | C
    chords = merge_repeats(fit_chords(melody, C_MAJOR, 64))
    assert chords[-2].roman in ("V", "V7") and chords[-1].roman == "I"
    assert (chords[-1].start_step, chords[-1].end_step) == (48, 64)


def test_strong_beat_notes_are_chord_tones_of_a_melody_built_from_chords():
    arpeggios = run_of([60, 64, 67, 64, 65, 69, 72, 69, 67, 71, 74, 71, 60, 64, 67, 72])  # C F G C, a beat each
    chords = fit_chords(arpeggios, C_MAJOR, 64)
    hits, total = strong_beat_fit(arpeggios, chords)
    assert total == 8 and hits == 8
    assert [c.name for c in merge_repeats(chords)] == ["C", "F", "G", "C"]


def test_chords_cover_the_steps_in_equal_spans_and_refuse_a_ragged_split():
    chords = fit_chords(C_SCALE, C_MAJOR, 64, steps_per_chord=16)
    assert [(c.start_step, c.end_step) for c in chords] == [(0, 16), (16, 32), (32, 48), (48, 64)]
    with pytest.raises(ValueError, match="do not split"):
        fit_chords(C_SCALE, C_MAJOR, 60, steps_per_chord=8)


def test_silence_gets_the_tonic_and_a_key_without_evidence_is_c_major():
    assert estimate_key([]) == C_MAJOR
    assert estimate_key(run_of([62, 62, 62])) == Key(2, "major")
    assert all(chord.is_tonic for chord in fit_chords([], C_MAJOR, 32))


def test_flat_keys_name_their_chords_with_flats():
    f_major = Key(5, "major")
    assert f_major.name == "F major"
    assert "Bb" in {chord.name for chord in key_chords(f_major)}
    assert Key(3, "minor").name == "Eb minor"


def test_secondary_dominants_are_outside_the_key_and_count_so():
    chords = {chord.roman: chord for chord in key_chords(C_MAJOR)}
    assert not in_key(chords["V/V"], C_MAJOR) and in_key(chords["V7"], C_MAJOR)
    assert in_key(next(c for c in key_chords(A_MINOR) if c.roman == "V"), A_MINOR)


def test_merge_joins_neighbouring_spans_of_one_chord():
    c = Chord(0, "", "I", "C", 0, 8, (0, 4, 7))
    g = Chord(7, "", "V", "G", 16, 24, (7, 11, 2))
    merged = merge_repeats([c, Chord(0, "", "I", "C", 8, 16, (0, 4, 7)), g])
    assert [(m.name, m.start_step, m.end_step) for m in merged] == [("C", 0, 16), ("G", 16, 24)]


def test_a_lone_two_bar_phrase_may_end_on_the_dominant_but_a_piece_ends_home():
    phrase = run_of([60, 64, 67, 64, 62, 65, 71, 67])  # C E G E | D F B G: a half cadence
    assert fit_chords(phrase, C_MAJOR, 32)[-1].roman in ("V", "V7")
    piece = [*phrase, *run_of([64, 67, 72, 67, 65, 69, 71, 67], start=32)]  # then ending on G, not C
    assert fit_chords(piece, C_MAJOR, 64)[-1].roman == "I"
