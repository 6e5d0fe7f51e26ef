"""A tune's options: its length in bars and the backing under the melody."""

from __future__ import annotations

from enum import StrEnum


class Backing(StrEnum):
    """What plays under a melody: nothing, chords, or a band (chords, bass and drums)."""

    NONE = "none"
    CHORDS = "chords"
    BAND = "band"


BACKINGS: tuple[str, ...] = tuple(Backing)
DEFAULT_BACKING = Backing.CHORDS
TUNE_BARS = (8, 16)
DEFAULT_TUNE_BARS = 8
