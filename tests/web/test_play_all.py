"""Play all on the breed page in a real browser (Debian's chromium, headless): the round in order, the keys,
and pages that play along; and the API behind playing along."""

from __future__ import annotations

import aiohttp
import pytest

from storage import BreedStore
from tests.support.web import WAIT_MS, started

pytestmark = pytest.mark.slow

PLAYING = "() => { const c = document.querySelector('.card.playing'); return c ? c.getAttribute('aria-label') : null; }"
AUDIBLE = ("() => { const a = document.querySelector('.card.playing audio'); "
           "return !!a && !a.paused && a.currentTime > 0; }")
# Jumps to the last tenth of a second of the clip playing, so that a test hears a round in seconds.
SKIP_TO_END = """() => { const a = document.querySelector('.card.playing audio');
  const jump = () => { a.currentTime = Math.max(a.duration - 0.1, 0); };
  if (a.readyState >= 1) jump(); else a.addEventListener('loadedmetadata', jump, { once: true }); }"""


async def open_page(browser, url: str, breed_id: str):
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{url}/b/{breed_id}")
    await page.locator(".card").nth(3).wait_for(timeout=WAIT_MS)
    return page, errors


async def until_heard(page, number: int) -> None:
    """Wait until candidate `number`'s card is marked as playing and its clip is heard."""
    await page.wait_for_function(f"() => ({PLAYING})() === 'Candidate {number}'", timeout=WAIT_MS)
    await page.wait_for_function(AUDIBLE, timeout=WAIT_MS)


async def test_play_all_plays_the_candidates_in_order_marking_the_card_that_plays(
    web_server, browser, store: BreedStore
) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, web_server.url, store)
    page, errors = await open_page(browser, web_server.url, breed_id)
    assert await page.evaluate(PLAYING) is None

    await page.get_by_role("button", name="Play all").click()

    heard = []
    for number in range(1, 5):
        await until_heard(page, number)
        heard.append(await page.evaluate(PLAYING))
        assert await page.locator(".card[aria-current=true]").count() == 1
        assert await page.locator("#now-playing").inner_text() == f"Playing candidate {number} of 4."
        await page.evaluate(SKIP_TO_END)
    await page.wait_for_function(f"() => ({PLAYING})() === null", timeout=WAIT_MS)
    assert heard == ["Candidate 1", "Candidate 2", "Candidate 3", "Candidate 4"]
    assert await page.locator("#now-playing").inner_text() == "Played them all."
    assert await page.evaluate("() => [...document.querySelectorAll('.card audio')].every(a => a.paused)")
    assert errors == []


async def test_space_plays_and_pauses_the_round_digits_vote_and_n_asks_for_the_next_generation(
    web_server, browser, store: BreedStore
) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, web_server.url, store)
    page, errors = await open_page(browser, web_server.url, breed_id)
    await page.locator("body").click(position={"x": 5, "y": 5})  # nothing in focus

    await page.keyboard.press("Space")  # starts the round
    await until_heard(page, 1)
    await page.keyboard.press("Space")  # pauses it, the card still marked
    await page.wait_for_function("() => document.querySelector('.card.playing audio').paused", timeout=WAIT_MS)
    assert await page.evaluate(PLAYING) == "Candidate 1"
    await page.keyboard.press("Space")  # goes on from there
    await page.wait_for_function(AUDIBLE, timeout=WAIT_MS)
    await page.evaluate(SKIP_TO_END)
    await page.wait_for_function(f"() => ({PLAYING})() === 'Candidate 2'", timeout=WAIT_MS)

    await page.keyboard.press("2")
    await page.keyboard.press("4")
    await page.locator(".card").nth(3).locator(".votes", has_text="1 vote").wait_for(timeout=WAIT_MS)
    assert await store.votes.tally(breed_id, 0, 4) == [0, 1, 0, 1]

    await page.keyboard.press("n")
    await page.get_by_role("heading", name=f"Breed {breed_id}: generation 2").wait_for(timeout=WAIT_MS)
    assert (await store.breeds.get_generation(breed_id, 1)).fitness == (0, 1, 0, 1)
    assert await page.evaluate(PLAYING) is None  # the round of generation 1 ended with it
    # Where the page offers no Next (the breed is finished), N asks for nothing.
    await page.keyboard.press("1")
    await page.locator(".card").nth(0).locator(".votes", has_text="1 vote").wait_for(timeout=WAIT_MS)
    await page.get_by_role("button", name="Finish", exact=True).click()
    await page.get_by_role("heading", name="The winner", exact=True).wait_for(timeout=WAIT_MS)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    await page.keyboard.press("n")
    await page.evaluate("() => 0")  # the key's handler has run (a request would start in it)
    assert not [url for url in asked if url.endswith("/next")] and errors == []
    assert (await store.breeds.get(breed_id)).status == "finished"


async def test_pages_that_play_along_start_the_round_when_another_page_presses_play_all(
    web_server, browser, store: BreedStore
) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, web_server.url, store)
    presser, presser_errors = await open_page(browser, web_server.url, breed_id)
    follower, follower_errors = await open_page(browser, web_server.url, breed_id)
    bystander, _ = await open_page(browser, web_server.url, breed_id)
    follow = follower.get_by_label("Play along when someone on another page presses Play all")
    assert not await follow.is_checked()  # off by default
    await follow.check()

    await presser.get_by_role("button", name="Play all").click()

    await until_heard(follower, 1)
    await presser.wait_for_function(AUDIBLE, timeout=WAIT_MS)
    assert await bystander.evaluate(PLAYING) is None
    assert await bystander.evaluate("() => [...document.querySelectorAll('audio')].every(a => a.paused)")
    assert presser_errors == follower_errors == []


async def test_announcing_play_all_is_checked_and_has_a_cooldown(web_server, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, web_server.url, store)
        api = f"{web_server.url}/api/breeds/{breed_id}"
        for body, status, error in (
            ({"generation": 0, "page": "Not An Id!"}, 400, "`page` must be the page's id."),
            ({"generation": 3, "page": "abc"}, 409, "That generation is not the newest any more: reload the page."),
            ({"page": "abc"}, 400, "`generation` must be a whole number."),
        ):
            async with session.post(f"{api}/play", json=body) as response:
                assert (response.status, await response.json()) == (status, {"error": error})
        async with session.post(f"{api}/play", json={"generation": 0, "page": "abc"}) as response:
            assert response.status == 202
        async with session.post(f"{api}/play", json={"generation": 0, "page": "abc"}) as response:
            assert (response.status, await response.json()) == (429, {"error": "Slow down: one Play all every 2 s."})
