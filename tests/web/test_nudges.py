"""Nudges on the web page: the API counts them, shows them, refuses bad ones in one line; the page's
controls send them; the closed vote's job carries them to the worker."""

from __future__ import annotations

import aiohttp
import pytest

from storage import BreedStore
from storage.codec import load_job
from storage.streams import JOBS
from tests.support.web import WAIT_MS, started

pytestmark = pytest.mark.slow


async def evolve_jobs(store: BreedStore, breed_id: str):
    jobs = [load_job(fields[b"payload"]) for _id, fields in await store.redis.xrange(JOBS)]
    return [job for job in jobs if job.subject_id == breed_id and job.kind == "evolve"]


async def test_the_api_counts_nudges_and_the_next_generation_gets_them(web_server, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, web_server.url, store)
        api = f"{web_server.url}/api/breeds/{breed_id}"
        for body, error in (
            ({"generation": 0, "attribute": "loudness", "amount": 1},
             "There is no attribute `loudness` to nudge: choose one of density, register, leaps, syncopation, range."),
            ({"generation": 0, "attribute": "density", "amount": 2.5},
             "A nudge's amount must be between -2 and 2, not 2.5."),
            ({"generation": 0, "attribute": "density", "amount": "less"},
             "`amount` must be a number between -2 and 2."),
            ({"generation": 3, "attribute": "density", "amount": 1},
             "Generation 4 is not up for votes; generation 1 is."),
        ):
            async with session.post(f"{api}/nudges", json=body) as response:
                assert response.status == 400 and await response.json() == {"error": error}
        assert await store.nudges.read(breed_id, 0) == []

        async with session.post(f"{api}/nudges", json={"generation": 0, "attribute": "register", "amount": 1.5}) as r:
            assert await r.json() == {"nudged": "higher 1.5", "nudges": "higher 1.5"}
        async with session.get(api) as response:
            shown = await response.json()
        assert shown["nudges"] == "higher 1.5" and shown["nudge_limits"] == [-2.0, 2.0]
        assert [a["name"] for a in shown["attributes"]] == ["density", "register", "leaps", "syncopation", "range"]
        async with session.post(f"{api}/votes", json={"generation": 0, "picks": [0]}):
            pass
        async with session.post(f"{api}/next", json={}) as response:
            assert (await response.json())["nudges"] == "higher 1.5"
        [evolve] = await evolve_jobs(store, breed_id)
        assert evolve.nudges == (("register", 1.5),)


async def test_a_person_nudges_with_the_pages_controls(web_server, browser, store: BreedStore) -> None:
    page = await browser.new_page()
    await page.goto(web_server.url)
    await page.get_by_role("button", name="Start breeding").click()
    await page.wait_for_url("**/b/*", timeout=WAIT_MS)
    breed_id = page.url.rsplit("/", 1)[1]
    await page.get_by_role("heading", name=f"Breed {breed_id}: generation 1").wait_for(timeout=WAIT_MS)
    await page.get_by_label("density amount").fill("-2")
    await page.locator("#nudge-density-go").click()
    await page.locator("#nudges-so-far", has_text="Nudges so far: fewer notes 2.").wait_for(timeout=WAIT_MS)
    [nudge] = await store.nudges.read(breed_id, 0)
    assert (nudge.attribute, nudge.amount) == ("density", -2.0)
    await page.get_by_label("range amount").fill("7")
    await page.locator("#nudge-range-go").click()
    await page.locator("#message", has_text="A nudge's amount must be between -2 and 2, not 7.").wait_for(
        timeout=WAIT_MS)
    assert len(await store.nudges.read(breed_id, 0)) == 1
