"""The breeding service over the in-memory store: transitions, votes, jobs, refusals, posts once; processes
sharing one Redis over the real one."""

from __future__ import annotations

import pytest

from domain.errors import BreedError, UnknownBreedError
from domain.model import Breed, BreedParams, Generation, Note
from domain.rules import STEER_REFUSAL, Actor, morph_marker
from engine.midi import melody_to_midi
from service.breeding import BreedingService, Place
from storage.locks import lock_key
from storage.memory import MemoryStore
from tests.support.service import (
    NOW,
    OWNER,
    VOTE_MESSAGE,
    in_memory,
    jobs,
    new_breed,
    on_redis,
    voting_breed,
    write_generation,
)


@pytest.fixture
async def store() -> MemoryStore:
    """These tests are about the service, not Redis: the in-memory store."""
    return await in_memory()


@pytest.fixture
def service(store: MemoryStore) -> BreedingService:
    return BreedingService(store, lambda: NOW)


def test_options_are_the_defaults_with_the_choices_or_one_line_why_not(service) -> None:
    assert service.params(population=5).population == 5
    with pytest.raises(BreedError, match="^Cannot start: tempo must be between 40 and 240 BPM.$"):
        service.params(tempo=300)


async def test_starting_a_breed_stores_it_and_asks_for_the_first_generation(service, store) -> None:
    seed = melody_to_midi([Note(60, 0, 4)], 120, 0)
    breed = await service.start(
        breed_id="b1", owner_id=1, params=BreedParams(population=4),
        place=Place(guild_id=9, channel_id=8, thread_id=7, progress_message_id=6), seed=seed, front="discord"
    )
    assert await store.breeds.get("b1") == breed
    assert (breed.status, breed.generation, breed.created_at) == ("starting", -1, NOW)
    assert await store.breeds.for_thread(7) == "b1"
    [start] = await jobs(store)
    assert (start.kind, start.generation) == ("start", -1)
    assert await store.breeds.load_upload(start.seed_midi_key) == seed


async def test_a_ready_generation_is_posted_once_and_opens_the_vote(service, store) -> None:
    breed = await voting_breed(service, vote_minutes=2.5)
    assert (breed.status, breed.vote_deadline, breed.progress_message_id) == ("voting", NOW + 150, VOTE_MESSAGE)
    assert await store.breeds.message_target(VOTE_MESSAGE) == ("b1", 0)
    posts = []

    async def post(breed: Breed, shown: Generation, deadline: float) -> int:
        posts.append(shown.number)
        return 1

    assert await service.results.generation_ready("b1", 0, post) is None  # voting already: nothing to post
    assert posts == []


async def test_a_late_repeat_of_a_generation_voted_on_already_does_not_open_its_vote_again(service, store) -> None:
    await voting_breed(service)
    await service.close_voting("b1", OWNER)  # Next: the worker makes generation 2 meanwhile
    posts = []

    async def post(breed: Breed, shown: Generation, deadline: float) -> int:
        posts.append(shown.number)
        return 1

    # The first "generation 1 ready" again, delivered late (a restart, a lost acknowledgement).
    assert await service.results.generation_ready("b1", 0, post) is None
    assert posts == [] and (await service.get("b1")).status == "evolving"
    await write_generation(store, 1)
    assert (await service.results.generation_ready("b1", 1, post)).status == "voting"  # the one it waits for
    assert posts == [1]


async def test_a_post_that_fails_is_tried_again_by_the_next_delivery(service, store) -> None:
    await new_breed(service)
    await write_generation(store, 0)

    async def failing(breed: Breed, shown: Generation, deadline: float) -> int:
        raise RuntimeError("Discord is down")

    with pytest.raises(RuntimeError):
        await service.results.generation_ready("b1", 0, failing)
    assert (await service.get("b1")).status == "starting"
    assert not await store.posts.is_posted("b1", 0)


