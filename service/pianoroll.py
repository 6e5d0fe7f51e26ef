"""Piano rolls for front ends that draw in text (the terminal), from the engine's renderer."""

from __future__ import annotations

from collections.abc import Sequence

from domain.model import Note
from engine import pianoroll


def terminal_roll(notes: Sequence[Note]) -> str:
    """A compact text piano roll of a melody: pitch rows, one column per step."""
    return pianoroll.terminal_roll(notes)
