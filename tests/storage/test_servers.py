"""Forgetting a server in Redis leaves no key of its breeds behind (the behaviour both stores share:
tests/contract)."""

from __future__ import annotations

from domain.model import Winner
from storage import BreedStore, keys
from storage.codec import Nudge
from tests.storage.factories import make_breed


async def test_forgetting_a_server_leaves_no_key_under_its_breeds(store: BreedStore) -> None:
    await store.breeds.create(make_breed("here", guild_id=11, thread_id=101))
    await store.votes.add("here", 0, 1, 8)
    await store.nudges.add("here", 0, Nudge(8, "notes", 1.0))
    await store.posts.mark_posted("here", 0)
    await store.breeds.add_artifacts("here", 0, {"winner.mid": b"MThd"}, keep=True)
    await store.gallery.keep(Winner("here-g1-1", "here", 11, owner_id=7, generation=0, index=0, finished_at=1.0,
                                    people=(7, 8), source=None))
    await store.servers.forget(11)
    assert [key async for key in store.redis.scan_iter(match=f"{keys.breed_prefix('here')}*")] == []