async def test_closing_a_vote_sends_the_votes_as_fitness_with_the_current_sigma(service, store) -> None:
    await voting_breed(service, sigma=0.3)
    announced = []

    async def announce(breed: Breed, fitness: tuple[int, ...]) -> int:
        announced.append(fitness)
        return 6001

    async def on_discord(breed: Breed) -> dict[int, set[int]]:
        return {1: {10, 11}, 3: {10}}

    closed = await service.close_voting("b1", OWNER, read_votes=on_discord, announce=announce)
    assert announced == [(0, 2, 0, 1)] and closed.fitness == (0, 2, 0, 1) and not closed.rerolled
    assert (closed.breed.status, closed.breed.vote_deadline, closed.breed.progress_message_id) == (
        "evolving", None, 6001)
    evolve = (await jobs(store))[-1]
    assert (evolve.kind, evolve.generation, evolve.fitness, evolve.sigma) == ("evolve", 0, (0, 2, 0, 1), 0.3)
    with pytest.raises(BreedError, match="Voting is closed already"):
        await service.close_voting("b1", OWNER)


async def test_when_the_announcement_fails_the_breed_is_unchanged_and_no_job_is_sent(service, store) -> None:
    before = await voting_breed(service)

    async def announce(breed: Breed, fitness: tuple[int, ...]) -> int:
        raise RuntimeError("Discord is down")

    with pytest.raises(RuntimeError):
        await service.close_voting("b1", OWNER, announce=announce)
    assert await service.get("b1") == before
    assert [job.kind for job in await jobs(store)] == ["start"]


async def test_only_the_starter_or_a_message_manager_may_steer(service, store) -> None:
    before = await voting_breed(service)
    for steer in (service.close_voting("b1", Actor(2)), service.finish("b1", Actor(2), 1),
                  service.stop("b1", Actor(2)), service.set_sigma("b1", Actor(2), 0.1)):
        with pytest.raises(BreedError, match=f"^{STEER_REFUSAL}$"):
            await steer
    assert await service.get("b1") == before
    closed = await service.close_voting("b1", Actor(2, manage_messages=True))
    assert closed.breed.status == "evolving"


async def test_a_deadline_closes_only_the_vote_it_was_set_for(service) -> None:
    await voting_breed(service)
    with pytest.raises(BreedError, match="That vote was closed already."):
        await service.close_voting("b1", None, generation=3)
    assert (await service.close_voting("b1", None, generation=0)).breed.status == "evolving"


async def test_a_ballot_replaces_that_persons_votes_and_repeats_count(service) -> None:
    breed = await voting_breed(service)
    assert await service.votes.cast_ballot("b1", 0, 0, [1, 1, 3]) == (0, 2, 0, 1)
    assert await service.votes.cast_ballot("b1", 0, 5, [1]) == (0, 3, 0, 1)
    assert await service.votes.cast_ballot("b1", 0, 0, [0]) == (1, 1, 0, 0)
    with pytest.raises(BreedError, match="Cannot vote: no candidate 5: candidates are 1 to 4."):
        await service.votes.cast_ballot("b1", 0, 0, [4])
    with pytest.raises(BreedError, match="Generation 2 is not up for votes"):
        await service.votes.cast_ballot("b1", 1, 0, [0])
    assert await service.votes.tally(breed) == (1, 1, 0, 0)


async def test_reactions_are_mirrored_only_for_the_open_vote_of_the_current_generation(service, store) -> None:
    breed = await voting_breed(service, generation=1)
    await store.breeds.link_message(4000, "b1", 0)  # generation 1's old vote message

    assert await service.votes.record(VOTE_MESSAGE, 1, 10, added=True)
    assert not await service.votes.record(VOTE_MESSAGE, 1, 10, added=True)  # one vote per person and candidate
    assert await service.votes.record(VOTE_MESSAGE, 0, 10, added=True)
    assert not await service.votes.record(VOTE_MESSAGE, 4, 11, added=True)  # only 4 candidates
    assert not await service.votes.record(4000, 2, 11, added=True)
    assert not await service.votes.record(9999, 2, 11, added=True)
    assert await service.votes.tally(breed) == (1, 1, 0, 0)

    assert await service.votes.record(VOTE_MESSAGE, 0, 10, added=False)
    assert await service.votes.tally(breed) == (0, 1, 0, 0)

    await service.close_voting("b1", OWNER)
    assert not await service.votes.record(VOTE_MESSAGE, 2, 12, added=True)


