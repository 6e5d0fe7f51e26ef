"""The instruments people choose from (General MIDI programs), as every front end names them."""

from __future__ import annotations

INSTRUMENTS: tuple[tuple[str, int], ...] = (
    ("Piano", 0),
    ("Electric piano", 4),
    ("Vibraphone", 11),
    ("Marimba", 12),
    ("Organ", 19),
    ("Nylon guitar", 24),
    ("Violin", 40),
    ("Strings", 48),
    ("Trumpet", 56),
    ("Alto sax", 65),
    ("Clarinet", 71),
    ("Flute", 73),
    ("Synth lead", 80),
)
_INSTRUMENT_NAMES = {program: name for name, program in INSTRUMENTS}


def instrument_name(program: int) -> str:
    return _INSTRUMENT_NAMES.get(program, f"GM program {program}")
