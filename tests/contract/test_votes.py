"""Votes (one per user per candidate, removable, replaceable) and the posted markers (both stores)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.stores import AnyStore


async def test_a_user_votes_once_per_candidate(store: AnyStore) -> None:
    assert await store.votes.add("b1", 0, 2, 100) is True
    assert await store.votes.add("b1", 0, 2, 100) is False
    assert await store.votes.tally("b1", 0, 4) == [0, 0, 1, 0]


async def test_a_user_may_vote_for_several_candidates_and_several_users_add_up(store: AnyStore) -> None:
    await store.votes.add("b1", 0, 0, 100)
    await store.votes.add("b1", 0, 3, 100)
    await store.votes.add("b1", 0, 3, 101)
    await store.votes.add("b1", 0, 3, 102)
    assert await store.votes.tally("b1", 0, 4) == [1, 0, 0, 3]


async def test_removing_a_vote_takes_only_that_users_vote_back(store: AnyStore) -> None:
    await store.votes.add("b1", 0, 1, 100)
    await store.votes.add("b1", 0, 1, 101)
    assert await store.votes.remove("b1", 0, 1, 100) is True
    assert await store.votes.remove("b1", 0, 1, 100) is False
    assert await store.votes.remove("b1", 0, 2, 101) is False
    assert await store.votes.tally("b1", 0, 4) == [0, 1, 0, 0]


async def test_votes_are_kept_per_breed_and_generation(store: AnyStore) -> None:
    await store.votes.add("b1", 0, 0, 100)
    await store.votes.add("b1", 1, 1, 100)
    await store.votes.add("b2", 0, 2, 100)
    assert await store.votes.tally("b1", 0, 3) == [1, 0, 0]
    assert await store.votes.tally("b1", 1, 3) == [0, 1, 0]
    assert await store.votes.tally("b2", 0, 3) == [0, 0, 1]


async def test_tally_has_one_count_per_candidate_and_ignores_indexes_outside(store: AnyStore) -> None:
    assert await store.votes.tally("b1", 0, 5) == [0, 0, 0, 0, 0]
    await store.votes.add("b1", 0, 7, 100)
    assert await store.votes.tally("b1", 0, 5) == [0, 0, 0, 0, 0]


async def test_negative_candidate_index_is_refused(store: AnyStore) -> None:
    with pytest.raises(ValueError):
        await store.votes.add("b1", 0, -1, 100)


async def test_replace_votes_replaces_the_whole_tally(store: AnyStore) -> None:
    await store.votes.add("b1", 0, 0, 100)
    await store.votes.add("b1", 0, 1, 101)
    await store.votes.replace("b1", 0, {1: {200, 201}, 2: {200}, 3: set()})
    assert await store.votes.tally("b1", 0, 4) == [0, 2, 1, 0]
    assert await store.votes.add("b1", 0, 1, 200) is False
    assert await store.votes.add("b1", 0, 0, 100) is True

    await store.votes.replace("b1", 0, {})
    assert await store.votes.tally("b1", 0, 4) == [0, 0, 0, 0]


async def test_concurrent_votes_of_many_users_all_count(store: AnyStore) -> None:
    await asyncio.gather(*(store.votes.add("b1", 0, user % 3, user) for user in range(60)))
    assert await store.votes.tally("b1", 0, 3) == [20, 20, 20]


async def test_mark_posted_is_true_only_the_first_time_per_kind(store: AnyStore) -> None:
    assert await store.posts.mark_posted("b1", 0) is True
    assert await store.posts.mark_posted("b1", 0) is False
    assert await store.posts.mark_posted("b1", 0, kind="winner") is True
    assert await store.posts.mark_posted("b1", 1) is True
    assert await store.posts.mark_posted("b2", 0) is True


async def test_concurrent_mark_posted_lets_exactly_one_through(store: AnyStore) -> None:
    results = await asyncio.gather(*(store.posts.mark_posted("b1", 3) for _ in range(10)))
    assert results.count(True) == 1


async def test_unmark_posted_allows_posting_again(store: AnyStore) -> None:
    await store.posts.mark_posted("b1", 0)
    await store.posts.unmark_posted("b1", 0)
    assert await store.posts.mark_posted("b1", 0) is True


async def test_is_posted_tells_whether_a_kind_is_marked_without_marking_it(store: AnyStore) -> None:
    assert await store.posts.is_posted("b1", 0, "morph-1-3") is False
    assert await store.posts.mark_posted("b1", 0, "morph-1-3") is True
    assert await store.posts.is_posted("b1", 0, "morph-1-3") is True
    assert await store.posts.is_posted("b1", 0, "morph-3-1") is False
    await store.posts.unmark_posted("b1", 0, "morph-1-3")
    assert await store.posts.is_posted("b1", 0, "morph-1-3") is False
