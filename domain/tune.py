"""A tune's options: its length in bars and the backing under the melody."""

from __future__ import annotations

BACKINGS = ("none", "chords", "band")
DEFAULT_BACKING = "chords"
TUNE_BARS = (8, 16)
DEFAULT_TUNE_BARS = 8
