"""Joining phrases: one after the other, with an optional short join between two."""

from __future__ import annotations

import pytest

from domain.model import Note
from engine.compose import join_phrases

A = [Note(60, 0, 16), Note(62, 16, 40)]  # its last note rings past the phrase: cut at 32
B = [Note(70, 4, 8)]
JOIN = [Note(65, 0, 12), Note(66, 12, 24), Note(67, 20, 30)]


def test_phrases_follow_each_other_every_32_steps() -> None:
    notes, length = join_phrases([A, B, A], [None, None], 32)
    assert length == 96
    assert notes == [Note(60, 0, 16), Note(62, 16, 32), Note(70, 36, 40), Note(60, 64, 80), Note(62, 80, 96)]


def test_a_join_is_its_first_bar_between_the_two_phrases() -> None:
    notes, length = join_phrases([A, B], [JOIN], 32)
    assert length == 32 + 16 + 32
    assert [n for n in notes if 32 <= n.start < 48] == [Note(65, 32, 44), Note(66, 44, 48)]
    assert [n for n in notes if n.start >= 48] == [Note(70, 52, 56)]


def test_bridges_must_match_the_gaps() -> None:
    with pytest.raises(ValueError, match="2 phrases need 1 bridges, not 0"):
        join_phrases([A, B], [], 32)
