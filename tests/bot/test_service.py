"""The breeding service over the real Redis store: transitions, votes, jobs, refusals."""

from __future__ import annotations

import dataclasses

import pytest

from domain.errors import BreedError
from domain.model import Breed, BreedParams
from service.breeding import BreedingService, morph_marker, refusal
from storage import BreedStore, keys
from storage.codec import Job, load_job

NOW = 1_800_000_000.0
VOTE_MESSAGE = 5001


@pytest.fixture
def service(store: BreedStore) -> BreedingService:
    return BreedingService(store, lambda: NOW)


async def new_breed(service: BreedingService, **params: object) -> Breed:
    return await service.create(
        breed_id="b1", owner_id=1, params=BreedParams(population=4, **params), guild_id=9, channel_id=8,  # type: ignore[arg-type]
        thread_id=7, progress_message_id=6,
    )


async def voting_breed(service: BreedingService, generation: int = 0, **params: object) -> Breed:
    breed = await new_breed(service, **params)
    breed = await service.store.update_breed(breed.breed_id, generation=generation)
    return await service.open_voting(breed, generation, service.deadline(breed), VOTE_MESSAGE)


async def jobs(store: BreedStore) -> list[Job]:
    return [load_job(fields[b"payload"]) for _id, fields in await store.redis.xrange(keys.JOBS)]


# --- which action is possible when ------------------------------------------------------------

CASES = [
    ("voting", None, "close", None),
    ("voting", None, "finish", None),
    ("starting", None, "close", "Generation 1 is still being made; vote once it is posted."),
    ("evolving", None, "close", "Voting is closed already; the next generation is on its way."),
    ("evolving", 2, "finish", "The winner is being rendered already."),
    ("finished", 2, "close", "This breed is finished."),
    ("stopped", None, "finish", "This breed was stopped."),
    ("evolving", None, "stop", None),
    ("starting", None, "sigma", None),
    ("finished", 1, "stop", "This breed is finished."),
    ("failed", None, "sigma", "This breed failed; start a new one with /breed start."),
    ("starting", None, "post", None),
    ("evolving", None, "post", None),
    ("evolving", 1, "post", "no step in progress"),
    ("voting", None, "post", "no step in progress"),
    ("evolving", 1, "finished", None),
    ("evolving", None, "finished", "no finish in progress"),
    ("voting", None, "morph", None),
    ("starting", None, "morph", "Generation 1 is still being made; morph between its candidates once it is posted."),
    ("evolving", None, "morph", "The next generation is on its way; morph between its candidates once it is posted."),
    ("evolving", 2, "morph", "The winner is being rendered; morphs are made while a generation is up for votes."),
    ("finished", 2, "morph", "This breed is finished."),
    ("stopped", None, "morph", "This breed was stopped."),
]


@pytest.mark.parametrize("status, winner, action, expected", CASES)
def test_each_action_is_allowed_only_in_its_states(
    status: str, winner: int | None, action: str, expected: str | None
) -> None:
    breed = Breed("b1", 1, BreedParams(), status=status, winner=winner)
    assert refusal(breed, action) == expected


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        refusal(Breed("b1", 1, BreedParams()), "dance")


# --- options ---------------------------------------------------------------------------------


def test_options_not_given_keep_the_defaults() -> None:
    defaults = BreedParams(population=6, sigma=0.3)
    assert BreedingService.params(defaults, population=None, sigma=None) == defaults
    assert BreedingService.params(defaults, sigma=0.9, tempo=80) == dataclasses.replace(defaults, sigma=0.9, tempo=80)


@pytest.mark.parametrize("choices, message", [
    ({"population": 3, "foreign": 3}, "Cannot start: foreign count must be at least 0 and below the population."),
    ({"vote_minutes": 0.0}, "Cannot start: vote window must be between 0 and 1440 minutes."),
    ({"instrument": 128}, "Cannot start: instrument must be a General MIDI program 0-127."),
    ({"strategy": "greedy"}, "Cannot start: strategy must be one of classic, elitist."),
])
def test_options_that_do_not_fit_together_are_refused_with_the_reason(choices: dict, message: str) -> None:
    with pytest.raises(BreedError) as refused:
        BreedingService.params(BreedParams(), **choices)
    assert str(refused.value) == message


