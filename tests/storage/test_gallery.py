"""The gallery and compositions in Redis: per server, newest first, kept without TTL, removable."""

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


async def test_winners_are_listed_per_server_newest_first_with_their_files_kept_forever(store: BreedStore) -> None:
    await store.breeds.add_artifacts("b", 0, {"winner.mid": b"B"}, keep=True)  # as the worker writes a winner's files
    await store.gallery.keep(winner("a-g1-1", finished_at=1.0))
    await store.gallery.keep(winner("b-g2-1", finished_at=2.0))
    await store.gallery.keep(winner("c-g1-1", guild_id=2, finished_at=3.0))
    assert [w.melody_id for w in await store.gallery.winners(1, 0, 10)] == ["b-g2-1", "a-g1-1"]
    assert [w.melody_id for w in await store.gallery.winners(1, 1, 10)] == ["a-g1-1"]
    assert (await store.gallery.size(1), await store.gallery.size(2), await store.gallery.size(None)) == (2, 1, 0)
    assert await store.gallery.winner("a-g1-1") == winner("a-g1-1", finished_at=1.0)
    assert await store.gallery.file(winner("b-g2-1"), "winner.mid") == b"B"
    # Stored once: the breed's own file is the gallery's.
    assert await store.redis.keys(f"{keys.PREFIX}winner:*:file:*") == []
    assert await store.redis.pttl(keys.artifact("b", 0, "winner.mid")) == -1
    assert await store.redis.pttl(winner_key("b-g2-1")) == -1


async def test_keeping_a_winner_again_keeps_its_place(store: BreedStore) -> None:
    assert await store.gallery.keep(winner("a-g1-1", finished_at=1.0))
    await store.gallery.keep(winner("b-g1-1", finished_at=2.0))
    assert not await store.gallery.keep(winner("a-g1-1", finished_at=5.0))
    assert [w.melody_id for w in await store.gallery.winners(1, 0, 10)] == ["b-g1-1", "a-g1-1"]


async def test_a_removed_winner_and_its_files_are_gone(store: BreedStore) -> None:
    kept = winner("a-g1-1")
    await store.breeds.add_artifacts("a", 0, {"winner.mid": b"A", "lineage.png": b"P"}, keep=True)
    await store.redis.set(winner_file_key("a-g1-1", "winner.mid"), b"A")  # an older version's copy
    await store.gallery.keep(kept)
    assert await store.gallery.remove(kept, ("winner.mid", "lineage.png"))
    assert await store.gallery.size(1) == 0 and await store.gallery.winner("a-g1-1") is None
    assert await store.redis.keys(f"{keys.PREFIX}winner:*") == []
    assert await store.redis.keys(f"{keys.PREFIX}breed:a:*") == []
    assert not await store.gallery.remove(kept, ())


async def test_a_composition_is_stored_with_its_files_and_posted_once(store: BreedStore) -> None:
    piece = Composition("p1", 1, 2, 7, ("a-g1-1", "a-g1-1", "b-g1-1"), smooth=True, created_at=5.0)
    await store.compositions.create(piece)
    assert await store.compositions.get("p1") == piece
    await store.compositions.add_files("p1", {"composition.mid": b"M"})
    assert await store.compositions.file("p1", "composition.mid") == b"M"
    assert 0 < await store.redis.pttl(file_key(COMPOSITION, "p1", "composition.mid"))
    assert await store.compositions.mark_posted("p1") and not await store.compositions.mark_posted("p1")
    await store.compositions.unmark_posted("p1")
    assert await store.compositions.mark_posted("p1")


async def test_voters_are_everyone_with_a_vote_on_a_generation(store: BreedStore) -> None:
    await store.votes.add("b1", 0, 1, 8)
    await store.votes.add("b1", 0, 2, 8)
    await store.votes.set_ballot("b1", 0, 9, (0, 2, 0))
    assert await store.votes.voters("b1", 0) == {8, 9}
