"""Breeds that end by themselves: after BREED_MAX_IDLE_ROUNDS vote closes in a row without a vote, or when
the vote on generation BREED_MAX_GENERATIONS closes, a breed finishes as a finish would, with its best melody
so far; and no vote window is shorter than half a minute, whoever asks."""

from __future__ import annotations

import pytest

from domain.errors import BreedError, ParamsError
from domain.model import Breed, BreedParams, Generation
from domain.rules import Actor, EndReason
from service.breeding import BreedingService, Ending
from storage import BreedStore, connect
from storage.memory import MemoryStore
from tests.support.service import NOW, OWNER, VOTE_MESSAGE, in_memory, jobs, on_redis, voting_breed, write_generation

IDLE_LINE = "This breed ended by itself after 3 rounds without a vote."


@pytest.fixture
async def store() -> MemoryStore:
    """These tests are about the service, not Redis: the in-memory store."""
    return await in_memory()


@pytest.fixture
def service(store: MemoryStore) -> BreedingService:
    return BreedingService(store, lambda: NOW)


async def next_vote(service: BreedingService, number: int) -> Breed:
    """What the worker and a front end do after a close: generation `number` written, and its vote open."""
    await write_generation(service.store, number)

    async def post(breed: Breed, shown: Generation, deadline: float) -> int:
        return VOTE_MESSAGE + number

    opened = await service.results.generation_ready("b1", number, post)
    assert opened is not None and opened.status == "voting"
    return opened


async def close_at_deadline(service: BreedingService) -> Breed:
    """The deadline closes the vote up for votes (no actor), and the next generation opens."""
    breed = await service.get("b1")
    closed = await service.close_voting("b1", None, generation=breed.generation)
    assert closed.rerolled and closed.winner is None and not closed.ended
    return await next_vote(service, breed.generation + 1)


async def test_three_closes_without_a_vote_end_the_breed_with_the_favourite_of_the_last_votes(service, store) -> None:
    await voting_breed(service)  # generation 1, up for votes
    await store.votes.add("b1", 0, 2, 20)
    await store.votes.add("b1", 0, 2, 21)
    await store.votes.add("b1", 0, 0, 22)
    await service.close_voting("b1", OWNER)
    assert (await service.get("b1")).idle_rounds == 0
    await next_vote(service, 1)
    await close_at_deadline(service)
    breed = await close_at_deadline(service)
    assert (breed.generation, breed.idle_rounds) == (3, 2)
    ended: list[tuple[str, Ending]] = []

    async def announce_end(before: Breed, ending: Ending) -> int:
        assert before.status == "voting"  # shown before the state changes
        ended.append((before.breed_id, ending))
        return 6001

    done = await service.close_voting("b1", None, generation=3, announce_end=announce_end)

    assert ended == [("b1", Ending(EndReason.IDLE, IDLE_LINE, 0, 2))]
    assert (done.ended, done.winner, done.rerolled) == (IDLE_LINE, 2, False)
    breed = await service.get("b1")
    assert (breed.status, breed.winner, breed.winner_generation, breed.ended, breed.idle_rounds) == (
        "evolving", 2, 0, "idle", 3)
    assert (breed.vote_deadline, breed.progress_message_id) == (None, 6001)
    finish = (await jobs(store))[-1]
    assert (finish.kind, finish.generation, finish.candidate) == ("finish", 0, 2)
    assert [job.kind for job in await jobs(store)].count("evolve") == 3  # the third idle close bred nothing

    async def post(shown: Breed, number: int, winner: int) -> None:
        assert (number, winner) == (0, 2)

    finished = await service.results.winner_ready("b1", 0, post)  # the worker's "finished", as for any finish
    assert finished is not None and finished.status == "finished"
    [kept] = (await service.gallery.page(9, 1)).winners
    assert kept.melody_id == "b1-g1-3"


async def test_a_round_with_votes_sets_the_count_back_and_next_counts_like_the_deadline(service, store) -> None:
    await voting_breed(service)
    await service.close_voting("b1", OWNER)  # Next without votes
    await next_vote(service, 1)
    await close_at_deadline(service)
    assert (await service.get("b1")).idle_rounds == 2
    await store.votes.add("b1", 2, 1, 20)
    await service.close_voting("b1", OWNER)
    await next_vote(service, 3)
    assert (await service.get("b1")).idle_rounds == 0
    await close_at_deadline(service)
    breed = await close_at_deadline(service)
    assert (breed.status, breed.idle_rounds) == ("voting", 2)  # two in a row: it goes on

    done = await service.close_voting("b1", OWNER)
    assert done.ended == IDLE_LINE and (done.breed.winner_generation, done.winner) == (2, 1)