# --- lifecycle --------------------------------------------------------------------------------


async def test_creating_a_breed_stores_it_and_asks_for_the_first_generation(service, store) -> None:
    breed = await service.create(
        breed_id="b1", owner_id=1, params=BreedParams(population=4), guild_id=9, channel_id=8, thread_id=7,
        progress_message_id=6, seed=b"MThd-seed",
    )
    assert await store.get_breed("b1") == breed
    assert (breed.status, breed.generation, breed.created_at) == ("starting", -1, NOW)
    assert await store.breed_for_thread(7) == "b1"
    [start] = await jobs(store)
    assert (start.type, start.generation) == ("start", -1)
    assert await store.load_upload(start.seed_midi_key) == b"MThd-seed"


async def test_opening_a_vote_sets_the_deadline_and_links_the_vote_message(service, store) -> None:
    breed = await voting_breed(service, vote_minutes=2.5)
    assert (breed.status, breed.vote_deadline, breed.progress_message_id) == ("voting", NOW + 150, VOTE_MESSAGE)
    assert await store.message_target(VOTE_MESSAGE) == ("b1", 0)
    with pytest.raises(BreedError):
        await service.open_voting(breed, 0, NOW, VOTE_MESSAGE)


async def test_closing_a_vote_sends_the_votes_as_fitness_with_the_current_sigma(service, store) -> None:
    breed = await voting_breed(service, sigma=0.3)
    fitness = await service.tally(breed, {1: {10, 11}, 3: {10}})
    closed = await service.close_voting(breed, fitness, progress_message_id=6001)

    assert (closed.status, closed.vote_deadline, closed.progress_message_id) == ("evolving", None, 6001)
    evolve = (await jobs(store))[-1]
    assert (evolve.type, evolve.generation, evolve.fitness, evolve.sigma) == ("evolve", 0, (0, 2, 0, 1), 0.3)
    with pytest.raises(BreedError, match="Voting is closed already"):
        await service.close_voting(closed, fitness, 6002)


async def test_votes_read_from_discord_replace_the_mirror(service, store) -> None:
    breed = await voting_breed(service)
    await store.add_vote("b1", 0, 0, 10)
    assert await service.tally(breed) == (1, 0, 0, 0)
    assert await service.tally(breed, {2: {11, 12}}) == (0, 0, 2, 0)
    assert await service.tally(breed) == (0, 0, 2, 0)


async def test_reactions_are_mirrored_only_for_the_open_vote_of_the_current_generation(service, store) -> None:
    breed = await voting_breed(service, generation=1)
    await store.link_message(4000, "b1", 0)  # generation 1's old vote message

    assert await service.record_vote(VOTE_MESSAGE, "2️⃣", 10, added=True)
    assert not await service.record_vote(VOTE_MESSAGE, "2️⃣", 10, added=True)  # one vote per person and candidate
    assert await service.record_vote(VOTE_MESSAGE, "1️⃣", 10, added=True)
    assert not await service.record_vote(VOTE_MESSAGE, "👍", 11, added=True)
    assert not await service.record_vote(VOTE_MESSAGE, "5️⃣", 11, added=True)  # only 4 candidates
    assert not await service.record_vote(4000, "3️⃣", 11, added=True)
    assert not await service.record_vote(9999, "3️⃣", 11, added=True)
    assert await service.tally(breed) == (1, 1, 0, 0)

    assert await service.record_vote(VOTE_MESSAGE, "1️⃣", 10, added=False)
    assert await service.tally(breed) == (0, 1, 0, 0)

    await service.close_voting(breed, (0, 1, 0, 0), 6001)
    assert not await service.record_vote(VOTE_MESSAGE, "3️⃣", 12, added=True)


async def test_the_winner_is_the_named_candidate_or_the_top_voted(service) -> None:
    breed = await voting_breed(service)
    assert service.choose_winner(breed, 4, ()) == 3
    assert service.choose_winner(breed, None, (0, 2, 3, 0)) == 2
    with pytest.raises(BreedError, match="There is no candidate 5: this breed has 1 to 4."):
        service.choose_winner(breed, 5, ())
    with pytest.raises(BreedError, match="Nobody has voted yet"):
        service.choose_winner(breed, None, (0, 0, 0, 0))


