"""Harmony for a melody: its key (Krumhansl-Schmuckler) and chords fitted by dynamic programming.

Pure: notes in, a `Key` and `Chord`s out (numpy only, no TensorFlow).

The key is the major or minor key whose Krumhansl-Kessler profile correlates best with how long
each pitch class sounds; the first and the last note count extra, because melodies tend to open
and close on the tonic's chord.

Chords: one per span of `steps_per_chord` steps (8 = half a bar), chosen among the key's diatonic
triads, a few sevenths and two secondary dominants. A Viterbi search minimises, over the whole
melody, the sum of
- fit: the melody's notes that are not chord tones, weighted by how long they sound and by the
  metre (a note on beat 1 or 3, the strong beats, weighs most: it is what the ear hears against
  the chord);
- colour: a small cost per chord (I, IV and V cost least; sevenths and secondary dominants more);
- motion: root motion (down a fifth is cheapest), changes in the middle of a bar, a dominant
  moving back to the subdominant, secondary dominants that do not resolve, and voice leading (how
  far the chord's tones are from the previous chord's);
- cadence: a piece longer than one phrase ends on the tonic, with a dominant before its last
  bar; phrase ends (every two bars, a lone phrase's end too) prefer the tonic or the dominant.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from domain.model import Note

log = logging.getLogger(__name__)

STEPS_PER_BEAT = 4
STEPS_PER_BAR = 16
STRONG_BEAT_STEPS = 8  # beats 1 and 3 of a 4/4 bar: steps 0 and 8 of each bar
PHRASE_STEPS = 32  # the model's phrases are 2 bars

SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
# Tonics whose key signature has flats (major; a minor key uses its relative major's).
FLAT_MAJOR_TONICS = {5, 10, 3, 8, 1, 6}

# Krumhansl-Kessler key profiles, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
EDGE_NOTE_WEIGHT = 2.0  # extra sixteenths credited to the first and the last note's pitch class

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
HARMONIC_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 11)

QUALITY_INTERVALS = {
    "": (0, 4, 7), "m": (0, 3, 7), "dim": (0, 3, 6), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "m7": (0, 3, 7, 10),
}

# (semitones above the tonic, quality, roman numeral, colour cost) of each key's chords.
MAJOR_CHORDS = (
    (0, "", "I", 0.0), (2, "m", "ii", 0.2), (4, "m", "iii", 0.4), (5, "", "IV", 0.1), (7, "", "V", 0.1),
    (9, "m", "vi", 0.2), (11, "dim", "vii°", 0.7), (7, "7", "V7", 0.25), (2, "m7", "ii7", 0.5),
    (5, "maj7", "IVmaj7", 0.6), (9, "m7", "vi7", 0.6), (2, "", "V/V", 0.9), (4, "", "V/vi", 0.9),
)
MINOR_CHORDS = (
    (0, "m", "i", 0.0), (2, "dim", "ii°", 0.7), (3, "", "III", 0.3), (5, "m", "iv", 0.1), (7, "", "V", 0.1),
    (7, "m", "v", 0.4), (8, "", "VI", 0.2), (10, "", "VII", 0.3), (7, "7", "V7", 0.25), (5, "m7", "iv7", 0.6),
    (8, "maj7", "VImaj7", 0.6),
)
# Where a secondary dominant must go (its target's roman numeral); elsewhere it costs UNRESOLVED.
RESOLUTIONS = {"V/V": ("V", "V7"), "V/vi": ("vi", "vi7")}

# Costs, in sixteenths of melody note that is not a chord tone.
STRONG_ONSET_WEIGHT = 6.0  # a note starting on beat 1 or 3
BEAT_ONSET_WEIGHT = 2.0  # a note starting on beat 2 or 4
OFFBEAT_ONSET_WEIGHT = 0.5
HELD_AT_START_WEIGHT = 2.0  # a note still sounding when the chord starts
DURATION_WEIGHT = 0.35  # per sixteenth sounding under the chord
MID_BAR_CHANGE = 0.3
BARLINE_REPEAT = 0.15  # the same chord again over a bar line: a slight push to move
UNRESOLVED = 2.5
RETROGRESSION = 0.6  # V to IV
VOICE_LEADING = 0.04  # per semitone of the smallest motion of each tone
FINAL_NOT_TONIC = 20.0  # as good as required
PENULTIMATE_NOT_DOMINANT = 0.4
PHRASE_END_OTHER = 0.3
OPENING_NOT_TONIC = 0.4
ROOT_MOTION = {5: 0.0, 7: 0.15, 2: 0.1, 10: 0.15, 9: 0.1, 3: 0.2, 4: 0.25, 8: 0.25, 0: 0.0, 1: 0.5, 11: 0.5, 6: 0.6}


@dataclass(frozen=True)
class Key:
    """A key: tonic pitch class 0-11 and mode "major" or "minor"."""

    tonic: int
    mode: str

    @property
    def name(self) -> str:
        return f"{note_name(self.tonic, self)} {self.mode}"

    @property
    def scale(self) -> frozenset[int]:
        """Its pitch classes; a minor key's include the leading tone of the harmonic minor."""
        steps = MAJOR_SCALE if self.mode == "major" else NATURAL_MINOR_SCALE + (11,)
        return frozenset((self.tonic + step) % 12 for step in steps)

    @property
    def uses_flats(self) -> bool:
        major_tonic = self.tonic if self.mode == "major" else (self.tonic + 3) % 12
        return major_tonic in FLAT_MAJOR_TONICS