async def test_the_winner_is_the_named_candidate_or_the_top_voted(service, store) -> None:
    await voting_breed(service)
    with pytest.raises(BreedError, match="There is no candidate 5: this breed has 1 to 4."):
        await service.finish("b1", OWNER, 5)
    with pytest.raises(BreedError, match="Nobody has voted yet"):
        await service.finish("b1", OWNER)
    await service.votes.cast_ballot("b1", 0, 3, [2, 2, 1])
    finishing = await service.finish("b1", OWNER)
    assert finishing.winner == 2 and (finishing.breed.status, finishing.breed.winner) == ("evolving", 2)
    finish = (await jobs(store))[-1]
    assert (finish.kind, finish.generation, finish.candidate) == ("finish", 0, 2)


async def test_a_finish_may_name_an_earlier_generation_whose_votes_then_count(service, store) -> None:
    await voting_breed(service)
    await service.votes.cast_ballot("b1", 0, 0, [3])
    await service.close_voting("b1", OWNER)
    await write_generation(store, 1)
    await service.results.generation_ready("b1", 1, _no_post)
    finishing = await service.finish("b1", OWNER, generation=0)
    assert finishing.winner == 3
    assert ((await jobs(store))[-1].generation, (await jobs(store))[-1].candidate) == (0, 3)


async def _no_post(breed: Breed, shown: Generation, deadline: float) -> None:
    return None


async def test_finishing_posts_the_winner_once_then_ends_the_breed(service, store) -> None:
    await voting_breed(service)
    await service.finish("b1", OWNER, 3)
    posted = []

    async def post(breed: Breed, number: int, winner: int) -> None:
        posted.append((number, winner))

    assert await service.results.winner_ready("b1", 0, post)
    assert not await service.results.winner_ready("b1", 0, post)
    assert posted == [(0, 2)]
    assert (await service.get("b1")).status == "finished" and await store.breeds.open_breeds() == []


async def test_a_morph_request_sends_a_morph_job_of_the_generation_up_for_votes(service, store) -> None:
    breed = await voting_breed(service, generation=2)
    assert await service.request_morph("b1", 4, 1, 6) == (3, 0)
    morph = (await jobs(store))[-1]
    assert (morph.kind, morph.generation, morph.candidate, morph.other, morph.steps) == ("morph", 2, 3, 0, 6)
    assert await store.breeds.get("b1") == breed


@pytest.mark.parametrize("start, end, steps, message", [
    (2, 2, 5, "A morph goes from one candidate to another: pick two different ones."),
    (0, 2, 5, "There is no candidate 0: this breed has 1 to 4."),
    (1, 5, 5, "There is no candidate 5: this breed has 1 to 4."),
    (1, 2, 9, "A morph takes 2 to 8 steps, not 9."),
])
async def test_a_morph_between_candidates_that_do_not_make_one_is_refused(
    service, store, start: int, end: int, steps: int, message: str
) -> None:
    await voting_breed(service)
    with pytest.raises(BreedError) as refused:
        await service.request_morph("b1", start, end, steps)
    assert str(refused.value) == message
    assert [job.kind for job in await jobs(store)] == ["start"]


async def test_a_posted_morph_is_not_asked_for_again_but_a_failed_one_is(service, store) -> None:
    await voting_breed(service)
    await store.posts.mark_posted("b1", 0, morph_marker(0, 2))
    with pytest.raises(BreedError, match="The morph from candidate 1 to candidate 3 of generation 1 is in the thread"):
        await service.request_morph("b1", 1, 3, 5)
    await store.posts.mark_posted("b1", 0, morph_marker(2, 0, failed=True))
    await service.request_morph("b1", 3, 1, 5)
    assert not await store.posts.is_posted("b1", 0, morph_marker(2, 0, failed=True))  # its failure may be told again
    assert [(job.kind, job.candidate, job.other) for job in (await jobs(store))[1:]] == [("morph", 2, 0)]


