"""The web page's API: every refusal one line, nothing changed; the page only serves its own breeds."""

from __future__ import annotations

import time

import aiohttp
import pytest

from domain.model import Breed, BreedParams
from storage import BreedStore
from storage.streams import JOBS
from tests.support.web import started

pytestmark = pytest.mark.slow


async def test_bad_requests_get_one_line_and_change_nothing(web_server, store: BreedStore) -> None:
    url = web_server.url
    async with aiohttp.ClientSession() as session:
        for options, error in (
            ({"population": "11"}, "Cannot start: population must be between 2 and 10."),
            ({"tempo": "fast"}, "Cannot start: tempo must be a number, not `fast`."),
            ({"population": "3", "foreign": "3"},
             "Cannot start: foreign count must be at least 0 and below the population."),
        ):
            async with session.post(f"{url}/api/breeds", json=options) as response:
                assert response.status == 400 and (await response.json()) == {"error": error}
        form = aiohttp.FormData()
        form.add_field("melody", b"MThd\x00\x00\x00\x06\x00", filename="broken.mid")
        async with session.post(f"{url}/api/breeds", data=form) as response:
            answer = await response.json()
            assert response.status == 400 and answer["error"].startswith("`broken.mid` cannot be used: ")
        assert await store.breeds.open_breeds() == [] and await store.redis.xlen(JOBS) == 0

        breed_id = await started(session, url, store)
        before = await store.breeds.get(breed_id)
        api = f"{url}/api/breeds/{breed_id}"
        for path, body, status, error in (
            ("/votes", {"generation": 0, "picks": [9]}, 400, "Cannot vote: no candidate 10: candidates are 1 to 4."),
            ("/votes", {"generation": 4, "picks": [0]}, 400, "Generation 5 is not up for votes; generation 1 is."),
            ("/votes", {"generation": 0, "picks": "all"}, 400, "`picks` must be a list of candidate numbers."),
            ("/sigma", {"sigma": 3}, 400, "Cannot change the mutation: mutation sigma must be between 0 and 1."),
            ("/finish", {}, 400, "Nobody has voted yet: vote first, or name the candidate you like."),
            ("/morph", {"start": 1, "end": 1}, 400,
             "A morph goes from one candidate to another: pick two different ones."),
        ):
            async with session.post(f"{api}{path}", json=body) as response:
                assert (response.status, await response.json()) == (status, {"error": error}), path
        async with session.post(f"{api}/votes", data=b"{not json", headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400 and (await r.json()) == {"error": "The request is not JSON."}
        assert await store.breeds.get(breed_id) == before
        assert await store.votes.tally(breed_id, 0, 4) == [0, 0, 0, 0]


async def test_the_page_serves_only_its_own_breeds_and_their_files(web_server, store: BreedStore) -> None:
    await store.breeds.create(Breed("discord1", 5, BreedParams(), guild_id=1, thread_id=2, generation=0,
                                    front="discord"))
    await store.breeds.add_artifacts("discord1", 0, {"clip-1.ogg": b"OggS"})
    async with aiohttp.ClientSession() as session:
        for path in ("/api/breeds/discord1", "/api/breeds/discord1/files/0/clip-1.ogg", "/b/discord1"):
            async with session.get(f"{web_server.url}{path}") as response:
                if path.startswith("/b/"):
                    assert response.status == 200  # the page itself, which then says there is no such breed
                    continue
                assert response.status == 404 and (await response.json()) == {"error": "There is no breed `discord1`."}
        breed_id = await started(session, web_server.url, store)
        for name in ("../../etc/passwd", "model.ckpt.index", "clip-1.wav"):
            async with session.get(f"{web_server.url}/api/breeds/{breed_id}/files/0/{name}") as response:
                assert response.status == 404
        async with session.get(f"{web_server.url}/api/breeds/{breed_id}/files/0/clip-1.ogg") as response:
            assert response.status == 200 and response.content_type == "audio/ogg"
            assert (await response.read()).startswith(b"OggS")


async def test_a_clip_is_served_by_the_byte_ranges_a_browser_asks_for(web_server, store: BreedStore) -> None:
    # A browser reads an Ogg Opus clip's duration from its last page, which it asks for by a Range.
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, web_server.url, store)
        url = f"{web_server.url}/api/breeds/{breed_id}/files/0/clip-1.ogg"
        async with session.get(url) as response:
            whole = await response.read()
            assert response.status == 200 and response.headers["Accept-Ranges"] == "bytes"
        size = len(whole)
        async with session.get(url, headers={"Range": "bytes=-100"}) as response:
            assert response.status == 206 and await response.read() == whole[-100:]
            assert response.headers["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"
        async with session.get(url, headers={"Range": "bytes=4-9"}) as response:
            assert response.status == 206 and await response.read() == whole[4:10]
        async with session.get(url, headers={"Range": f"bytes={size}-"}) as response:
            assert response.status == 416
            assert (await response.json()) == {"error": "That part of the file is not there."}


async def test_the_page_listens_on_loopback_unless_told_otherwise() -> None:
    from runtime.settings import CommonSettings

    settings = CommonSettings(_env_file=None)
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 8765)


