"""The workers' queue as the service keeps it: new work refused over its bound, each job asked once, the
seed MIDI parsed only after the limits and the cooldown."""

from __future__ import annotations

import pytest

from domain.errors import BreedError
from domain.jobs import MorphJob
from domain.limits import ServerLimits
from domain.model import BreedParams
from domain.rules import Actor
from service.breeding import BreedingService, Place
from service.errors import QueueFull
from service.queue import QUEUE_FULL
from storage.memory import MemoryStore
from tests.support.service import GUILD, NOW, OWNER, in_memory, jobs, voting_breed


@pytest.fixture
async def store() -> MemoryStore:
    """The queue's bound and unique jobs as the service keeps them, not Redis: the in-memory store."""
    return await in_memory()


async def _fill(store: MemoryStore, count: int) -> None:
    for i in range(count):
        await store.streams.jobs.enqueue_job(MorphJob(f"other{i}", 0, candidate=0, other=1))


async def test_new_work_is_refused_in_one_line_once_the_queue_is_full(store: MemoryStore) -> None:
    service = BreedingService(store, lambda: NOW, max_queued_jobs=5)
    await voting_breed(service)  # its start job is queued: 1 of 5
    await _fill(store, 4)
    before, kept = await jobs(store), store.snapshot()
    refusals = [
        lambda: service.request_morph("b1", 1, 2, 5),
        lambda: service.melodies.request_tree("b1-g1-2", GUILD, 3),
        lambda: service.compositions.request("b1-g1-1 b1-g1-2", GUILD, 3, 3),
        lambda: service.tunes.request("b1-g1-2", GUILD, 3, 3, front="discord"),
        lambda: service.start(owner_id=4, params=BreedParams(population=4), place=Place(guild_id=GUILD),
                              front="discord"),
    ]
    for refused_call in refusals:
        with pytest.raises(QueueFull) as refused:
            await refused_call()
        assert str(refused.value) == QUEUE_FULL and "\n" not in QUEUE_FULL
    assert await jobs(store) == before
    assert store.snapshot() == kept  # no tune, piece or cooldown kept


async def test_a_breed_steps_on_when_the_queue_is_full(store: MemoryStore) -> None:
    service = BreedingService(store, lambda: NOW, max_queued_jobs=1)
    await voting_breed(service)
    await _fill(store, 3)
    closed = await service.close_voting("b1", OWNER)
    assert closed.breed.status == "evolving"
    assert (await jobs(store))[-1].kind == "evolve"


async def test_the_same_morph_is_queued_once_until_a_worker_is_done_with_it(store: MemoryStore) -> None:
    service = BreedingService(store, lambda: NOW)
    await voting_breed(service)
    for _ in range(30):
        try:
            await service.request_morph("b1", 1, 2, 5)
        except BreedError as error:
            assert str(error) == "The morph from candidate 1 to candidate 2 is being made already."
    assert [job.kind for job in await jobs(store)].count("morph") == 1
    await service.request_morph("b1", 2, 1, 5)  # another pair is another job
    [start, first, _second] = await store.streams.jobs.read_jobs("w1", count=3, block_ms=None)
    await store.streams.jobs.ack_job(start.message_id, start.raw)
    await store.streams.jobs.ack_job(first.message_id, first.raw)
    await service.request_morph("b1", 1, 2, 5)  # done (and failed, or not posted): asked again
    assert [job.kind for job in await jobs(store)].count("morph") == 3


async def test_the_same_tune_or_piece_is_made_once_while_pending_whoever_asks(store: MemoryStore) -> None:
    service = BreedingService(store, lambda: NOW)
    await voting_breed(service)
    tune = await service.tunes.request("b1-g1-2", GUILD, 3, 3, bars=8, backing="chords", front="discord")
    piece = await service.compositions.request("b1-g1-1 b1-g1-2", GUILD, 3, 3)
    before, kept = await jobs(store), store.snapshot()
    with pytest.raises(BreedError, match="That tune is being made already"):
        await service.tunes.request("b1-g1-2", GUILD, 3, 4, bars=8, backing="chords", front="discord")
    with pytest.raises(BreedError, match="That piece is being made already"):
        await service.compositions.request("b1-g1-1 b1-g1-2", GUILD, 3, 4)
    assert await jobs(store) == before
    # Nothing is kept of a refused request: only the first tune and piece are stored.
    assert store.snapshot() == kept
    assert (await store.tunes.get(tune.tune_id), await store.compositions.get(piece.composition_id)) == (tune, piece)
    # Other arguments are another job.
    await service.tunes.request("b1-g1-2", GUILD, 3, 4, bars=16, backing="chords", front="discord")
    await service.compositions.request("b1-g1-2 b1-g1-1", GUILD, 3, 4)
    assert len(await jobs(store)) == len(before) + 2


async def test_a_refused_duplicate_gives_the_cooldown_back(store: MemoryStore) -> None:
    service = BreedingService(store, lambda: NOW, limits=ServerLimits(morph_cooldown_s=60))
    await voting_breed(service)
    await service.request_morph("b1", 1, 2, 5, Actor(3))
    with pytest.raises(BreedError, match="Slow down"):
        await service.request_morph("b1", 2, 3, 5, Actor(3))
    with pytest.raises(BreedError, match="being made already"):
        await service.request_morph("b1", 1, 2, 5, Actor(4))
    await service.request_morph("b1", 2, 3, 5, Actor(4))  # member 4's refused duplicate cost no wait


async def test_a_seed_is_parsed_only_once_the_cooldown_lets_the_member_start(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[str] = []
    monkeypatch.setattr(BreedingService, "check_seed", staticmethod(lambda name, data: parsed.append(name)))
    service = BreedingService(store, lambda: NOW, limits=ServerLimits(start_cooldown_s=600))
    params = BreedParams(population=4)
    await service.start(owner_id=4, params=params, place=Place(guild_id=GUILD), seed=b"MThd", seed_name="a.mid",
                        front="discord")
    with pytest.raises(BreedError, match="Slow down"):
        await service.start(owner_id=4, params=params, place=Place(guild_id=GUILD), seed=b"MThd", seed_name="b.mid",
                            front="discord")
    assert parsed == ["a.mid"]


async def test_a_refused_seed_keeps_the_cooldown(store: MemoryStore) -> None:
    service = BreedingService(store, lambda: NOW, limits=ServerLimits(start_cooldown_s=600))
    params = BreedParams(population=4)
    with pytest.raises(BreedError) as refused:
        await service.start(owner_id=4, params=params, place=Place(guild_id=GUILD), seed=b"MThd\0", seed_name="x.mid",
                            front="discord")
    assert str(refused.value).startswith("`x.mid` cannot be used: ")
    with pytest.raises(BreedError, match="Slow down"):
        await service.start(owner_id=4, params=params, place=Place(guild_id=GUILD), front="discord")
    assert await jobs(store) == []
