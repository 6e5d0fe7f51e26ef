"""Breed options: defaults, choices, and every limit from one place."""

from __future__ import annotations

import dataclasses

import pytest

from domain import limits
from domain.errors import ParamsError
from domain.model import BreedParams, choose
from domain.strategies import STRATEGIES
from domain.votes import ballot_counts, top_candidate


def test_options_not_given_keep_the_defaults() -> None:
    defaults = BreedParams(population=6, sigma=0.3)
    assert choose(defaults, population=None, sigma=None) == defaults
    assert choose(defaults, sigma=0.9, tempo=80) == dataclasses.replace(defaults, sigma=0.9, tempo=80)


@pytest.mark.parametrize("choices, message", [
    ({"population": 3, "foreign": 3}, "foreign count must be at least 0 and below the population"),
    ({"population": 11}, "population must be between 2 and 10"),
    ({"vote_minutes": 0.0001}, "vote window must be between 0.5 and 1440 minutes"),
    ({"instrument": 128}, "instrument must be a General MIDI program 0-127"),
    ({"tempo": "fast"}, "tempo must be between 40 and 240 BPM"),
    ({"strategy": "greedy"}, f"strategy must be one of {', '.join(STRATEGIES)}"),
    ({"colour": "red"}, "unknown option colour"),
    ({"bars": 12}, "bars must be 8 or 16, not 12"),
    ({"bars": True}, "bars must be 8 or 16, not True"),
    ({"backing": "orchestra"}, "backing must be one of none, chords, band, not `orchestra`"),
])
def test_options_out_of_their_limits_are_refused_with_the_reason(choices: dict, message: str) -> None:
    with pytest.raises(ParamsError) as refused:
        choose(BreedParams(), **choices)
    assert str(refused.value) == message


def test_a_limit_holds_its_ends_unless_open_and_refuses_other_types() -> None:
    assert 2 in limits.POPULATION and 10 in limits.POPULATION and 11 not in limits.POPULATION
    assert 0.0 not in limits.VOTE_MINUTES and 1440 in limits.VOTE_MINUTES
    assert True not in limits.POPULATION and "3" not in limits.POPULATION


def test_a_persons_picks_count_each_time_and_must_name_candidates() -> None:
    assert ballot_counts([0, 2, 2, 4], 6) == (1, 0, 2, 0, 1, 0)
    assert ballot_counts([], 3) == (0, 0, 0)
    with pytest.raises(ValueError, match="no candidate 9: candidates are 1 to 8"):
        ballot_counts([8], 8)


def test_the_top_candidate_is_the_lowest_of_a_tie_and_none_without_votes() -> None:
    assert top_candidate((0, 3, 3, 1)) == 1
    assert top_candidate((0, 0)) is None


def test_a_breed_makes_an_8_bar_tune_with_the_default_backing_unless_told_otherwise() -> None:
    from domain.tune import BACKINGS, DEFAULT_BACKING

    assert (BreedParams().bars, BreedParams().backing) == (8, DEFAULT_BACKING)
    for backing in BACKINGS:
        assert choose(BreedParams(), bars=16, backing=backing) == BreedParams(bars=16, backing=backing)