async def test_finishing_asks_for_the_winners_files_then_ends_the_breed(service, store) -> None:
    breed = await voting_breed(service)
    finishing = await service.begin_finish(breed, 2, progress_message_id=6001)
    assert (finishing.status, finishing.winner) == ("evolving", 2)
    finish = (await jobs(store))[-1]
    assert (finish.type, finish.generation, finish.candidate) == ("finish", 0, 2)
    done = await service.mark_finished(finishing)
    assert done.status == "finished" and await store.open_breeds() == []


async def test_a_morph_request_sends_a_morph_job_of_the_generation_up_for_votes(service, store) -> None:
    breed = await voting_breed(service, generation=2)
    assert await service.request_morph(breed, 4, 1, 6) == (3, 0)
    morph = (await jobs(store))[-1]
    assert (morph.type, morph.generation, morph.candidate, morph.other, morph.steps) == ("morph", 2, 3, 0, 6)
    assert await store.get_breed("b1") == breed


@pytest.mark.parametrize("start, end, steps, message", [
    (2, 2, 5, "A morph goes from one candidate to another: pick two different ones."),
    (0, 2, 5, "There is no candidate 0: this breed has 1 to 4."),
    (1, 5, 5, "There is no candidate 5: this breed has 1 to 4."),
    (1, 2, 9, "A morph takes 2 to 8 steps, not 9."),
])
async def test_a_morph_between_candidates_that_do_not_make_one_is_refused(
    service, store, start: int, end: int, steps: int, message: str
) -> None:
    breed = await voting_breed(service)
    with pytest.raises(BreedError) as refused:
        await service.request_morph(breed, start, end, steps)
    assert str(refused.value) == message
    assert [job.type for job in await jobs(store)] == ["start"]


async def test_a_posted_morph_is_not_asked_for_again_but_a_failed_one_is(service, store) -> None:
    breed = await voting_breed(service)
    await store.mark_posted("b1", 0, morph_marker(0, 2))
    with pytest.raises(BreedError, match="The morph from candidate 1 to candidate 3 of generation 1 is in the thread"):
        await service.request_morph(breed, 1, 3, 5)
    await store.mark_posted("b1", 0, morph_marker(2, 0, failed=True))
    await service.request_morph(breed, 3, 1, 5)
    assert not await store.is_posted("b1", 0, morph_marker(2, 0, failed=True))  # its failure may be told again
    assert [(job.type, job.candidate, job.other) for job in await jobs(store)][1:] == [("morph", 2, 0)]


async def test_a_failed_step_reopens_voting_and_a_failed_start_fails_the_breed(service, store) -> None:
    breed = await voting_breed(service)
    finishing = await service.begin_finish(breed, 1, 6001)
    reopened = await service.step_failed(finishing)
    assert (reopened.status, reopened.winner, reopened.vote_deadline) == ("voting", None, None)

    await store.create_breed(Breed("b2", 1, BreedParams(), status="starting"))
    failed = await service.step_failed(await service.get("b2"))
    assert failed.status == "failed"


async def test_sigma_changes_for_open_breeds_within_its_range(service) -> None:
    breed = await voting_breed(service)
    assert (await service.set_sigma(breed, 0.1)).params.sigma == 0.1
    with pytest.raises(BreedError, match="mutation sigma must be between 0 and 1"):
        await service.set_sigma(breed, 1.5)
    stopped = await service.stop(breed)
    with pytest.raises(BreedError, match="This breed was stopped."):
        await service.set_sigma(stopped, 0.2)


async def test_a_breed_is_found_by_id_or_by_its_thread(service) -> None:
    await new_breed(service)
    assert (await service.find(" B1 ", None)).breed_id == "b1"
    assert (await service.find(None, 7)).breed_id == "b1"
    with pytest.raises(BreedError, match="There is no breed `zz`."):
        await service.find("zz", 7)
    with pytest.raises(BreedError, match="Use this command in a breed's thread"):
        await service.find(None, 12345)