async def test_a_failed_step_reopens_voting_and_a_failed_start_fails_the_breed(service, store) -> None:
    await voting_breed(service)
    await service.finish("b1", OWNER, 2)
    told = []

    async def post(before: Breed, after: Breed) -> None:
        told.append((before.status, after.status))

    reopened = await service.results.step_failed("b1", post)
    assert reopened is not None and (reopened.status, reopened.winner, reopened.vote_deadline) == (
        "voting", None, None)
    assert await service.results.step_failed("b1", post) is None  # voting again: not a failed step
    await store.breeds.create(Breed("b2", 1, BreedParams(), status="starting", front="discord"))
    failed = await service.results.step_failed("b2", post)
    assert failed is not None and failed.status == "failed"
    assert told == [("evolving", "voting"), ("starting", "failed")]


async def test_sigma_changes_for_open_breeds_within_its_range(service) -> None:
    await voting_breed(service)
    assert (await service.set_sigma("b1", OWNER, 0.1)).params.sigma == 0.1
    with pytest.raises(BreedError, match="mutation sigma must be between 0 and 1"):
        await service.set_sigma("b1", OWNER, 1.5)
    await service.stop("b1", OWNER)
    with pytest.raises(BreedError, match="This breed was stopped."):
        await service.set_sigma("b1", OWNER, 0.2)


async def test_a_breed_is_found_by_id_or_by_its_thread(service) -> None:
    await new_breed(service)
    assert (await service.find(" B1 ", None)).breed_id == "b1"
    assert (await service.find(None, 7)).breed_id == "b1"
    with pytest.raises(UnknownBreedError, match="There is no breed `zz`."):
        await service.find("zz", 7)
    with pytest.raises(UnknownBreedError, match="There is no breed `b1`."):
        await service.find("b1", 7, guild_id=12)  # another server's breed is no breed here
    with pytest.raises(BreedError, match="Use this command in a breed's thread") as refused:
        await service.find(None, 12345)
    assert not isinstance(refused.value, UnknownBreedError)


async def test_files_come_in_order_with_the_missing_and_too_large_named(service, store) -> None:
    await new_breed(service)
    await store.breeds.add_artifacts("b1", 0, {"a": b"1", "b": b"12345"})
    files = await service.results.files("b1", 0, ["a", "b", "c"], max_bytes=4)
    assert files.found == (("a", b"1"),) and files.missing == ("b", "c")


async def test_presses_racing_each_other_close_the_vote_once(service, store) -> None:
    import asyncio

    await voting_breed(service)
    results = await asyncio.gather(*(service.close_voting("b1", OWNER) for _ in range(6)), return_exceptions=True)
    assert sum(not isinstance(result, Exception) for result in results) == 1
    assert all(isinstance(r, BreedError) for r in results if isinstance(r, Exception))
    assert [job.kind for job in await jobs(store)] == ["start", "evolve"]


async def test_two_processes_closing_one_vote_announce_and_enqueue_it_once(redis_client, redis_url) -> None:
    import asyncio

    from storage import BreedStore, connect

    store = await on_redis(redis_client)
    service = BreedingService(store, lambda: NOW)
    await voting_breed(service)
    other_store = BreedStore(connect(redis_url))
    other = BreedingService(other_store, lambda: NOW)  # another bot process on the same Redis
    announced: list[str] = []

    def announcer(name: str):
        async def announce(breed: Breed, fitness: tuple[int, ...]) -> int:
            announced.append(name)
            await asyncio.sleep(0.05)  # a Discord post takes a while: the other process must wait
            return 1

        return announce

    try:
        results = await asyncio.gather(
            service.close_voting("b1", None, generation=0, announce=announcer("first")),
            other.close_voting("b1", None, generation=0, announce=announcer("second")),
            return_exceptions=True,
        )
    finally:
        await other_store.close()
    assert len(announced) == 1
    assert sorted(type(result).__name__ for result in results) == ["BreedError", "Transition"]
    assert [job.kind for job in await jobs(store)] == ["start", "evolve"]
    assert await store.redis.exists(lock_key("b1")) == 0  # released by its holder


async def test_a_lock_left_by_a_dead_process_frees_itself_when_its_lease_ends(redis_client) -> None:
    store = await on_redis(redis_client)
    await store.redis.set(lock_key("b9"), b"dead-holder", px=200)
    async with store.locks.breed_lock("b9", wait_s=5):
        assert await store.redis.get(lock_key("b9")) != b"dead-holder"
