"""Melody ids: formatting, parsing, one-line refusals, and stored parents of either kind."""

from __future__ import annotations

import pytest

from domain.errors import BreedError
from domain.ids import MelodyRef, melody_id, parse_melody_id, parse_melody_ids, resolve_parent
from domain.model import candidate_id


def test_an_id_counts_generations_and_candidates_from_1_and_parses_back() -> None:
    assert melody_id("ab12cd34", 2, 4) == "ab12cd34-g3-5"
    assert parse_melody_id("ab12cd34-g3-5") == MelodyRef("ab12cd34", 2, 4)
    assert str(MelodyRef("ab12cd34", 2, 4)) == "ab12cd34-g3-5"


def test_ids_are_read_as_people_paste_them() -> None:
    assert parse_melody_id("  `AB12CD34-G3-5` ") == MelodyRef("ab12cd34", 2, 4)
    assert parse_melody_ids("a-g1-1, a-g1-1 b-g2-3  a-g1-1") == [
        MelodyRef("a", 0, 0), MelodyRef("a", 0, 0), MelodyRef("b", 1, 2), MelodyRef("a", 0, 0)]


@pytest.mark.parametrize("text", ["", "ab12cd34", "ab12cd34-g0-1", "ab12cd34-g1-0", "ab12cd34-g1-100",
                                  "ab_cd-g1-1", "ab12cd34-g1-1 extra", "x" * 200])
def test_anything_else_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(BreedError) as refused:
        parse_melody_id(text)
    message = str(refused.value)
    assert message.endswith("is not a melody id: ids look like `ab12cd34-g3-5`.") and "\n" not in message
    assert len(message) < 140


def test_a_stored_parent_is_of_the_same_breed_or_a_melody_id_of_another() -> None:
    assert resolve_parent("b1", candidate_id(2, 0)) == MelodyRef("b1", 2, 0)
    assert resolve_parent("b2", "b1-g3-1") == MelodyRef("b1", 2, 0)