async def test_the_count_of_rounds_without_a_vote_survives_a_restart(redis_client, redis_url) -> None:
    service = BreedingService(await on_redis(redis_client), lambda: NOW)
    await voting_breed(service)
    await close_at_deadline(service)
    await close_at_deadline(service)
    await service.close()
    restarted = BreedingService(BreedStore(connect(redis_url)), lambda: NOW)  # a new process, the same Redis
    try:
        assert (await restarted.get("b1")).idle_rounds == 2
        done = await restarted.close_voting("b1", None, generation=2)
        assert done.ended == IDLE_LINE
        # Nobody ever voted: candidate 1 of generation 1, the breed's own melody when it started from one.
        assert (done.breed.winner_generation, done.winner) == (0, 0)
        assert (await jobs(restarted.store))[-1].candidate == 0
    finally:
        await restarted.close()


async def test_the_vote_on_the_last_generation_ends_the_breed_with_its_favourite(service, store) -> None:
    await voting_breed(service, max_generations=2)
    await store.votes.add("b1", 0, 1, 20)
    first = await service.close_voting("b1", OWNER)
    assert first.winner is None and first.breed.status == "evolving"
    await next_vote(service, 1)
    await store.votes.add("b1", 1, 3, 20)
    await store.votes.add("b1", 1, 0, 21)
    await store.votes.add("b1", 1, 3, 22)

    done = await service.close_voting("b1", OWNER)

    assert done.ended == "This breed ended by itself: it reached generation 2."
    assert (done.fitness, done.winner, done.breed.winner_generation, done.breed.ended) == (
        (1, 0, 0, 2), 3, 1, "generations")
    finish = (await jobs(store))[-1]
    assert (finish.kind, finish.generation, finish.candidate) == ("finish", 1, 3)


async def test_the_last_generation_without_votes_keeps_the_favourite_of_an_earlier_one(service, store) -> None:
    await voting_breed(service, max_generations=2, max_idle_rounds=5)
    await store.votes.add("b1", 0, 3, 20)
    await service.close_voting("b1", OWNER)
    await next_vote(service, 1)

    done = await service.close_voting("b1", None, generation=1)

    assert done.ended == "This breed ended by itself: it reached generation 2."
    assert (done.breed.winner_generation, done.winner) == (0, 3)


async def test_a_finish_of_an_ended_breed_that_failed_lets_the_breed_go_on(service, store) -> None:
    await voting_breed(service, max_idle_rounds=1)
    await service.close_voting("b1", OWNER)
    failures = []

    async def post(before: Breed, after: Breed) -> None:
        failures.append((before.ended, after.status))

    after = await service.results.step_failed("b1", post, job="finish", generation=0)

    assert failures == [("idle", "voting")]
    assert after is not None and (after.winner, after.winner_generation, after.ended) == (None, None, None)


async def test_a_refused_close_changes_no_count(service, store) -> None:
    await voting_breed(service, max_idle_rounds=1)
    with pytest.raises(BreedError, match="Only the breed's starter"):
        await service.close_voting("b1", Actor(99))
    with pytest.raises(BreedError, match="That vote was closed already"):
        await service.close_voting("b1", None, generation=4)
    breed = await service.get("b1")
    assert (breed.status, breed.idle_rounds, breed.ended) == ("voting", 0, None)


@pytest.mark.parametrize("minutes", [0.0001, 0.49, 0.0, -1.0, 1441.0])
async def test_a_vote_window_under_half_a_minute_is_refused_in_one_line_and_changes_nothing(
    service, store, minutes: float,
) -> None:
    message = "Cannot start: vote window must be between 0.5 and 1440 minutes."
    with pytest.raises(BreedError) as refused:
        service.params(vote_minutes=minutes)  # what the page, the bot and the terminal ask
    assert str(refused.value) == message
    with pytest.raises(ParamsError, match="^vote window must be between 0.5 and 1440 minutes$"):
        await service.start(owner_id=1, params=BreedParams(vote_minutes=minutes), front="web")
    assert await store.breeds.open_breeds() == []
    assert service.params(vote_minutes=0.5).vote_minutes == 0.5


@pytest.mark.parametrize("name, value", [("max_idle_rounds", 0), ("max_generations", 0), ("max_idle_rounds", 2.5),
                                         ("max_generations", 1001), ("max_idle_rounds", True)])
def test_the_limits_of_a_breeds_end_are_whole_numbers_in_range(name: str, value: object) -> None:
    with pytest.raises(ParamsError, match="must be a whole number between"):
        BreedParams(**{name: value}).validate()