@dataclass(frozen=True)
class Chord:
    """A chord over steps [start_step, end_step): root pitch class, quality ("", "m", "7"...), numeral."""

    root: int
    quality: str
    roman: str
    name: str
    start_step: int
    end_step: int
    pitch_classes: tuple[int, ...]

    @property
    def is_tonic(self) -> bool:
        return self.roman in ("I", "i")


def note_name(pitch_class: int, key: Key | None = None) -> str:
    """The name of a pitch class, with flats in flat keys."""
    names = FLAT_NAMES if key is not None and key.uses_flats else SHARP_NAMES
    return names[pitch_class % 12]


def estimate_key(notes: Sequence[Note]) -> Key:
    """The best-correlating major or minor key (C major for silence or a single repeated pitch)."""
    durations = np.zeros(12)
    for note in notes:
        durations[note.pitch % 12] += note.end - note.start
    if len(notes):
        ordered = sorted(notes, key=lambda n: n.start)
        durations[ordered[0].pitch % 12] += EDGE_NOTE_WEIGHT
        durations[ordered[-1].pitch % 12] += EDGE_NOTE_WEIGHT
    if np.count_nonzero(durations) < 2:
        return Key(int(np.argmax(durations)) if durations.any() else 0, "major")
    # Pearson's correlation with each of the 24 rotated profiles at once. Keys that tie (a melody as close
    # to two keys) tie exactly, not by rounding: the first in order wins, major before minor, C first.
    centred = durations - durations.mean()
    scores = np.round(_PROFILES @ centred / np.sqrt(centred @ centred), 12)
    best = int(np.argmax(scores))
    return Key(best % 12, "major" if best < 12 else "minor")


def _standardised(profile: np.ndarray) -> np.ndarray:
    """Each rotation of `profile` (tonic 0 to 11), centred and of unit length: correlating is a dot product."""
    rows = np.array([np.roll(profile, tonic) for tonic in range(12)])
    rows -= rows.mean(axis=1, keepdims=True)
    unit: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit


_PROFILES = np.vstack([_standardised(MAJOR_PROFILE), _standardised(MINOR_PROFILE)])


def key_chords(key: Key, start_step: int = 0, end_step: int = 0) -> list[Chord]:
    """The chords the fitter chooses among in `key`, placed over [start_step, end_step)."""
    table = MAJOR_CHORDS if key.mode == "major" else MINOR_CHORDS
    chords = []
    for offset, quality, roman, _ in table:
        root = (key.tonic + offset) % 12
        classes = tuple((root + interval) % 12 for interval in QUALITY_INTERVALS[quality])
        chords.append(Chord(root, quality, roman, note_name(root, key) + quality, start_step, end_step, classes))
    return chords


def in_key(chord: Chord, key: Key) -> bool:
    """Whether every tone of `chord` belongs to `key` (a minor key's leading tone counts)."""
    return set(chord.pitch_classes) <= key.scale


