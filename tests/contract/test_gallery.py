"""The gallery and compositions: per server, newest first, kept without TTL, removable (both stores)."""

from __future__ import annotations

from domain.model import Composition, Winner
from tests.support.stores import Advance, AnyStore, StoreWith


def winner(melody_id: str, guild_id: int | None = 1, finished_at: float = 1000.0) -> Winner:
    breed_id = melody_id.split("-")[0]
    return Winner(melody_id, breed_id, guild_id, owner_id=7, generation=0, index=0, finished_at=finished_at,
                  people=(7, 8), source=None)


async def test_winners_are_listed_per_server_newest_first_with_their_files_kept_forever(
    store_with: StoreWith, advance: Advance
) -> None:
    store = store_with(artifact_ttl_s=0.05)
    await store.breeds.add_artifacts("b", 0, {"winner.mid": b"B"}, keep=True)  # as the worker writes a winner's files
    await store.gallery.keep(winner("a-g1-1", finished_at=1.0))
    await store.gallery.keep(winner("b-g2-1", finished_at=2.0))
    await store.gallery.keep(winner("c-g1-1", guild_id=2, finished_at=3.0))
    await advance(0.2)
    assert [w.melody_id for w in await store.gallery.winners(1, 0, 10)] == ["b-g2-1", "a-g1-1"]
    assert [w.melody_id for w in await store.gallery.winners(1, 1, 10)] == ["a-g1-1"]
    assert [w.melody_id for w in await store.gallery.winners(1, 0, 1)] == ["b-g2-1"]
    assert (await store.gallery.size(1), await store.gallery.size(2), await store.gallery.size(None)) == (2, 1, 0)
    assert await store.gallery.winner("a-g1-1") == winner("a-g1-1", finished_at=1.0)
    assert await store.gallery.winner("z-g1-1") is None
    assert await store.gallery.file(winner("b-g2-1"), "winner.mid") == b"B"
    assert await store.gallery.file(winner("b-g2-1"), "lineage.png") is None


async def test_keeping_a_winner_again_keeps_its_place(store: AnyStore) -> None:
    assert await store.gallery.keep(winner("a-g1-1", finished_at=1.0))
    await store.gallery.keep(winner("b-g1-1", finished_at=2.0))
    assert not await store.gallery.keep(winner("a-g1-1", finished_at=5.0))
    assert [w.melody_id for w in await store.gallery.winners(1, 0, 10)] == ["b-g1-1", "a-g1-1"]


async def test_a_removed_winner_and_its_files_are_gone(store: AnyStore) -> None:
    kept = winner("a-g1-1")
    await store.breeds.add_artifacts("a", 0, {"winner.mid": b"A", "lineage.png": b"P", "other.ogg": b"O"}, keep=True)
    await store.gallery.keep(kept)
    assert await store.gallery.remove(kept, ("winner.mid", "lineage.png"))
    assert await store.gallery.size(1) == 0 and await store.gallery.winner("a-g1-1") is None
    assert await store.gallery.winners(1, 0, 10) == []
    assert await store.gallery.file(kept, "winner.mid") is None
    assert await store.breeds.get_artifact("a", 0, "lineage.png") is None
    assert await store.breeds.get_artifact("a", 0, "other.ogg") == b"O"
    assert not await store.gallery.remove(kept, ())


async def test_a_composition_is_stored_with_its_files_and_posted_once(store: AnyStore) -> None:
    piece = Composition("p1", 1, 2, 7, ("a-g1-1", "a-g1-1", "b-g1-1"), smooth=True, created_at=5.0)
    await store.compositions.create(piece)
    assert await store.compositions.get("p1") == piece
    await store.compositions.add_files("p1", {"composition.mid": b"M"})
    assert await store.compositions.file("p1", "composition.mid") == b"M"
    assert await store.compositions.mark_posted("p1") and not await store.compositions.mark_posted("p1")
    await store.compositions.unmark_posted("p1")
    assert await store.compositions.mark_posted("p1")
    await store.compositions.delete(piece)
    assert await store.compositions.get("p1") is None


async def test_a_request_its_files_its_mark_and_its_failure_go_after_the_artifacts_ttl(
    store_with: StoreWith, advance: Advance
) -> None:
    from domain.model import Front, TuneRequest

    store = store_with(artifact_ttl_s=0.05)
    tune = TuneRequest("t1", "b1-g2-3", "b1", 16, "band", Front.WEB, guild_id=9, channel_id=8, requester_id=7)
    await store.tunes.create(tune)
    await store.tunes.add_files("t1", {"tune.mid": b"M"})
    assert await store.tunes.mark_posted("t1")
    await store.tunes.mark_failed("t1", "no notes")
    assert await store.tunes.failure("t1") == "no notes" and await store.tunes.failure("t2") is None
    await advance(0.2)
    assert await store.tunes.get("t1") is None and await store.tunes.file("t1", "tune.mid") is None
    assert await store.tunes.failure("t1") is None
    assert await store.tunes.mark_posted("t1")


async def test_voters_are_everyone_with_a_vote_on_a_generation(store: AnyStore) -> None:
    await store.votes.add("b1", 0, 1, 8)
    await store.votes.add("b1", 0, 2, 8)
    await store.votes.set_ballot("b1", 0, 9, (0, 2, 0))
    assert await store.votes.voters("b1", 0) == {8, 9}