async def test_a_morph_asked_on_the_page_is_pushed_to_it_and_served(web_server, store: BreedStore) -> None:
    import asyncio
    import json

    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, web_server.url, store)
        api = f"{web_server.url}/api/breeds/{breed_id}"
        async with session.get(f"{api}/events", timeout=aiohttp.ClientTimeout(total=90)) as events:
            assert (await events.content.readline()).startswith(b"event: hello")
            async with session.post(f"{api}/morph", json={"start": 1, "end": 3, "steps": 4}) as response:
                assert response.status == 202 and await response.json() == {"start": 0, "end": 2}
            pushed = None
            while pushed is None or pushed.get("type") != "morph":
                line = await asyncio.wait_for(events.content.readline(), 60)
                if line.startswith(b"data: "):
                    pushed = json.loads(line[6:])
        assert pushed == {"type": "morph", "generation": 0, "start": 0, "end": 2, "failed": False, "message": None}
        async with session.get(api) as response:
            state = await response.json()
        assert state["morphs"] == [{"start": 0, "end": 2, "audio": "morph-1-3.ogg", "midi": "morph-1-3.mid"}]
        async with session.get(f"{api}/files/0/morph-1-3.ogg") as response:
            assert response.status == 200 and (await response.read()).startswith(b"OggS")


async def test_a_breed_starts_around_a_melody_of_the_page_never_around_a_discord_one(
    web_server, store: BreedStore
) -> None:
    await store.breeds.create(Breed("discord1", 5, BreedParams(), guild_id=1, thread_id=2, generation=0,
                                    front="discord"))
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{web_server.url}/api/breeds", json={"from": "discord1-g1-1"}) as response:
            assert response.status == 400
            assert (await response.json())["error"].startswith("That melody was bred on Discord")
        async with session.post(f"{web_server.url}/api/breeds", json={"from": "nonsense"}) as response:
            assert response.status == 400 and "is not a melody id" in (await response.json())["error"]
        assert [b.breed_id for b in await store.breeds.open_breeds()] == ["discord1"]

        first = await started(session, web_server.url, store, tempo="90", instrument="73")
        async with session.get(f"{web_server.url}/api/options", params={"from": f"{first}-g1-2"}) as response:
            defaults = (await response.json())["defaults"]
            assert (defaults["tempo"], defaults["instrument"]) == (90, 73)
        branch = await started(session, web_server.url, store, **{"from": f"{first}-g1-2"})
        async with session.get(f"{web_server.url}/api/breeds/{branch}") as response:
            state = await response.json()
        assert state["source"] == f"{first}-g1-2"
        assert (state["params"]["tempo"], state["params"]["instrument"]) == (90, 73)
        assert state["candidates"][0]["operators"][0] == "seed"


async def test_stopping_the_page_ends_the_open_pages_streams_at_once(redis_url: str, store: BreedStore) -> None:
    import asyncio

    from service.connection import open_service
    from web.server import WebServer

    await store.breeds.create(Breed("webpage1", 0, BreedParams(), front="web"))
    service = open_service(redis_url, time.time, BreedParams())
    server = WebServer(service, "127.0.0.1", 0, consumer="web-stop-test")
    await server.start()
    try:
        url = f"{server.url}/api/breeds/webpage1/events"
        async with aiohttp.ClientSession() as session, session.get(url) as events:
            assert (await events.content.readline()).startswith(b"event: hello")
            # Well under aiohttp's own wait for requests under way (60 s): the stream is ended, not waited for.
            await asyncio.wait_for(server.stop(), 15)
            await asyncio.wait_for(events.content.read(), 5)
            assert events.content.at_eof()
    finally:
        await service.close()
