"""Attribute vectors of the shipped model: latent directions that carry a musical attribute.

After Roberts et al. (2018, MusicVAE, section 5.3): the vector of an attribute is the mean latent
code of the training windows in its top quartile minus that of its bottom quartile. They are
computed offline by `breeder attributes` (training/attributes.py) and shipped beside the
model as `attributes.npz`; this module measures attributes and loads the vectors, with numpy only.

The unit of an amount: each stored vector is scaled so that moving a melody's latent by 1 x the
vector changes its attribute by about one standard deviation of that attribute across decoded
melodies (calibrated on decoded prior samples when the vectors are computed). Amounts run from
-2 to +2 (domain.nudges); `breeder bench attributes` measures what they actually do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from domain.model import Note
from domain.nudges import ATTRIBUTES

log = logging.getLogger(__name__)

SHIPPED_ATTRIBUTES = Path(__file__).resolve().parent / "model" / "cat-mel_2bar_small" / "attributes.npz"
BARS = 2  # the model's melodies are 2 bars long
STEPS_PER_BEAT = 4


def measure(notes: Sequence[Note]) -> NDArray[np.float64]:
    """The attributes (len(ATTRIBUTES),) of a 2-bar melody, in ATTRIBUTES order; NaN where undefined.

    density: notes per bar; register: mean MIDI pitch; leaps: mean absolute interval between
    successive notes (semitones); syncopation: the share of notes that start off the beat and are
    held across the next beat; range: highest minus lowest pitch (semitones).
    """
    ordered = sorted(notes, key=lambda note: (note.start, note.pitch))
    count = len(ordered)
    values = {name: np.nan for name in ATTRIBUTES}
    values["density"] = count / BARS
    if count:
        pitches = np.array([note.pitch for note in ordered], dtype=np.float64)
        values["register"] = float(pitches.mean())
        values["range"] = float(pitches.max() - pitches.min())
        values["syncopation"] = sum(_syncopated(note) for note in ordered) / count
    if count > 1:
        values["leaps"] = float(np.abs(np.diff([note.pitch for note in ordered])).mean())
    return np.array([values[name] for name in ATTRIBUTES], dtype=np.float64)


def _syncopated(note: Note) -> bool:
    """Whether a note starts between beats and sounds on across the next beat."""
    if note.start % STEPS_PER_BEAT == 0:
        return False
    next_beat = note.start - note.start % STEPS_PER_BEAT + STEPS_PER_BEAT
    return note.end > next_beat


def measure_all(melodies: Sequence[Sequence[Note]]) -> NDArray[np.float64]:
    """The attributes (n, len(ATTRIBUTES)) of many melodies."""
    return np.array([measure(notes) for notes in melodies], dtype=np.float64).reshape(len(melodies), len(ATTRIBUTES))


@dataclass(frozen=True)
class AttributeVectors:
    """The shipped vectors: names (a,), vectors (a, z) in units of amount, and each attribute's
    standard deviation (a,) across decoded melodies (what one unit of amount moves it by)."""

    names: tuple[str, ...]
    vectors: NDArray[np.float64]
    sds: NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.names) or self.sds.shape != (len(self.names),):
            raise ValueError(f"attribute vectors need names (a,), vectors (a, z) and sds (a,); got {len(self.names)}, "
                             f"{self.vectors.shape}, {self.sds.shape}")

    @property
    def latent_size(self) -> int:
        return int(self.vectors.shape[1])

    def vector(self, name: str) -> NDArray[np.float64]:
        """The vector of one attribute (z,); KeyError for a name it does not have."""
        if name not in self.names:
            raise KeyError(f"no attribute vector {name!r}; known: {', '.join(self.names)}")
        vector: NDArray[np.float64] = self.vectors[self.names.index(name)]
        return vector

    def shift(self, nudges: Mapping[str, float]) -> NDArray[np.float64] | None:
        """The latent shift (z,) of combined nudges (attribute -> amount); None when there are none."""
        moving = {name: amount for name, amount in nudges.items() if amount}
        if not moving:
            return None
        return sum((amount * self.vector(name) for name, amount in moving.items()), np.zeros(self.latent_size))


def save(vectors: AttributeVectors, path: Path = SHIPPED_ATTRIBUTES, **extra: NDArray[np.floating]) -> Path:
    """Write `vectors` (and any `extra` figures, for people reading the file) to `path`."""
    arrays: dict[str, NDArray[np.generic]] = {"names": np.array(vectors.names), "vectors": vectors.vectors,
                                              "sds": vectors.sds, **extra}
    save_arrays: Callable[..., None] = np.savez  # its keyword arguments are the arrays' names
    save_arrays(path, **arrays)
    return path


def load(path: Path = SHIPPED_ATTRIBUTES) -> AttributeVectors:
    """The attribute vectors stored at `path` (default: the shipped model's)."""
    with np.load(path) as stored:
        return AttributeVectors(tuple(str(name) for name in stored["names"]), stored["vectors"].astype(np.float64),
                                stored["sds"].astype(np.float64))
