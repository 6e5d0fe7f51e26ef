"""Melody ids: every candidate of every generation, across breeds, as people type them.

A breed stores its candidates as `g{generation}-{index + 1}` (0-based generation, see
`domain.model.candidate_id`); people see `{breed_id}-g{generation + 1}-{index + 1}`, e.g.
`ab12cd34-g3-5`: candidate 5 of generation 3 of breed ab12cd34. A candidate's parents are stored
ids of its own breed, or the melody id of another breed's candidate it was branched from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.errors import BreedError

# Breed ids (and the ids of tunes and pieces) are lower-case letters and digits, this long at most.
BREED_ID_LENGTH = 32
_BREED_ID = rf"[a-z0-9]{{1,{BREED_ID_LENGTH}}}"
BREED_ID = re.compile(_BREED_ID)
_MELODY_ID = re.compile(f"(?P<breed>{_BREED_ID})" + r"-g(?P<generation>[1-9][0-9]{0,5})-(?P<candidate>[1-9][0-9]?)")
_STORED_ID = re.compile(r"g(?P<generation>[0-9]{1,6})-(?P<candidate>[1-9][0-9]?)")
EXAMPLE = "ab12cd34-g3-5"


@dataclass(frozen=True, order=True)
class MelodyRef:
    """One candidate of one breed: `generation` and `index` are 0-based."""

    breed_id: str
    generation: int
    index: int

    def __str__(self) -> str:
        return melody_id(self.breed_id, self.generation, self.index)


def melody_id(breed_id: str, generation: int, index: int) -> str:
    """The id people see of candidate `index` (0-based) of `generation` (0-based)."""
    return f"{breed_id}-g{generation + 1}-{index + 1}"


def parse_melody_id(text: str) -> MelodyRef:
    """The candidate a typed id names; BreedError (one line) when it is not an id."""
    cleaned = text.strip().strip("`").lower()
    match = _MELODY_ID.fullmatch(cleaned)
    if match is None:
        shown = " ".join(text.split())[:60] or "(nothing)"
        raise BreedError(f"`{shown}` is not a melody id: ids look like `{EXAMPLE}`.")
    return MelodyRef(match["breed"], int(match["generation"]) - 1, int(match["candidate"]) - 1)


def parse_melody_ids(text: str) -> list[MelodyRef]:
    """Ids separated by spaces or commas, in order (repeats kept: A A B A)."""
    return [parse_melody_id(word) for word in text.replace(",", " ").split()]


def resolve_parent(breed_id: str, parent: str) -> MelodyRef:
    """The candidate a stored parent id names: of the same breed (`g2-3`), or of another one (a melody id)."""
    stored = _STORED_ID.fullmatch(parent)
    if stored is not None:
        return MelodyRef(breed_id, int(stored["generation"]), int(stored["candidate"]) - 1)
    return parse_melody_id(parent)
