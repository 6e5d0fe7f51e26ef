"""The gallery in Redis: a winner and its files are stored once, without TTL, and an older version's copy of
a file goes with it (the behaviour both stores share: tests/contract)."""

from __future__ import annotations

import json

from domain.model import Composition, Winner
from storage import BreedStore, keys
from storage.codec import dump, load_breed
from storage.gallery import winner_file_key, winner_key
from storage.requests import COMPOSITION, file_key
from tests.storage.factories import make_breed


def winner(melody_id: str, guild_id: int | None = 1, finished_at: float = 1000.0) -> Winner:
    breed_id = melody_id.split("-")[0]
    return Winner(melody_id, breed_id, guild_id, owner_id=7, generation=0, index=0, finished_at=finished_at,
                  people=(7, 8), source=None)


async def test_a_breed_stored_before_branching_existed_still_loads() -> None:
    stored = json.loads(dump(make_breed("old")))
    del stored["source"]
    assert load_breed(json.dumps(stored)).source is None


async def test_a_winner_and_its_files_are_stored_once_without_ttl(store: BreedStore) -> None:
    await store.breeds.add_artifacts("b", 0, {"winner.mid": b"B"}, keep=True)
    await store.gallery.keep(winner("b-g2-1", finished_at=2.0))
    # Stored once: the breed's own file is the gallery's.
    assert await store.redis.keys(f"{keys.PREFIX}winner:*:file:*") == []
    assert await store.redis.pttl(keys.artifact("b", 0, "winner.mid")) == -1
    assert await store.redis.pttl(winner_key("b-g2-1")) == -1


async def test_a_removed_winner_takes_an_older_versions_copies_of_its_files(store: BreedStore) -> None:
    kept = winner("a-g1-1")
    await store.breeds.add_artifacts("a", 0, {"winner.mid": b"A", "lineage.png": b"P"}, keep=True)
    await store.redis.set(winner_file_key("a-g1-1", "winner.mid"), b"A")  # an older version's copy
    await store.gallery.keep(kept)
    assert await store.gallery.remove(kept, ("winner.mid", "lineage.png"))
    assert await store.redis.keys(f"{keys.PREFIX}winner:*") == []
    assert await store.redis.keys(f"{keys.PREFIX}breed:a:*") == []


async def test_an_older_versions_copy_of_a_winners_file_is_still_played(store: BreedStore) -> None:
    await store.redis.set(winner_file_key("a-g1-1", "winner.mid"), b"A")
    assert await store.gallery.file(winner("a-g1-1"), "winner.mid") == b"A"


async def test_a_compositions_files_have_the_artifacts_ttl(store: BreedStore) -> None:
    await store.compositions.create(Composition("p1", 1, 2, 7, ("a-g1-1", "b-g1-1")))
    await store.compositions.add_files("p1", {"composition.mid": b"M"})
    assert 0 < await store.redis.pttl(file_key(COMPOSITION, "p1", "composition.mid"))
