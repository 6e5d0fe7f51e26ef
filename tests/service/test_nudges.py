"""Nudges through the breeding service: counted beside the votes, combined into the evolve job, refused
with one line when they cannot count, and kept across a restart of everything but Redis."""

from __future__ import annotations

import pytest

from domain import nudges
from domain.errors import BreedError
from domain.rules import Actor
from service.breeding import BreedingService
from storage import BreedStore, connect
from storage.memory import MemoryStore
from tests.support.service import NOW, in_memory, jobs, on_redis, voting_breed

OWNER = Actor(1)


@pytest.fixture
async def store() -> MemoryStore:
    """These tests are about the service, not Redis: the in-memory store."""
    return await in_memory()


@pytest.fixture
def service(store: MemoryStore) -> BreedingService:
    return BreedingService(store, lambda: NOW)


async def test_a_generations_nudges_are_combined_into_its_evolve_job(service) -> None:
    await voting_breed(service)
    await service.nudges.add("b1", 1, "density", -2)
    await service.nudges.add("b1", 2, "density", "-1")
    await service.nudges.add("b1", 3, "register", "+1.5")
    counted = await service.nudges.add("b1", 2, "density", -2)  # a member's latest nudge replaces their earlier one
    assert counted.combined == {"density": -2.0, "register": 1.5}
    assert counted.summary == "fewer notes 2 ×2, higher 1.5"
    closed = await service.close_voting("b1", OWNER)
    assert closed.nudges == "fewer notes 2 ×2, higher 1.5"
    [_start, evolve] = await jobs(service.store)
    assert evolve.kind == "evolve"
    assert evolve.nudges == (("density", -2.0), ("register", 1.5))


async def test_a_vote_closed_without_nudges_asks_for_none(service) -> None:
    await voting_breed(service)
    closed = await service.close_voting("b1", OWNER)
    assert closed.nudges == ""
    assert (await jobs(service.store))[-1].nudges == ()


@pytest.mark.parametrize(("attribute", "amount", "message"), [
    ("loudness", 1, "^There is no attribute `loudness` to nudge: choose one of density, register, leaps, "
                    "syncopation, range.$"),
    ("density", 3, "^A nudge's amount must be between -2 and 2, not 3.$"),
    ("density", -2.5, "^A nudge's amount must be between -2 and 2, not -2.5.$"),
    ("density", "lots", "^A nudge's amount is a number between -2 and 2 such as -1 or \\+1.5, not `lots`.$"),
    ("density", 0, "^A nudge of 0 changes nothing"),
])
async def test_bad_nudges_get_one_line_and_change_nothing(service, attribute, amount, message) -> None:
    await voting_breed(service)
    with pytest.raises(BreedError, match=message):
        await service.nudges.add("b1", 2, attribute, amount)
    assert await service.store.nudges.read("b1", 0) == []


async def test_a_nudge_on_a_finished_or_closed_breed_is_refused(service) -> None:
    await voting_breed(service)
    await service.close_voting("b1", OWNER)
    with pytest.raises(BreedError, match="^The next generation is on its way; nudge once it is posted.$"):
        await service.nudges.add("b1", 2, "density", 1)
    await service.store.breeds.update("b1", status="finished")
    with pytest.raises(BreedError, match="^This breed is finished.$"):
        await service.nudges.add("b1", 2, "density", 1)
    assert await service.store.nudges.read("b1", 0) == []


async def test_a_nudge_for_a_generation_not_up_for_votes_is_refused(service) -> None:
    await voting_breed(service, generation=1)
    with pytest.raises(BreedError, match="^Generation 1 is not up for votes; generation 2 is.$"):
        await service.nudges.add("b1", 2, "density", 1, generation=0)


async def test_nudges_survive_a_new_connection_and_service(redis_client, redis_url) -> None:
    service = BreedingService(await on_redis(redis_client), lambda: NOW)
    await voting_breed(service)
    await service.nudges.add("b1", 4, "leaps", -1)
    restarted = BreedingService(BreedStore(connect(redis_url)), lambda: NOW)
    try:
        combined, words = await restarted.nudges.combined(await restarted.get("b1"))
        assert combined == {"leaps": -1.0}
        assert words == "smoother"
    finally:
        await restarted.store.close()


def test_the_combining_rule_averages_each_members_latest_amount() -> None:
    given = [("a", "density", 2.0), ("b", "density", -1.0), ("a", "density", -2.0), ("c", "range", 1.0),
             ("c", "range", -1.0), ("d", "range", 1.0)]
    assert nudges.combine(given) == {"density": -1.5}  # range: c's latest -1 and d's 1 cancel out
    assert nudges.counts(given) == {"density": 2, "range": 2}
    assert nudges.describe({"density": -1.5, "leaps": 1.0}, {"density": 3}) == "fewer notes 1.5 ×3, leapier"
