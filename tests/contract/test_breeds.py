"""Breeds: CRUD, atomic updates and the thread, open-breed and message indexes (both stores)."""

from __future__ import annotations

import asyncio

import pytest

from domain.model import BreedParams
from storage import BreedExistsError
from tests.storage.factories import make_breed
from tests.support.stores import AnyStore


async def test_created_breed_reads_back_equal(store: AnyStore) -> None:
    params = BreedParams(population=6, sigma=0.25)
    breed = make_breed("abc", guild_id=1, channel_id=2, thread_id=3, params=params)
    await store.breeds.create(breed)
    assert await store.breeds.get("abc") == breed


async def test_missing_breed_reads_as_none(store: AnyStore) -> None:
    assert await store.breeds.get("nope") is None


async def test_creating_a_breed_twice_is_refused_and_keeps_the_first(store: AnyStore) -> None:
    await store.breeds.create(make_breed("abc", owner_id=1))
    with pytest.raises(BreedExistsError):
        await store.breeds.create(make_breed("abc", owner_id=2))
    breed = await store.breeds.get("abc")
    assert breed is not None and breed.owner_id == 1


async def test_update_changes_only_the_given_fields_and_returns_the_new_breed(store: AnyStore) -> None:
    await store.breeds.create(make_breed("abc"))
    updated = await store.breeds.update("abc", status="voting", vote_deadline=1234.5)
    assert updated == make_breed("abc", status="voting", vote_deadline=1234.5)
    assert await store.breeds.get("abc") == updated


async def test_update_of_a_missing_breed_raises_key_error(store: AnyStore) -> None:
    with pytest.raises(KeyError):
        await store.breeds.update("nope", status="voting")


async def test_update_refuses_unknown_fields_and_id_changes(store: AnyStore) -> None:
    await store.breeds.create(make_breed("abc"))
    with pytest.raises(TypeError):
        await store.breeds.update("abc", colour="red")
    with pytest.raises(ValueError):
        await store.breeds.update("abc", breed_id="xyz")
    assert await store.breeds.get("abc") == make_breed("abc")


async def test_concurrent_updates_of_different_fields_lose_nothing(store: AnyStore) -> None:
    await store.breeds.create(make_breed("abc"))
    changes: list[dict[str, object]] = [
        {"status": "voting"}, {"vote_deadline": 99.0}, {"winner": 3}, {"progress_message_id": 77},
        {"guild_id": 5}, {"channel_id": 6}, {"generation": 4}, {"thread_id": 8},
    ]
    for _ in range(3):
        await asyncio.gather(*(store.breeds.update("abc", **change) for change in changes))
    breed = await store.breeds.get("abc")
    assert breed == make_breed(
        "abc", status="voting", vote_deadline=99.0, winner=3, progress_message_id=77,
        guild_id=5, channel_id=6, generation=4, thread_id=8,
    )


async def test_open_breeds_follow_the_status(store: AnyStore) -> None:
    await store.breeds.create(make_breed("old", created_at=1.0))
    await store.breeds.create(make_breed("new", created_at=2.0, status="voting"))
    await store.breeds.create(make_breed("done", status="finished"))
    assert [b.breed_id for b in await store.breeds.open_breeds()] == ["old", "new"]

    await store.breeds.update("old", status="stopped")
    await store.breeds.update("done", status="evolving")
    assert [b.breed_id for b in await store.breeds.open_breeds()] == ["new", "done"]
    assert all(b.status in ("voting", "evolving") for b in await store.breeds.open_breeds())


async def test_open_breeds_is_empty_without_breeds(store: AnyStore) -> None:
    assert await store.breeds.open_breeds() == []


async def test_thread_index_follows_creation_and_thread_changes(store: AnyStore) -> None:
    await store.breeds.create(make_breed("abc", thread_id=10))
    assert await store.breeds.for_thread(10) == "abc"

    await store.breeds.update("abc", thread_id=11)
    assert await store.breeds.for_thread(10) is None
    assert await store.breeds.for_thread(11) == "abc"

    await store.breeds.update("abc", thread_id=None)
    assert await store.breeds.for_thread(11) is None


async def test_thread_index_is_set_when_a_thread_is_attached_later(store: AnyStore) -> None:
    await store.breeds.create(make_breed("abc"))
    assert await store.breeds.for_thread(12) is None
    await store.breeds.update("abc", thread_id=12)
    assert await store.breeds.for_thread(12) == "abc"


async def test_linked_message_leads_back_to_breed_and_generation(store: AnyStore) -> None:
    await store.breeds.link_message(555, "abc", 3)
    await store.breeds.link_message(556, "a:b", 0)
    assert await store.breeds.message_target(555) == ("abc", 3)
    assert await store.breeds.message_target(556) == ("a:b", 0)
    assert await store.breeds.message_target(557) is None


async def test_ping_answers(store: AnyStore) -> None:
    assert await store.ping() is True


async def test_a_tune_request_and_its_files_read_back_and_are_shown_once(store: AnyStore) -> None:
    from domain.model import Front, TuneRequest

    tune = TuneRequest("t1", "b1-g2-3", "b1", 16, "band", Front.WEB, guild_id=9, channel_id=8, requester_id=7)
    await store.tunes.create(tune)
    assert await store.tunes.get("t1") == tune
    assert await store.tunes.get("t2") is None
    await store.tunes.add_files("t1", {"tune.mid": b"M"})
    assert (await store.tunes.file("t1", "tune.mid"), await store.tunes.file("t1", "tune.ogg")) == (b"M", None)
    assert await store.tunes.mark_posted("t1")
    assert not await store.tunes.mark_posted("t1")
    await store.tunes.unmark_posted("t1")
    assert await store.tunes.mark_posted("t1")
