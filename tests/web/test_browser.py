"""The web page in a real browser (Debian's chromium, headless): breed from generation 1 to a downloaded winner."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.model import Note
from engine.midi import melody_to_midi, midi_to_notes
from storage import BreedStore
from tests.support.web import WAIT_MS

pytestmark = pytest.mark.slow


async def test_a_person_breeds_in_the_browser_from_generation_one_to_a_downloaded_winner(
    web_server, browser, store: BreedStore, tmp_path: Path
) -> None:
    page = await browser.new_page(viewport={"width": 390, "height": 844}, accept_downloads=True)  # phone width
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(web_server.url)

    # Start: the form's options come from the server; a start goes to the breed's own URL.
    await page.get_by_label("Candidates per generation").fill("4")
    await page.get_by_role("button", name="Start breeding").click()
    await page.wait_for_url("**/b/*", timeout=WAIT_MS)
    breed_id = page.url.rsplit("/", 1)[1]
    await page.get_by_role("heading", name=f"Breed {breed_id}: generation 1").wait_for(timeout=WAIT_MS)
    assert await page.locator(".card").count() == 4
    countdown = await page.locator("#deadline").inner_text()  # the default vote window: 3 minutes
    assert re.match(r"The vote window closes by itself in (3:00|2:[0-5]\d);", countdown), countdown
    assert await page.locator(".card .id").first.inner_text() == f"{breed_id}-g1-1"
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll

    # Listen: the clip loads and has a duration; space plays the card in focus.
    audio = page.locator(".card audio").first
    loaded = "a => new Promise(done => a.readyState >= 1 ? done() : a.addEventListener('loadedmetadata', done))"
    await audio.evaluate(loaded)
    duration = await audio.evaluate("a => a.duration")
    assert 1.0 < duration < 10.0
    await page.locator(".card").first.focus()
    await page.keyboard.press("Space")
    await page.wait_for_function("() => !document.querySelector('.card audio').paused", timeout=WAIT_MS)

    # Vote: a click, and number keys (twice for 3); the votes reach the breed.
    await page.get_by_role("button", name="Vote for candidate 2").click()
    await page.locator("body").click(position={"x": 5, "y": 5})
    await page.keyboard.press("3")
    await page.keyboard.press("3")
    await page.locator(".card").nth(2).locator(".votes", has_text="2 votes").wait_for(timeout=WAIT_MS)
    assert await store.votes.tally(breed_id, 0, 4) == [0, 1, 2, 0]

    # Next: generation 2 appears without a reload (server-sent events), bred from those votes.
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    await page.get_by_role("button", name="Next generation").click()
    await page.get_by_role("heading", name=f"Breed {breed_id}: generation 2").wait_for(timeout=WAIT_MS)
    assert navigations == []
    assert (await store.breeds.get_generation(breed_id, 1)).fitness == (0, 1, 2, 0)
    screenshot = tmp_path / "generation.png"
    await page.set_viewport_size({"width": 1200, "height": 900})
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    # Finish with the favourite, then download the winner's MIDI: it parses back to the winner.
    await page.get_by_role("button", name="Vote for candidate 4").click()
    await page.locator(".card").nth(3).locator(".votes", has_text="1 vote").wait_for(timeout=WAIT_MS)
    assert await page.get_by_label("Finish with").input_value() == ""  # the favourite
    await page.get_by_role("button", name="Finish", exact=True).click()
    link = page.get_by_role("link", name="Download MIDI file")
    await link.wait_for(timeout=WAIT_MS)
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    saved = tmp_path / "winner.mid"
    await download.save_as(str(saved))
    winner = midi_to_notes(saved.read_bytes())
    expected = (await store.breeds.get_generation(breed_id, 1)).melodies[3]
    assert [(n.pitch, n.start, n.end) for n in winner] == [(n.pitch, n.start, n.end) for n in expected]
    assert (await store.breeds.get(breed_id)).status == "finished"
    assert await page.locator(".card.winner").get_attribute("aria-label") == "Candidate 4, the winner"
    assert await page.get_by_role("link", name="start a new breed around it").get_attribute("href") == (
        f"/?from={breed_id}-g2-4")
    assert errors == []


async def test_a_refusal_is_one_line_on_the_page_and_a_reload_finds_the_breed(
    web_server, browser, store: BreedStore
) -> None:
    page = await browser.new_page()
    await page.goto(web_server.url)
    # Each field's range is the browser's to check; what only holds between fields is the service's.
    assert await page.get_by_label("Tempo (BPM)").get_attribute("max") == "240"
    await page.get_by_label("Candidates per generation").fill("3")
    await page.get_by_label("Fresh random candidates").fill("3")
    await page.get_by_role("button", name="Start breeding").click()
    alert = page.get_by_role("alert")
    await alert.wait_for(timeout=WAIT_MS)
    assert await alert.inner_text() == "Cannot start: foreign count must be at least 0 and below the population."
    assert await store.breeds.open_breeds() == []

    await page.get_by_label("Candidates per generation").fill("4")
    await page.get_by_label("Fresh random candidates").fill("1")
    melody_file = page.get_by_label("Start from your own melody (MIDI, optional)")
    await melody_file.set_input_files(files=[{"name": "broken.mid", "mimeType": "audio/midi", "buffer": b"MThd\x00"}])
    await page.get_by_role("button", name="Start breeding").click()
    await page.get_by_role("alert").filter(has_text="`broken.mid` cannot be used").wait_for(timeout=WAIT_MS)
    assert await store.breeds.open_breeds() == []

    # A good upload: candidate 1 is that melody.
    seed = [Note(60, 0, 4), Note(64, 4, 8), Note(67, 8, 16), Note(72, 16, 32)]
    midi = melody_to_midi(seed, tempo=120, instrument=0)
    await melody_file.set_input_files(files=[{"name": "mine.mid", "mimeType": "audio/midi", "buffer": midi}])
    await page.get_by_role("button", name="Start breeding").click()
    await page.wait_for_url("**/b/*", timeout=WAIT_MS)
    await page.locator(".card").first.wait_for(timeout=WAIT_MS)
    assert await page.locator(".card .origin").first.inner_text() == "from the seed melody"
    await page.get_by_role("button", name="Finish", exact=True).click()
    await alert.wait_for(timeout=WAIT_MS)
    assert "Nobody has voted yet" in await alert.inner_text()
    await page.reload()
    await page.locator(".card").first.wait_for(timeout=WAIT_MS)
    assert await page.locator(".card").count() == 4

    # Stop, once confirmed: the breed is over, without a winner.
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Stop this breed").click()
    await page.get_by_role("status").filter(has_text="This breed is stopped.").wait_for(timeout=WAIT_MS)
    assert (await store.breeds.get(page.url.rsplit("/", 1)[1])).status == "stopped"


async def test_the_finish_plays_the_tune_with_its_files_and_makes_another_from_a_melody_id(
    web_server, browser, store: BreedStore,
) -> None:
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(web_server.url)
    await page.get_by_label("Backing").select_option("band")
    await page.get_by_label("Tune at the finish").select_option("16")
    await page.get_by_role("button", name="Start breeding").click()
    await page.wait_for_url("**/b/*", timeout=WAIT_MS)
    breed_id = page.url.rsplit("/", 1)[1]
    await page.get_by_role("heading", name=f"Breed {breed_id}: generation 1").wait_for(timeout=WAIT_MS)
    assert ((await store.breeds.get(breed_id)).params.backing, (await store.breeds.get(breed_id)).params.bars) == (
        "band", 16)

    await page.get_by_label("Finish with").select_option("2")
    await page.get_by_role("button", name="Finish", exact=True).click()
    player = page.get_by_label("Play the tune")
    await player.wait_for(timeout=WAIT_MS)
    loaded = "a => new Promise(done => a.readyState >= 1 ? done() : a.addEventListener('loadedmetadata', done))"
    await player.evaluate(loaded)
    assert await player.evaluate("a => a.duration") > 12 * 4 * 60 / 120  # 16 bars at 120 BPM, not 8
    for words, name in (("the tune's MIDI file", "tune.mid"), ("the tune's audio", "tune.ogg"),
                        ("the tune's piano roll", "tune.png")):
        link = page.get_by_role("link", name=f"Download {words}")
        assert await link.get_attribute("href") == f"/api/breeds/{breed_id}/files/0/{name}"
    assert await page.get_by_label("Melody id to make a tune from").input_value() == f"{breed_id}-g1-2"

    # Make a tune from another candidate, without backing: it plays on the page once made.
    await page.get_by_label("Melody id to make a tune from").fill(f"{breed_id}-g1-4")
    await page.get_by_label("Backing", exact=True).select_option("none")
    await page.get_by_role("button", name="Make a tune").click()
    made = page.locator("#tunes figure audio")
    await made.wait_for(timeout=WAIT_MS)
    assert "Tune from" in await page.locator("#tunes figcaption").inner_text()
    assert await page.locator("#tunes a", has_text="tune.mid").count() == 1
    assert errors == []
