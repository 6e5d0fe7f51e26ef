"""The web page as an attacker drives it: the real page on a real port, with a real worker beside it.

Another web site in the same browser, a host name rebound to 127.0.0.1, floods of streams and nudges,
huge bodies, made-up ids and numbers: each is refused with one line and a 4xx, and changes nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest

from service.nudges import MAX_NUDGES_PER_MEMBER
from storage import BreedStore
from storage.streams import JOBS
from tests.support.web import running_page, started
from web.access import MAX_FORM_BYTES, MAX_JSON_BYTES
from web.server import WebServer

pytestmark = pytest.mark.slow

EVIL = "https://evil.example"


@pytest.fixture
async def page(redis_url: str, store: BreedStore, worker) -> AsyncIterator[WebServer]:
    """The page as `make run` serves it: loopback, no login, the default caps."""
    async for server in running_page(redis_url, "web-abuse"):
        yield server


async def test_twelve_cross_site_posts_start_no_breed(page: WebServer, store: BreedStore) -> None:
    bodies: list[dict[str, object]] = [{"data": b"population=4", "headers": {"Content-Type": "text/plain"}},
                                       {"data": {"population": "4"}}, {"json": {"population": 4}}]
    async with aiohttp.ClientSession() as session:
        statuses = []
        for i in range(12):
            body = dict(bodies[i % len(bodies)])
            # A cross-site fetch or form names its origin; a few browsers send only the Referer.
            origin = {"Origin": EVIL} if i % 4 else {"Referer": f"{EVIL}/melodies.html"}
            headers = {**body.pop("headers", {}), **origin}
            async with session.post(f"{page.url}/api/breeds", **body, headers=headers) as response:
                statuses.append(response.status)
    assert statuses == [403] * 12
    assert await store.breeds.open_breeds() == [] and await store.redis.xlen(JOBS) == 0


async def test_a_rebound_host_name_reaches_nothing(page: WebServer, store: BreedStore) -> None:
    rebound = f"melodies.evil.example:{page.port}"  # resolves to 127.0.0.1 for the attacker's page
    async with aiohttp.ClientSession() as session:
        for method, path in (("GET", "/"), ("GET", "/api/breeds"), ("POST", "/api/breeds")):
            async with session.request(method, f"{page.url}{path}", json={},
                                       headers={"Host": rebound, "Origin": f"http://{rebound}"}) as response:
                assert response.status == 421
                assert await response.json() == {"error": "This page answers only at its own address."}
    assert await store.breeds.open_breeds() == []


async def test_300_event_streams_from_one_client_stop_at_its_cap(page: WebServer, store: BreedStore) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        breed_id = await started(session, page.url, store)
        events = f"{page.url}/api/breeds/{breed_id}/events"
        responses = await asyncio.gather(*(session.get(events) for _ in range(300)))
        try:
            statuses = Counter(response.status for response in responses)
            refusals = {(await r.json())["error"] for r in responses if r.status == 429}
        finally:
            for response in responses:
                response.close()
    assert statuses == {200: page.access.max_streams_per_client, 429: 300 - page.access.max_streams_per_client}
    assert len(refusals) == 1 and next(iter(refusals)).startswith("Too many open pages: you have 20 streams")


async def test_a_nudge_flood_is_capped(page: WebServer, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, page.url, store)
        statuses = []
        for i in range(300):
            body = {"generation": 0, "attribute": "density", "amount": 1 + (i % 2)}
            async with session.post(f"{page.url}/api/breeds/{breed_id}/nudges", json=body) as response:
                statuses.append(response.status)
                if response.status == 429:
                    refusal = (await response.json())["error"]
    assert statuses == [200] * MAX_NUDGES_PER_MEMBER + [429] * (300 - MAX_NUDGES_PER_MEMBER)
    assert refusal == (f"You have nudged generation 1 {MAX_NUDGES_PER_MEMBER} times, the most one member may: "
                       "vote, or wait for the next generation.")
    assert len(await store.nudges.read(breed_id, 0)) == MAX_NUDGES_PER_MEMBER


async def _chunks(total: int):
    for _ in range(total // 4096):
        yield b"9" * 4096


async def test_huge_bodies_are_refused_unread(page: WebServer, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, page.url, store)
        votes = f"{page.url}/api/breeds/{breed_id}/votes"
        json_type = {"Content-Type": "application/json"}
        for body in (b'{"generation": 0, "picks": [' + b"0," * (5 * 1024 * 1024) + b"0]}",  # with its length
                     _chunks(MAX_JSON_BYTES * 8)):  # chunked: no length said up front
            async with session.post(votes, data=body, headers=json_type) as response:
                assert response.status == 413
                assert await response.json() == {"error": f"The request is too large (at most "
                                                          f"{MAX_JSON_BYTES // 1024} KiB)."}
        form = aiohttp.FormData()
        form.add_field("melody", b"MThd" + b"\0" * (MAX_FORM_BYTES + 1024), filename="huge.mid")
        async with session.post(f"{page.url}/api/breeds", data=form) as response:
            assert response.status == 413
    assert await store.votes.tally(breed_id, 0, 4) == [0, 0, 0, 0]
    assert len(await store.breeds.open_breeds()) == 1


async def test_made_up_ids_are_not_found(page: WebServer, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, page.url, store)
        for path in (f"/api/breeds/{breed_id}:gen:0:nudges", f"/api/breeds/{breed_id}:gen:0", "/api/breeds/²",
                     "/api/breeds/" + "a" * 5000, f"/api/breeds/{breed_id}/files/1²/clip-1.ogg",
                     f"/api/breeds/{breed_id}/files/{'9' * 5000}/clip-1.ogg", "/api/tunes/²/events",
                     f"/api/tunes/{breed_id}:x"):
            async with session.get(f"{page.url}{path}") as response:
                assert response.status == 404, path
                assert set(await response.json()) == {"error"}


async def test_huge_numbers_are_out_of_range(page: WebServer, store: BreedStore) -> None:
    huge = "9" * 5000
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, page.url, store)
        api = f"{page.url}/api/breeds/{breed_id}"
        for path, body in ((f"{api}/votes", f'{{"generation": 0, "picks": [{huge}]}}'),
                           (f"{api}/finish", f'{{"candidate": -{huge}}}'),
                           (f"{api}/morph", f'{{"start": 1, "end": 2, "steps": {huge}}}'),
                           (f"{api}/sigma", '{"sigma": -1e999}'),
                           (f"{page.url}/api/breeds", f'{{"population": {huge}}}'),
                           (f"{page.url}/api/tunes", f'{{"melody": "{breed_id}-g1-1", "bars": {huge}}}')):
            async with session.post(path, data=body, headers={"Content-Type": "application/json"}) as response:
                assert response.status == 400, path
                assert await response.json() == {"error": "A number in the request is out of range."}
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("tempo", huge)
        async with session.post(f"{page.url}/api/breeds", data=form) as response:
            assert response.status == 400
            assert await response.json() == {"error": "Cannot start: tempo is out of range."}
    assert (await store.breeds.get(breed_id)).status == "voting"
    assert len(await store.breeds.open_breeds()) == 1
