"""Joining bred 2-bar phrases into one piece: pure, notes in and notes out."""

from __future__ import annotations

from collections.abc import Sequence

from domain.model import Note

STEPS_PER_BAR = 16


def clip(notes: Sequence[Note], length: int) -> list[Note]:
    """The notes that start within `length` steps, cut off at `length`."""
    return [Note(n.pitch, n.start, min(n.end, length)) for n in notes if n.start < length]


def join_phrases(
    phrases: Sequence[Sequence[Note]], bridges: Sequence[Sequence[Note] | None], steps: int,
    bridge_steps: int = STEPS_PER_BAR,
) -> tuple[list[Note], int]:
    """The phrases one after the other (each `steps` long), with `bridges[i]` (its first `bridge_steps`)
    between phrase i and i + 1 where it is not None. Returns the notes and the piece's length in steps."""
    if len(bridges) != max(len(phrases) - 1, 0):
        raise ValueError(f"{len(phrases)} phrases need {max(len(phrases) - 1, 0)} bridges, not {len(bridges)}")
    joined: list[Note] = []
    offset = 0
    for position, phrase in enumerate(phrases):
        joined.extend(Note(n.pitch, n.start + offset, n.end + offset) for n in clip(phrase, steps))
        offset += steps
        bridge = bridges[position] if position < len(bridges) else None
        if bridge is not None:
            joined.extend(Note(n.pitch, n.start + offset, n.end + offset) for n in clip(bridge, bridge_steps))
            offset += bridge_steps
    return joined, offset
