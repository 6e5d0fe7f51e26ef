"""Breeds that end by themselves on the web page, with the real worker: a page nobody votes on any more, or
a breed at its last generation, finishes as Finish would and says why; no vote window under half a minute."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest

from engine.midi import midi_to_notes
from storage import BreedStore
from storage.streams import JOBS
from tests.support.waiting import wait_for
from tests.support.web import SMALL_BREEDS, running_page, started
from web.server import WebServer

pytestmark = pytest.mark.slow


@pytest.fixture
async def last_generation_page(redis_url: str, store: BreedStore, worker) -> AsyncIterator[WebServer]:
    """A page whose breeds end when the vote on their generation 2 closes (BREED_MAX_GENERATIONS=2)."""
    async for server in running_page(redis_url, "web-test-end", params=replace(SMALL_BREEDS, max_generations=2)):
        yield server


async def post(session: aiohttp.ClientSession, url: str, body: dict) -> dict:
    async with session.post(url, json=body) as response:
        answer = await response.json()
        assert response.status == 200, answer
        return answer


async def reached(store: BreedStore, breed_id: str, status: str, generation: int | None = None) -> None:
    async def there() -> bool:
        breed = await store.breeds.get(breed_id)
        return breed.status == status and generation in (None, breed.generation)

    await wait_for(there, timeout=120, what=f"breed {breed_id} {status}")


async def finished_state(session: aiohttp.ClientSession, api: str, store: BreedStore, breed_id: str) -> dict:
    await reached(store, breed_id, "finished")
    async with session.get(api) as response:
        return await response.json()


async def test_a_page_left_without_votes_ends_by_itself_with_the_favourite_of_the_last_votes(
    web_server, store: BreedStore,
) -> None:
    line = "This breed ended by itself after 3 rounds without a vote."
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, web_server.url, store)
        api = f"{web_server.url}/api/breeds/{breed_id}"
        await post(session, f"{api}/votes", {"generation": 0, "picks": [1, 1]})
        assert (await post(session, f"{api}/next", {}))["ended"] is None
        for number in (1, 2):
            await reached(store, breed_id, "voting", number)
            closed = await post(session, f"{api}/next", {})
            assert (closed["rerolled"], closed["ended"], closed["winner"]) == (True, None, None)
        await reached(store, breed_id, "voting", 3)

        closed = await post(session, f"{api}/next", {})

        assert (closed["rerolled"], closed["ended"], closed["winner"]) == (False, line, 1)
        async with session.get(api) as response:
            ending = await response.json()
        assert (ending["status"], ending["ended"], ending["winner"]) in [("evolving", line, 1), ("finished", line, 1)]
        state = await finished_state(session, api, store, breed_id)
        assert (state["ended"], state["winner"], state["winner_generation"]) == (line, 1, 0)
        assert state["winner_melody_id"] == f"{breed_id}-g1-2" and "winner.mid" in state["winner_files"]
        async with session.get(f"{api}/files/0/winner.mid") as response:
            assert response.status == 200
            winner = midi_to_notes(await response.read())
    first = await store.breeds.get_generation(breed_id, 0)
    assert winner == list(first.melodies[1])


async def test_the_vote_on_the_last_generation_ends_the_breed_with_its_favourite(
    last_generation_page, store: BreedStore,
) -> None:
    line = "This breed ended by itself: it reached generation 2."
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, last_generation_page.url, store)
        api = f"{last_generation_page.url}/api/breeds/{breed_id}"
        await post(session, f"{api}/votes", {"generation": 0, "picks": [0]})
        assert (await post(session, f"{api}/next", {}))["ended"] is None
        await reached(store, breed_id, "voting", 1)
        await post(session, f"{api}/votes", {"generation": 1, "picks": [3, 2, 3]})

        closed = await post(session, f"{api}/next", {})

        assert (closed["ended"], closed["winner"], closed["fitness"]) == (line, 3, [0, 0, 1, 2])
        state = await finished_state(session, api, store, breed_id)
        assert (state["ended"], state["winner"], state["winner_generation"]) == (line, 3, 1)
        assert {"winner.mid", "tune.mid"} <= set(state["winner_files"])


async def test_a_page_that_finishes_by_hand_says_no_end_reason(last_generation_page, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, last_generation_page.url, store)
        api = f"{last_generation_page.url}/api/breeds/{breed_id}"
        await post(session, f"{api}/finish", {"candidate": 2})
        state = await finished_state(session, api, store, breed_id)
        assert (state["ended"], state["winner"], state["winner_generation"]) == (None, 1, 0)


@pytest.mark.parametrize("minutes", ["0.0001", "0", "0.49"])
async def test_a_vote_window_under_half_a_minute_is_refused_in_one_line(web_server, store: BreedStore,
                                                                        minutes: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{web_server.url}/api/breeds", json={"vote_minutes": minutes}) as response:
            assert response.status == 400
            assert await response.json() == {"error": "Cannot start: vote window must be between 0.5 and 1440 "
                                                      "minutes."}
        async with session.get(f"{web_server.url}/api/options") as response:
            assert (await response.json())["limits"]["vote_minutes"] == [0.5, 1440]
    assert await store.breeds.open_breeds() == [] and await store.redis.xlen(JOBS) == 0
