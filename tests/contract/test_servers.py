"""Forgetting a server in the store: its gallery, its breeds with their votes and files, and its requests go;
another server's, and the local front ends', stay; forgetting again finds nothing (both stores)."""

from __future__ import annotations

from domain.model import Composition, Front, TuneRequest, Winner
from storage.servers import Forgotten
from tests.storage.factories import make_breed
from tests.support.stores import AnyStore

HERE, ELSEWHERE = 11, 22


def winner_of(breed_id: str, guild_id: int | None) -> Winner:
    return Winner(f"{breed_id}-g1-1", breed_id, guild_id, owner_id=7, generation=0, index=0, finished_at=1.0,
                  people=(7, 8), source=None)


async def a_breed(store: AnyStore, breed_id: str, guild_id: int | None, thread_id: int | None) -> None:
    """A breed with a vote, a file and, finished, a gallery winner."""
    await store.breeds.create(make_breed(breed_id, guild_id=guild_id, thread_id=thread_id))
    await store.votes.add(breed_id, 0, 1, 8)
    await store.breeds.add_artifacts(breed_id, 0, {"winner.mid": b"MThd"}, keep=True)
    await store.gallery.keep(winner_of(breed_id, guild_id))


async def test_forgetting_a_server_deletes_its_gallery_breeds_votes_and_requests_only(store: AnyStore) -> None:
    await a_breed(store, "here1", HERE, 101)
    await a_breed(store, "here2", HERE, 102)
    await a_breed(store, "there", ELSEWHERE, 201)
    await a_breed(store, "local", None, None)
    await store.compositions.create(Composition("c1", HERE, 5, 8, ("here1-g1-1", "here2-g1-1")))
    await store.compositions.create(Composition("c2", ELSEWHERE, 6, 8, ("there-g1-1", "there-g1-1")))
    await store.tunes.create(TuneRequest("t1", "here1-g1-1", "here1", 8, "chords", Front.DISCORD, guild_id=HERE))

    forgotten = await store.servers.forget(HERE)

    assert forgotten == Forgotten(winners=2, breeds=2, requests=2)
    assert await store.gallery.size(HERE) == 0 and await store.gallery.winner("here1-g1-1") is None
    for breed_id in ("here1", "here2"):
        assert await store.breeds.get(breed_id) is None and await store.votes.voters(breed_id, 0) == set()
        assert await store.breeds.get_artifact(breed_id, 0, "winner.mid") is None
    assert await store.breeds.for_thread(101) is None
    assert {breed.breed_id for breed in await store.breeds.open_breeds()} == {"there", "local"}
    assert await store.compositions.get("c1") is None and await store.tunes.get("t1") is None
    # The other server and the local front ends keep everything.
    assert await store.gallery.size(ELSEWHERE) == 1 and await store.gallery.size(None) == 1
    assert await store.votes.voters("there", 0) == {8} and await store.breeds.for_thread(201) == "there"
    assert await store.compositions.get("c2") is not None
    assert await store.servers.forget(HERE) == Forgotten()
