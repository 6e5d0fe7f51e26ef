"""Backing and tunes on the web page's API: chosen on the start form, a tune at the finish, "Make a tune"
from any melody id of the page, refusals in one line."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from domain.model import Breed, BreedParams
from engine.midi import midi_to_notes, read_midi
from storage import BreedStore, keys
from storage.streams import JOBS
from tests.support.waiting import wait_for
from tests.support.web import started

pytestmark = pytest.mark.slow


async def test_the_start_form_offers_bars_and_backing_and_a_band_breed_finishes_with_its_tune(
    web_server, store: BreedStore,
) -> None:
    url = web_server.url
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/api/options") as response:
            options = await response.json()
        assert (options["tune_bars"], options["backings"]) == ([8, 16], ["none", "chords", "band"])
        assert options["defaults"]["bars"] == 8 and options["defaults"]["backing"] in options["backings"]
        breed_id = await started(session, url, store, backing="band", bars="16")
        api = f"{url}/api/breeds/{breed_id}"
        async with session.get(api) as response:
            assert (await response.json())["params"]["backing"] == "band"
        async with session.get(f"{api}/files/0/clip-1.mid") as response:
            assert any(track.is_drum for track in read_midi(await response.read()).instruments)
        async with session.post(f"{api}/finish", json={"candidate": 2}) as response:
            assert response.status == 200

        async def finished() -> bool:
            return (await store.breeds.get(breed_id)).status == "finished"

        await wait_for(finished, timeout=120, what=f"breed {breed_id} to finish")
        async with session.get(api) as response:
            state = await response.json()
        assert state["winner_files"][-3:] == ["tune.mid", "tune.ogg", "tune.png"]
        async with session.get(f"{api}/files/0/tune.mid") as response:
            tune = midi_to_notes(await response.read())
        winner = (await store.breeds.get_generation(breed_id, 0)).melodies[1]
        assert [n for n in tune if n.start < 32] == list(winner)
        async with session.get(f"{api}/files/0/tune.ogg") as response:
            assert response.content_type == "audio/ogg" and (await response.read()).startswith(b"OggS")


async def test_a_tune_asked_for_on_the_page_is_pushed_to_it_and_served(web_server, store: BreedStore) -> None:
    url = web_server.url
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, url, store, backing="none")
        melody = f"{breed_id}-g1-3"
        async with session.post(f"{url}/api/tunes", json={"melody": melody, "bars": 16, "backing": "chords"}) as r:
            assert r.status == 202
            tune = await r.json()
        assert (tune["melody"], tune["bars"], tune["backing"], tune["files"]) == (melody, 16, "chords", [])
        async with session.get(f"{url}{tune['url']}/events", timeout=aiohttp.ClientTimeout(total=120)) as events:
            assert (await events.content.readline()).startswith(b"event: hello")
            pushed: dict = {}
            async with session.get(f"{url}{tune['url']}") as response:
                made = (await response.json())["files"]
            while not made and pushed.get("type") != "tune":
                line = await asyncio.wait_for(events.content.readline(), 90)
                if line.startswith(b"data: "):
                    pushed = json.loads(line[6:])
        assert pushed in ({}, {"type": "tune", "failed": False, "message": None})
        async with session.get(f"{url}{tune['url']}") as response:
            assert (await response.json())["files"] == ["tune.mid", "tune.ogg", "tune.png"]
        async with session.get(f"{url}{tune['url']}/files/tune.mid") as response:
            notes = midi_to_notes(await response.read())
        candidate = (await store.breeds.get_generation(breed_id, 0)).melodies[2]
        assert [n for n in notes if n.start < 32] == list(candidate)
        async with session.get(f"{url}{tune['url']}/files/tune.png") as response:
            assert response.content_type == "image/png"


async def test_a_bad_tune_request_gets_one_line_and_changes_nothing(web_server, store: BreedStore) -> None:
    await store.breeds.create(Breed("discord1", 5, BreedParams(), guild_id=1, thread_id=2, generation=0,
                                    front="discord"))
    url = web_server.url
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, url, store)
        jobs = await store.redis.xlen(JOBS)
        for body, error in (
            ({"melody": "zzzzzzzz-g1-1"}, "There is no melody `zzzzzzzz-g1-1`: breed `zzzzzzzz` does not exist, "
                                          "or ended over 90 days ago and is no longer kept."),
            ({"melody": f"{breed_id}-g1-1", "bars": 12}, "Cannot make a tune: bars must be 8 or 16, not 12."),
            ({"melody": f"{breed_id}-g1-1", "backing": "orchestra"},
             "Cannot make a tune: backing must be one of none, chords, band, not `orchestra`."),
            ({"melody": "discord1-g1-1"},
             "That melody was bred on Discord: here you can use melodies bred on this page or in the terminal."),
            ({"bars": 8}, "`melody` must be a melody id, e.g. ab12cd34-g3-5."),
        ):
            async with session.post(f"{url}/api/tunes", json=body) as response:
                assert (response.status, await response.json()) == (400, {"error": error}), body
        async with session.get(f"{url}/api/tunes/nothing1") as response:
            assert response.status == 404
        assert await store.redis.xlen(JOBS) == jobs
        assert await store.redis.keys(f"{keys.PREFIX}tune:*") == []


async def test_a_tune_that_failed_before_the_page_listened_reads_as_failed(web_server, store: BreedStore) -> None:
    from storage.breeds import latents_key

    url = web_server.url
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, url, store, backing="none")
        await store.redis.delete(latents_key(breed_id, 0))  # the melody is no longer stored: the worker fails
        async with session.post(f"{url}/api/tunes", json={"melody": f"{breed_id}-g1-2"}) as response:
            assert response.status == 202
            tune = await response.json()
        assert tune["failed"] is None
        shown: dict = {}

        async def failed() -> bool:  # nobody listens to the tune's events: the page reads it later
            async with session.get(f"{url}{tune['url']}") as response:
                shown.update(await response.json())
            return bool(shown["failed"])

        await wait_for(failed, timeout=120, what="the tune to fail")
    assert shown["failed"] == f"The melody `{breed_id}-g1-2` is not stored any more."
    assert shown["files"] == []
