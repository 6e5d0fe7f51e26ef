"""The terminal's piano roll: a melody drawn in text, one row per pitch that is played."""

from __future__ import annotations

from collections.abc import Sequence

from domain.model import STEPS_PER_BEAT, Note, pitch_name

# A note is an onset block followed by full blocks, so repeated notes stay apart.
ONSET = "▐"
SUSTAIN = "█"
BEAT = "·"
EMPTY = " "


def terminal_roll(notes: Sequence[Note], width: int = 32, steps: int = 32) -> str:
    """A compact text piano roll: one row per pitch that is played (highest first), `width` columns."""
    if not notes:
        return "(silence)"
    length = max([steps, *(note.end for note in notes)])

    def column(step: int) -> int:
        return min(step * width // length, width - 1)

    rows = []
    for pitch in sorted({note.pitch for note in notes}, reverse=True):
        cells = [EMPTY] * width
        for step in range(0, length, STEPS_PER_BEAT):
            cells[column(step)] = BEAT
        for note in notes:
            if note.pitch != pitch:
                continue
            first = column(note.start)
            last = max(column(note.end - 1), first)
            cells[first] = ONSET
            for col in range(first + 1, last + 1):
                cells[col] = SUSTAIN
        rows.append(f"{pitch_name(pitch):>4} {''.join(cells)}")
    return "\n".join(rows)
