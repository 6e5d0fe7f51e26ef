"""The terminal's text piano roll."""

from __future__ import annotations

from domain.model import Note
from terminal.roll import ONSET, SUSTAIN, terminal_roll

SCALE = [Note(60 + offset, 4 * i, 4 * i + 3) for i, offset in enumerate((0, 2, 4, 5, 7, 9, 11, 12))]


def test_terminal_roll_has_a_row_per_played_pitch_and_a_block_per_note():
    roll = terminal_roll(SCALE)
    lines = roll.splitlines()
    assert len(lines) == 8
    assert lines[0].split()[0] == "C5" and lines[-1].split()[0] == "C4"
    assert roll.count(ONSET) == 8
    assert roll.count(SUSTAIN) == sum(note.end - note.start - 1 for note in SCALE)
    assert all(len(line) == 5 + 32 for line in lines)


def test_terminal_roll_keeps_repeated_notes_apart():
    roll = terminal_roll([Note(67, 0, 2), Note(67, 2, 4), Note(62, 8, 16)])
    first, second = roll.splitlines()
    assert first.startswith("  G4 ▐█▐█")
    assert second.split()[0] == "D4"
    assert roll.count(ONSET) == 3


def test_terminal_roll_squeezes_to_the_width():
    roll = terminal_roll(SCALE, width=16)
    assert all(len(line) == 5 + 16 for line in roll.splitlines())
    assert roll.count(ONSET) == 8


def test_terminal_roll_of_silence_says_so():
    assert terminal_roll([]) == "(silence)"
