"""The state rules: which action is possible in which status, and who may steer."""

from __future__ import annotations

import pytest

from domain.model import Breed, BreedParams
from domain.rules import Actor, may_steer, refusal

# --- which action is possible when ------------------------------------------------------------

CASES = [
    ("voting", None, "close", None),
    ("voting", None, "finish", None),
    ("starting", None, "close", "Generation 1 is still being made; vote once it is posted."),
    ("evolving", None, "close", "Voting is closed already; the next generation is on its way."),
    ("evolving", 2, "finish", "The winner is being rendered already."),
    ("finished", 2, "close", "This breed is finished."),
    ("stopped", None, "finish", "This breed was stopped."),
    ("evolving", None, "stop", None),
    ("starting", None, "sigma", None),
    ("finished", 1, "stop", "This breed is finished."),
    ("failed", None, "sigma", "This breed failed; start a new one with /breed start."),
    ("starting", None, "post", None),
    ("evolving", None, "post", None),
    ("evolving", 1, "post", "no step in progress"),
    ("voting", None, "post", "no step in progress"),
    ("evolving", 1, "winner", None),
    ("evolving", None, "winner", "no finish in progress"),
    ("voting", None, "morph", None),
    ("starting", None, "morph", "Generation 1 is still being made; morph between its candidates once it is posted."),
    ("evolving", None, "morph", "The next generation is on its way; morph between its candidates once it is posted."),
    ("evolving", 2, "morph", "The winner is being rendered; morphs are made while a generation is up for votes."),
    ("voting", None, "vote", None),
    ("evolving", 2, "vote", "The winner is being rendered; voting is over."),
    ("starting", None, "vote", "Generation 1 is still being made; vote once it is posted."),
    ("finished", 2, "morph", "This breed is finished."),
    ("stopped", None, "morph", "This breed was stopped."),
]


@pytest.mark.parametrize("status, winner, action, expected", CASES)
def test_each_action_is_allowed_only_in_its_states(
    status: str, winner: int | None, action: str, expected: str | None
) -> None:
    breed = Breed("b1", 1, BreedParams(), status=status, winner=winner, front="discord")
    assert refusal(breed, action) == expected


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        refusal(Breed("b1", 1, BreedParams(), front="discord"), "dance")


def test_the_starter_and_message_managers_may_steer_a_breed_and_nobody_else() -> None:
    assert may_steer(1, Actor(1))
    assert may_steer(1, Actor(2, manage_messages=True))
    assert not may_steer(1, Actor(2))
