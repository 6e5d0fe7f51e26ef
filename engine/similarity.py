"""How alike two 2-bar melodies sound: a note-level similarity in [0, 1], and melodic features.

Similarity of melodies a and b (notes in sixteenth-note steps, 32 steps):

- frames (pitch and durations): the share of the steps where a or b sounds in which both
  sound the same pitch;
- notes (pitch and rhythm): the F1 score of note matching, a note of b matching a note of a
  that starts on the same step with the same pitch.

similarity = 0.5 * frames + 0.5 * notes. Transposition-aware: b may be shifted by any whole
number of semitones within an octave either way, and the best shift counts; a shifted copy
gets 0.9 of the credit, so a transposed copy of a melody scores 0.9, below the melody itself.
Identical melodies score 1, two silent ones too; a melody and silence score 0. Only exact
pitches count, so chance agreement stays low: two unrelated melodies of the corpus score about
0.17.

Features (`melodic_features`), what a voter with a taste rather than a tune listens for:
stepwise motion (the share of intervals of 1 or 2 semitones), register (the mean pitch),
syncopation (the share of onsets off the eighth-note grid), minor (the Krumhansl-Kessler minor
key profile's best correlation with the pitch-class durations minus the major one's), density
(notes per bar) and range (highest minus lowest pitch). No TensorFlow: numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from domain.model import Note

STEPS = 32
SILENT = -1
FRAME_WEIGHT = 0.5
TRANSPOSED_CREDIT = 0.9
SHIFTS = np.arange(-12, 13)
FEATURES = ("stepwise", "register", "syncopation", "minor", "density", "range")

# Krumhansl-Kessler key profiles, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def frames(notes: Sequence[Note], steps: int = STEPS) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """(the pitch sounding at each step or SILENT, whether a note starts at each step)."""
    pitches = np.full(steps, SILENT, dtype=np.int64)
    onsets = np.zeros(steps, dtype=bool)
    for note in notes:
        if 0 <= note.start < steps:
            pitches[note.start : min(note.end, steps)] = note.pitch
            onsets[note.start] = True
    return pitches, onsets


def similarity(a: Sequence[Note], b: Sequence[Note], steps: int = STEPS) -> float:
    """How alike `a` and `b` sound, in [0, 1] (see the module docstring)."""
    return float(similarities(frames(a, steps), [frames(b, steps)])[0])


def similarities(
    reference: tuple[NDArray[np.int64], NDArray[np.bool_]],
    others: Sequence[tuple[NDArray[np.int64], NDArray[np.bool_]]],
) -> NDArray[np.float64]:
    """The similarity of each of `others` (as `frames`) to `reference`, vectorised over shifts."""
    ref_pitch, ref_onset = reference
    if not others:
        return np.zeros(0)
    pitch = np.stack([p for p, _ in others])  # (n, steps)
    onset = np.stack([o for _, o in others])
    ref_sounds = ref_pitch != SILENT
    sounds = pitch != SILENT
    either = (ref_sounds[None] | sounds).sum(axis=1)  # (n,)
    onsets = onset.sum(axis=1) + ref_onset.sum()
    # same[s, i, t]: at step t, candidate i shifted by SHIFTS[s] sounds the reference's pitch
    same = (pitch[None] + SHIFTS[:, None, None] == ref_pitch[None, None]) & (ref_sounds & sounds)[None]
    frame_part = same.sum(axis=2) / np.maximum(either, 1)
    note_part = 2.0 * (same & onset[None] & ref_onset[None, None]).sum(axis=2) / np.maximum(onsets, 1)
    credit = np.where(SHIFTS == 0, 1.0, TRANSPOSED_CREDIT)[:, None]
    best = (credit * (FRAME_WEIGHT * frame_part + (1.0 - FRAME_WEIGHT) * note_part)).max(axis=0)
    return np.where(either > 0, best, 1.0)


def melodic_features(notes: Sequence[Note], steps: int = STEPS) -> NDArray[np.float64]:
    """The features of FEATURES; a silent melody gets NaN (a voter with a taste dislikes silence)."""
    if not notes:
        return np.full(len(FEATURES), np.nan)
    ordered = sorted(notes, key=lambda n: n.start)
    pitches = np.array([n.pitch for n in ordered], dtype=np.float64)
    intervals = np.abs(np.diff(pitches))
    stepwise = float(np.mean((intervals >= 1) & (intervals <= 2))) if len(intervals) else 0.0
    syncopation = float(np.mean([n.start % 2 == 1 for n in ordered]))
    durations = np.zeros(12)
    for note in ordered:
        durations[note.pitch % 12] += min(note.end, steps) - note.start
    minor = _best_key_correlation(durations, MINOR_PROFILE) - _best_key_correlation(durations, MAJOR_PROFILE)
    density = len(ordered) * 16 / steps
    return np.array([stepwise, pitches.mean(), syncopation, minor, density, pitches.max() - pitches.min()])


def _best_key_correlation(durations: NDArray[np.float64], profile: NDArray[np.float64]) -> float:
    if durations.std() == 0:
        return 0.0
    rotations = np.stack([np.roll(profile, tonic) for tonic in range(12)])
    return float(max(np.corrcoef(durations, row)[0, 1] for row in rotations))