def fit_chords(notes: Sequence[Note], key: Key, total_steps: int, steps_per_chord: int = 8) -> list[Chord]:
    """One chord per `steps_per_chord` steps over `total_steps`, fitted to `notes` (see the module docstring)."""
    if steps_per_chord <= 0 or total_steps % steps_per_chord:
        raise ValueError(f"{total_steps} steps do not split into chords of {steps_per_chord} steps")
    spans = total_steps // steps_per_chord
    vocabulary, colour, members, tonic, dominant, motion = _key_tables(key)
    count = len(vocabulary)

    # misfit[s, c]: the weight of span s's melody that chord c leaves without a chord tone.
    weights = np.zeros((spans, 12))
    for note in notes:
        for span in range(note.start // steps_per_chord, min(-(-note.end // steps_per_chord), spans)):
            first, last = span * steps_per_chord, (span + 1) * steps_per_chord
            overlap = min(note.end, last) - max(note.start, first)
            if overlap <= 0:
                continue
            weight = DURATION_WEIGHT * overlap
            if first <= note.start < last:
                weight += _onset_weight(note.start)
            elif note.start < first:
                weight += HELD_AT_START_WEIGHT
            weights[span, note.pitch % 12] += weight
    emission = weights @ (1.0 - members.T) + colour[None, :]

    emission[0] += np.where(tonic, 0.0, OPENING_NOT_TONIC)
    if total_steps > PHRASE_STEPS:
        # A piece ends on the tonic, with the dominant before its last bar (which the final chord fills).
        emission[-1] += np.where(tonic, 0.0, FINAL_NOT_TONIC)
        before_final_bar = (total_steps - 1) // STEPS_PER_BAR * STEPS_PER_BAR // steps_per_chord - 1
        emission[before_final_bar] += np.where(dominant, 0.0, PENULTIMATE_NOT_DOMINANT)
    # Every phrase ends on the tonic or the dominant when it can; a lone phrase (a breed's clip) may
    # end on either: it is a fragment, and forcing it home would cost its strong beats.
    for span in range(spans - 1 if total_steps > PHRASE_STEPS else spans):
        if ((span + 1) * steps_per_chord) % PHRASE_STEPS == 0:
            emission[span] += np.where(tonic | dominant, 0.0, PHRASE_END_OTHER)

    cost = emission[0].copy()
    back = np.zeros((spans, count), dtype=np.int64)
    for span in range(1, spans):
        at_barline = (span * steps_per_chord) % STEPS_PER_BAR == 0
        step_cost = motion + (BARLINE_REPEAT * np.eye(count) if at_barline else MID_BAR_CHANGE * (1 - np.eye(count)))
        total = cost[:, None] + step_cost
        back[span] = np.argmin(total, axis=0)
        cost = total[back[span], np.arange(count)] + emission[span]
    path = [int(np.argmin(cost))]
    for span in range(spans - 1, 0, -1):
        path.append(int(back[span, path[-1]]))
    path.reverse()
    chords = []
    for span, index in enumerate(path):
        chord = vocabulary[index]
        chords.append(Chord(chord.root, chord.quality, chord.roman, chord.name, span * steps_per_chord,
                            (span + 1) * steps_per_chord, chord.pitch_classes))
    return chords


@functools.cache
def _key_tables(key: Key) -> tuple[tuple[Chord, ...], np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What fitting chords in `key` needs of its vocabulary, worked out once per key (there are 24):
    the chords, their colour costs, chord tones (chord x pitch class), tonic and dominant masks, motion costs."""
    vocabulary = tuple(key_chords(key))
    table = MAJOR_CHORDS if key.mode == "major" else MINOR_CHORDS
    colour = np.array([row[3] for row in table])
    members = np.array([[pc in chord.pitch_classes for pc in range(12)] for chord in vocabulary], dtype=float)
    tonic = np.array([chord.is_tonic for chord in vocabulary])
    dominant = np.array([chord.roman in ("V", "V7") for chord in vocabulary])
    tables = (vocabulary, colour, members, tonic, dominant, _motion_costs(vocabulary))
    for array in tables[1:]:
        array.setflags(write=False)  # shared by every call: a caller that wrote to one would change them all
    return tables


def merge_repeats(chords: Sequence[Chord]) -> list[Chord]:
    """Neighbouring spans of the same chord joined into one (within a bar or across bar lines)."""
    merged: list[Chord] = []
    for chord in chords:
        if merged and merged[-1].name == chord.name and merged[-1].end_step == chord.start_step:
            last = merged.pop()
            chord = Chord(last.root, last.quality, last.roman, last.name, last.start_step, chord.end_step,
                          last.pitch_classes)
        merged.append(chord)
    return merged


def strong_beat_fit(notes: Sequence[Note], chords: Sequence[Chord]) -> tuple[int, int]:
    """(melody notes starting on beat 1 or 3 that are tones of the chord sounding then, all such notes)."""
    hits = total = 0
    for note in notes:
        if note.start % STRONG_BEAT_STEPS:
            continue
        chord = next((c for c in chords if c.start_step <= note.start < c.end_step), None)
        if chord is None:
            continue
        total += 1
        hits += note.pitch % 12 in chord.pitch_classes
    return hits, total


def _onset_weight(step: int) -> float:
    if step % STRONG_BEAT_STEPS == 0:
        return STRONG_ONSET_WEIGHT
    if step % STEPS_PER_BEAT == 0:
        return BEAT_ONSET_WEIGHT
    return OFFBEAT_ONSET_WEIGHT


def _motion_costs(vocabulary: Sequence[Chord]) -> np.ndarray:
    """cost[a, b] of moving from chord a to chord b, bar-line and mid-bar costs aside."""
    count = len(vocabulary)
    cost = np.zeros((count, count))
    for a, first in enumerate(vocabulary):
        for b, second in enumerate(vocabulary):
            if a == b:
                continue
            cost[a, b] = ROOT_MOTION[(second.root - first.root) % 12] + VOICE_LEADING * _voice_motion(first, second)
            if first.roman in ("V", "V7") and second.roman in ("IV", "IVmaj7", "iv", "iv7"):
                cost[a, b] += RETROGRESSION
            if first.roman in RESOLUTIONS and second.roman not in RESOLUTIONS[first.roman]:
                cost[a, b] += UNRESOLVED
    for a, first in enumerate(vocabulary):
        if first.roman in RESOLUTIONS:
            cost[a, a] += UNRESOLVED  # staying on it postpones the resolution
    return cost


def _voice_motion(first: Chord, second: Chord) -> int:
    """Semitones each tone of `second` lies from the nearest tone of `first`, summed."""
    return sum(min(min((pc - other) % 12, (other - pc) % 12) for other in first.pitch_classes)
               for pc in second.pitch_classes)
