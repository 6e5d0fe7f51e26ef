"""Nudges, post parts and the expiry of a breed that ended, with what hangs off it (both stores)."""

from __future__ import annotations

import numpy as np

from storage.codec import Nudge
from tests.storage.factories import make_breed, make_generation
from tests.support.stores import Advance, AnyStore, StoreWith


async def test_nudges_are_kept_per_generation_in_the_order_they_came(store: AnyStore) -> None:
    assert await store.nudges.read("b1", 0) == []
    assert await store.nudges.add("b1", 0, Nudge(7, "notes", -1.0)) == 1
    assert await store.nudges.add("b1", 0, Nudge(8, "range", 2.0)) == 2
    assert await store.nudges.add("b1", 0, Nudge(7, "notes", 1.5)) == 3
    assert await store.nudges.add("b1", 1, Nudge(7, "notes", 1.0)) == 1
    assert await store.nudges.read("b1", 0) == [Nudge(7, "notes", -1.0), Nudge(8, "range", 2.0),
                                                Nudge(7, "notes", 1.5)]
    assert await store.nudges.read("b2", 0) == []


async def test_the_parts_of_a_post_are_kept_per_kind_and_the_posted_kinds_read_together(store: AnyStore) -> None:
    assert await store.posts.post_part("b1", 0, "generation", "clips") is None
    await store.posts.record_post_part("b1", 0, "generation", "clips", "111")
    await store.posts.record_post_part("b1", 0, "generation", "roll", "112")
    await store.posts.record_post_part("b1", 0, "generation", "clips", "113")
    assert await store.posts.post_part("b1", 0, "generation", "clips") == "113"
    assert await store.posts.post_part("b1", 0, "generation", "roll") == "112"
    assert await store.posts.post_part("b1", 0, "winner", "clips") is None
    assert await store.posts.post_part("b1", 1, "generation", "clips") is None

    await store.posts.mark_posted("b1", 0, "morph-0-1")
    await store.posts.mark_posted("b1", 0, "tree-2")
    assert await store.posts.posted_kinds("b1", 0, ["morph-0-1", "morph-1-0", "tree-2"]) == {"morph-0-1", "tree-2"}
    assert await store.posts.posted_kinds("b1", 0, []) == set()


async def test_markers_and_message_links_go_after_the_retention(store_with: StoreWith, advance: Advance) -> None:
    store = store_with(retention_s=0.1)
    await store.posts.mark_posted("b1", 0)
    await store.posts.record_post_part("b1", 0, "generation", "clips", "111")
    await store.breeds.link_message(555, "b1", 0)
    await advance(0.3)
    assert not await store.posts.is_posted("b1", 0)
    assert await store.posts.post_part("b1", 0, "generation", "clips") is None
    assert await store.breeds.message_target(555) is None


async def test_a_breed_that_ended_goes_after_the_retention_with_its_generations_votes_and_nudges(
    store_with: StoreWith, advance: Advance
) -> None:
    store = store_with(retention_s=0.2)
    for breed_id, thread_id in (("ended", 10), ("going", 11)):
        await store.breeds.create(make_breed(breed_id, thread_id=thread_id, status="voting"))
        await store.breeds.write_generation(make_generation(breed_id, 0), np.zeros((4, 2), np.float32), {})
        await store.votes.add(breed_id, 0, 1, 8)
        await store.nudges.add(breed_id, 0, Nudge(8, "notes", 1.0))
    await store.breeds.update("ended", status="stopped")
    await store.breeds.add_artifacts("ended", 0, {"winner.mid": b"MThd"}, keep=True)
    await advance(0.4)

    assert await store.breeds.get("ended") is None and await store.breeds.get_generation("ended", 0) is None
    assert await store.breeds.get_latents("ended", 0) is None and await store.breeds.for_thread(10) is None
    assert await store.votes.voters("ended", 0) == set() and await store.nudges.read("ended", 0) == []
    assert await store.breeds.get_artifact("ended", 0, "winner.mid") == b"MThd"  # the gallery's, kept
    assert [breed.breed_id for breed in await store.breeds.open_breeds()] == ["going"]
    assert await store.breeds.get_generation("going", 0) is not None
    assert await store.votes.voters("going", 0) == {8} and await store.breeds.for_thread(11) == "going"


async def test_a_late_generation_of_a_breed_that_ended_goes_after_the_retention_too(
    store_with: StoreWith, advance: Advance
) -> None:
    store = store_with(retention_s=0.2)
    await store.breeds.create(make_breed("b1", status="evolving"))
    await store.breeds.update("b1", status="stopped")
    assert await store.breeds.write_generation(make_generation("b1", 0), np.zeros((4, 2), np.float32), {})
    assert (await store.breeds.get("b1")).generation == 0
    await advance(0.4)
    assert await store.breeds.get_generation("b1", 0) is None and await store.breeds.get("b1") is None
