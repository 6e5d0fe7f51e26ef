"""Votes as reactions: emoji <-> candidate, tallies from reactions, the winner by votes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.voting import (
    MAX_CANDIDATES,
    NUMBER_EMOJI,
    describe_tally,
    emoji_for,
    index_of,
    votes_from_reactions,
)
from domain.votes import top_candidate


def test_every_candidate_has_its_number_emoji_and_back() -> None:
    assert [emoji_for(i) for i in range(MAX_CANDIDATES)] == list(NUMBER_EMOJI)
    assert NUMBER_EMOJI[0] == "1️⃣" and NUMBER_EMOJI[9] == "🔟"
    assert [index_of(emoji) for emoji in NUMBER_EMOJI] == list(range(10))


def test_keycaps_count_with_or_without_the_variation_selector() -> None:
    assert index_of("3\u20e3") == index_of("3\ufe0f\u20e3") == 2


@pytest.mark.parametrize("emoji", ["👍", "0️⃣", "#️⃣", "1", "", "🔟🔟", "<:custom:123>"])
def test_other_emoji_vote_for_nobody(emoji: str) -> None:
    assert index_of(emoji) is None


@pytest.mark.parametrize("index", [-1, 10])
def test_there_is_no_emoji_beyond_ten_candidates(index: int) -> None:
    with pytest.raises(ValueError):
        emoji_for(index)


def test_a_tally_counts_people_not_bots_and_ignores_other_emoji_and_missing_candidates() -> None:
    reactions = [
        ("1️⃣", [(100, True), (1, False), (2, False)]),   # the bot itself and two people
        ("3\u20e3", [(100, True), (2, False), (99, True)]),  # another bot
        ("👍", [(1, False), (3, False)]),
        ("🔟", [(3, False)]),                              # only 4 candidates
    ]
    assert votes_from_reactions(reactions, population=4) == {0: {1, 2}, 2: {2}}


def test_a_person_listed_twice_under_one_emoji_is_one_vote() -> None:
    assert votes_from_reactions([("2️⃣", [(7, False), (7, False)])], population=2) == {1: {7}}


def test_a_reaction_only_by_bots_is_no_vote() -> None:
    assert votes_from_reactions([("1️⃣", [(100, True)])], population=2) == {}


VOTER = st.tuples(st.integers(1, 50), st.booleans())


@given(st.lists(st.tuples(st.sampled_from([*NUMBER_EMOJI, "👍"]), st.lists(VOTER, max_size=8)), max_size=12),
       st.integers(2, MAX_CANDIDATES))
def test_the_votes_are_the_people_under_each_candidates_emoji_whatever_the_reactions(
    reactions: list[tuple[str, list[tuple[int, bool]]]], population: int,
) -> None:
    votes = votes_from_reactions(reactions, population)
    cast = {(index_of(emoji), user) for emoji, voters in reactions for user, is_bot in voters if not is_bot}
    # Every counted vote was cast by a person under that candidate's emoji ...
    assert all((index, user) in cast for index, people in votes.items() for user in people)
    # ... and every person's reaction on a candidate of this generation counts, once.
    assert all(user in votes[index] for index, user in cast if index is not None and index < population)
    assert all(0 <= index < population and people for index, people in votes.items())


def test_the_top_candidate_is_the_most_voted_and_the_lowest_on_a_tie() -> None:
    assert top_candidate((0, 2, 5, 1)) == 2
    assert top_candidate((0, 3, 3, 1)) == 1
    assert top_candidate((0, 0, 0)) is None
    assert top_candidate(()) is None


def test_the_tally_line_lists_only_candidates_with_votes() -> None:
    assert describe_tally((0, 2, 0, 1)) == "2️⃣ 2 · 4️⃣ 1"
    assert describe_tally((0, 0)) == "no votes"
