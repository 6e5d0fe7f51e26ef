"""Breeds in Redis: ids, and records older versions wrote (the behaviour both stores share: tests/contract)."""

from __future__ import annotations

import json
import typing

from domain.model import Breed, BreedParams
from storage import BreedStore, new_breed_id
from storage.breeds import BreedChanges, breed_key
from storage.codec import dump
from tests.storage.factories import make_breed


def test_new_breed_ids_are_short_url_safe_and_distinct() -> None:
    ids = {new_breed_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) <= 12 and i.isalnum() and i.isascii() for i in ids)
    assert BreedStore.new_breed_id() not in ids


def test_a_breed_update_may_name_every_field_but_the_id_with_its_type() -> None:
    fields = typing.get_type_hints(Breed)
    del fields["breed_id"]
    assert typing.get_type_hints(BreedChanges) == fields


async def test_a_breed_stored_before_tunes_existed_reads_with_the_tune_defaults(store: BreedStore) -> None:
    breed = make_breed("old", params=BreedParams(population=5, bars=16, backing="band"))
    payload = json.loads(dump(breed))
    del payload["params"]["bars"], payload["params"]["backing"]
    await store.redis.set(breed_key("old"), json.dumps(payload))
    read = await store.breeds.get("old")
    assert read is not None
    assert read.params == BreedParams(population=5)
    assert await store.breeds.get("old") != breed
