"""An exposed web page has limits: open breeds and a start cooldown per client, a cap on all; JSON or 415."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from domain.limits import ServerLimits
from domain.model import BreedParams
from storage import BreedStore
from tests.support.web import running_page
from web.server import WebServer


def limited_page(redis_url: str, limits: ServerLimits) -> AsyncIterator[WebServer]:
    return running_page(redis_url, "web-limits", limits=limits)


@pytest.fixture
async def capped(redis_url: str, store: BreedStore) -> AsyncIterator[WebServer]:
    async for server in limited_page(redis_url, ServerLimits(open_per_server=3, open_per_member=2)):
        yield server


@pytest.fixture
async def cooled(redis_url: str, store: BreedStore) -> AsyncIterator[WebServer]:
    async for server in limited_page(redis_url, ServerLimits(open_per_server=10, open_per_member=10,
                                                             start_cooldown_s=60)):
        yield server


async def post_start(session: aiohttp.ClientSession, url: str, **kwargs: object) -> tuple[int, dict]:
    async with session.post(f"{url}/api/breeds", **kwargs) as response:
        return response.status, await response.json()


async def test_four_starts_in_a_row_stop_at_the_clients_limit(capped: WebServer, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        answers = [await post_start(session, capped.url, data={}) for _ in range(4)]
    assert [status for status, _ in answers] == [201, 201, 400, 400]
    assert answers[2][1] == {"error": "You have 2 open breeds, the most one member may have at once: "
                                      "finish or stop one first."}
    assert len(await store.breeds.open_breeds()) == 2


async def test_the_page_as_a_whole_has_a_cap_on_open_breeds(capped: WebServer, store: BreedStore) -> None:
    for owner in (7, 8, 9):  # breeds other clients started
        await capped.service.start(owner_id=owner, params=BreedParams(population=4), front="web")
    async with aiohttp.ClientSession() as session:
        status, answer = await post_start(session, capped.url, data={})
    assert status == 400 and answer["error"].startswith("This page has 3 open breeds, the most it may have at once")
    assert len(await store.breeds.open_breeds()) == 3


async def test_a_client_waits_between_two_starts(cooled: WebServer, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        first = await post_start(session, cooled.url, data={})
        second = await post_start(session, cooled.url, data={})
    assert first[0] == 201
    assert second == (400, {"error": "Slow down: you can start another breed in 60 s."})


async def test_a_json_body_is_read_and_another_body_is_refused(cooled: WebServer, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        status, answer = await post_start(session, cooled.url, json={"population": 5, "tempo": 90})
        assert status == 201
        breed = await store.breeds.get(answer["breed_id"])
        assert (breed.params.population, breed.params.tempo) == (5, 90)
        status, answer = await post_start(session, cooled.url, data=b"population=5",
                                          headers={"Content-Type": "text/plain"})
    assert status == 415 and answer == {"error": "Send the request as JSON (or with the page's own form)."}
    assert len(await store.breeds.open_breeds()) == 1
