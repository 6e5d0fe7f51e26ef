"""Melodies for the engine's tests."""

from __future__ import annotations

import numpy as np

from domain.model import Note


def melody(seed: int, steps: int = 32) -> list[Note]:
    """A melody of notes one to four sixteenths long, some rests, over an octave and a half."""
    rng = np.random.default_rng(seed)
    notes, step = [], 0
    while step < steps:
        length = int(rng.integers(1, 5))
        notes.append(Note(int(rng.integers(55, 80)), step, min(steps, step + length)))
        step += length + int(rng.integers(0, 2))
    return notes
