"""A page only its owner steers: its own Host, changes from its own page, a login off loopback, a proxy
believed only when trusted, a cap per client, security headers, and bad ids and numbers refused at the edge."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from domain.limits import ServerLimits
from storage import BreedStore
from storage.streams import JOBS
from tests.support.waiting import wait_for
from tests.support.web import WAIT_MS, running_page, started
from web import access as access_module
from web.access import CONTENT_SECURITY_POLICY, SESSION_COOKIE, WRONG_TOKEN_WINDOW_S, WRONG_TOKENS, Access
from web.server import WebServer

pytestmark = pytest.mark.slow

TOKEN = "correct-horse-battery-staple"
EVIL = "http://evil.example"
LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.fixture
async def logged(redis_url: str, store: BreedStore, worker) -> AsyncIterator[WebServer]:
    """A page with an access token (on loopback: a login may guard any page)."""
    async for server in running_page(redis_url, "web-login", Access("127.0.0.1", token=TOKEN)):
        yield server


@pytest.fixture
async def proxied(redis_url: str, store: BreedStore, worker) -> AsyncIterator[WebServer]:
    """A page behind a reverse proxy on this computer (127.0.0.1), with its limits on, as a proxy needs."""
    access = Access("127.0.0.1", token=TOKEN, trusted_proxy=LOOPBACK)
    async for server in running_page(redis_url, "web-proxied", access,
                                     limits=ServerLimits(open_per_server=10, open_per_member=2, tune_cooldown_s=60)):
        yield server


def browser_like() -> aiohttp.ClientSession:
    """A client that keeps cookies of an address like a browser does (aiohttp's keeps only host names')."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def log_in(session: aiohttp.ClientSession, url: str, token: str = TOKEN, **headers: str) -> int:
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("token", token)
    async with session.post(f"{url}/login", data=form, headers=headers) as response:
        return response.status


async def test_every_answer_carries_the_security_headers(web_server: WebServer) -> None:
    async with aiohttp.ClientSession() as session:
        for path in ("/", "/b/ab12cd34", "/static/breed.js", "/api/options", "/api/breeds/nothing", "/login"):
            async with session.get(f"{web_server.url}{path}") as response:
                headers = response.headers
            assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
            assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY", path
            assert headers["Referrer-Policy"] == "same-origin", path
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY


async def test_a_change_from_another_web_site_is_refused_and_starts_nothing(
    web_server: WebServer, store: BreedStore,
) -> None:
    url = web_server.url
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("population", "4")
    async with aiohttp.ClientSession() as session:
        for headers, body in (
            ({"Origin": EVIL, "Content-Type": "text/plain"}, {"data": b"population=4"}),
            ({"Origin": EVIL}, {"data": {"population": "4"}}),  # a form, urlencoded
            ({"Origin": EVIL}, {"data": form}),  # the page's own kind of form, from elsewhere
            ({"Origin": EVIL}, {"json": {"population": 4}}),
            ({"Origin": "null"}, {"json": {}}),  # a sandboxed frame
            ({"Referer": f"{EVIL}/page"}, {"json": {}}),
        ):
            async with session.post(f"{url}/api/breeds", headers=headers, **body) as response:
                assert response.status == 403, headers
                assert await response.json() == {"error": "Refused: this request comes from another web site."}
        # Without Origin, a body that is neither JSON nor the page's form is refused too.
        async with session.post(f"{url}/api/breeds", data=b"population=4",
                                headers={"Content-Type": "text/plain"}) as response:
            assert response.status == 415
        assert await store.breeds.open_breeds() == [] and await store.redis.xlen(JOBS) == 0
        async with session.post(f"{url}/api/breeds", json={}, headers={"Origin": url}) as response:
            assert response.status == 201  # the page's own origin


async def test_a_request_for_another_host_name_is_refused(web_server: WebServer, store: BreedStore) -> None:
    port = web_server.port
    async with aiohttp.ClientSession() as session:
        for method, host in (("GET", f"rebound.example:{port}"), ("POST", f"rebound.example:{port}"),
                             ("GET", "127.0.0.1.nip.io")):
            async with session.request(method, f"{web_server.url}/api/breeds", json={},
                                       headers={"Host": host, "Origin": f"http://{host}"}) as response:
                assert response.status == 421
                assert await response.json() == {"error": "This page answers only at its own address."}
        async with session.get(f"{web_server.url}/api/options", headers={"Host": f"localhost:{port}"}) as response:
            assert response.status == 200
    assert await store.breeds.open_breeds() == []


@pytest.mark.parametrize("environment, arguments", [
    ({}, ["web", "--host", "0.0.0.0"]),
    ({"WEB_HOST": "192.0.2.1"}, ["run"]),
    ({"WEB_TRUSTED_PROXY": "127.0.0.1"}, ["web"]),
])
def test_an_exposed_page_refuses_to_start_without_a_login(tmp_path: Path, environment: dict[str, str],
                                                          arguments: list[str]) -> None:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), **environment}
    env.pop("WEB_ACCESS_TOKEN", None)
    result = subprocess.run([sys.executable, "-m", "entrypoints.cli", *arguments], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "needs a login: set WEB_ACCESS_TOKEN" in line and "or listen on 127.0.0.1" in line
    assert not (tmp_path / "data" / "redis").exists()  # nothing started
    with pytest.raises(ValueError, match="needs a login"):
        Access("0.0.0.0")


def test_a_short_token_is_refused_and_a_login_is_enough_off_loopback() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        Access("0.0.0.0", token="1234")
    Access("0.0.0.0", token=TOKEN)


def test_the_settings_make_the_pages_access_and_a_proxied_page_has_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from entrypoints.web_cmd import page_access
    from runtime.settings import CommonSettings

    for name, value in (("WEB_ACCESS_TOKEN", TOKEN), ("WEB_TRUSTED_PROXY", "127.0.0.1"),
                        ("WEB_ALLOWED_HOSTS", "Melodies.example, other.example"), ("WEB_MAX_STREAMS_PER_CLIENT", "5")):
        monkeypatch.setenv(name, value)
    settings = CommonSettings(_env_file=None)
    access = page_access(settings, "127.0.0.1")
    assert isinstance(access, Access)
    assert (access.token, access.trusted_proxy, access.max_streams_per_client) == (TOKEN, LOOPBACK, 5)
    assert access.answers_at("melodies.example") and not access.answers_at("melodies.example.evil")
    assert settings.web_limits("127.0.0.1") is not None  # behind a proxy, the limits hold
    assert TOKEN not in repr(settings)
    monkeypatch.delenv("WEB_ACCESS_TOKEN")
    assert "needs a login" in str(page_access(CommonSettings(_env_file=None), "127.0.0.1"))


async def test_the_access_token_once_then_the_cookie_keeps_the_login(logged: WebServer, store: BreedStore) -> None:
    url = logged.url
    async with browser_like() as session:
        async with session.get(f"{url}/api/breeds") as response:
            assert response.status == 401 and (await response.json())["error"].startswith("Log in first")
        async with session.post(f"{url}/api/breeds", json={}) as response:
            assert response.status == 401
        async with session.get(f"{url}/b/ab12cd34", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == "/login?next=/b/ab12cd34"
        assert await log_in(session, url, "not-the-token-at-all") == 401
        assert await log_in(session, url) == 200
        [cookie] = [c for c in session.cookie_jar if c.key == SESSION_COOKIE]
        assert TOKEN not in cookie.value and cookie["httponly"]
        async with session.post(f"{url}/api/breeds", json={}) as response:
            assert response.status == 201
    assert len(await store.breeds.open_breeds()) == 1


async def test_wrong_tokens_in_a_row_make_a_client_wait(logged: WebServer) -> None:
    async with aiohttp.ClientSession() as session:
        answers = [await log_in(session, logged.url, f"guess-number-{i:04d}") for i in range(WRONG_TOKENS + 1)]
        assert answers == [401] * WRONG_TOKENS + [429]
        assert await log_in(session, logged.url) == 429  # even the right one, until the wait is over


def test_the_wrong_tokens_of_many_addresses_are_forgotten_once_their_wait_is_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(access_module, "MAX_WRONG_TOKEN_CLIENTS", 3)
    access = Access("127.0.0.1", token=TOKEN)
    for client in range(3):
        access.wrong_token(client, now=0.0)
    access.wrong_token(3, now=WRONG_TOKEN_WINDOW_S + 1)  # the first three have waited long enough
    assert access.may_try_token(3, now=WRONG_TOKEN_WINDOW_S + 1) == 0.0
    assert sorted(access._wrong) == [3]
    assert access.may_try_token(3, now=3 * WRONG_TOKEN_WINDOW_S) == 0.0
    assert access._wrong == {}  # a client whose wait is over keeps no entry


async def test_a_proxied_request_is_never_the_local_owner(web_server: WebServer, store: BreedStore) -> None:
    url = web_server.url
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, url, store)  # the person at this computer's breed
        async with session.post(f"{url}/api/breeds/{breed_id}/stop", json={},
                                headers={"X-Forwarded-For": "203.0.113.5"}) as response:
            assert response.status == 403
            assert (await response.json())["error"].startswith("A proxied request: set WEB_TRUSTED_PROXY")
    assert (await store.breeds.get(breed_id)).status == "voting"


async def test_through_the_trusted_proxy_each_client_is_its_own(proxied: WebServer, store: BreedStore) -> None:
    url = proxied.url
    alice, bob = {"X-Forwarded-For": "198.51.100.7"}, {"X-Forwarded-For": "10.0.0.1, 203.0.113.9"}
    async with browser_like() as as_alice, browser_like() as as_bob:
        assert await log_in(as_alice, url, **alice) == 200 and await log_in(as_bob, url, **bob) == 200
        async with as_alice.post(f"{url}/api/breeds", json={}, headers=alice) as response:
            breed_id = (await response.json())["breed_id"]
        breed = await store.breeds.get(breed_id)
        assert breed.owner_id == int(ipaddress.ip_address("198.51.100.7"))
        async with as_bob.post(f"{url}/api/breeds/{breed_id}/stop", json={}, headers=bob) as response:
            assert response.status == 400  # bob (the proxy's last hop, 203.0.113.9) does not own it

        # Each client has its own tune cooldown (bob asks for another length: the same tune is made once).
        melody = await _first_melody(store, breed_id)
        answers = []
        for session, headers, bars in ((as_alice, alice, 8), (as_alice, alice, 16), (as_bob, bob, 16)):
            async with session.post(f"{url}/api/tunes", json={"melody": melody, "bars": bars},
                                    headers=headers) as response:
                answers.append((response.status, (await response.json()).get("error", "")))
    assert [status for status, _ in answers] == [202, 400, 202]
    assert answers[1][1].startswith("Slow down: you can ask for another tune in")


async def _first_melody(store: BreedStore, breed_id: str) -> str:
    async def voting() -> bool:
        return (await store.breeds.get(breed_id)).status == "voting"

    await wait_for(voting, timeout=120, what=f"generation 1 of breed {breed_id}")
    return f"{breed_id}-g1-1"


@pytest.fixture
async def few_streams(redis_url: str, store: BreedStore, worker) -> AsyncIterator[WebServer]:
    """A page whose clients may each have 3 streams of updates open."""
    async for server in running_page(redis_url, "web-streams", Access("127.0.0.1", max_streams_per_client=3)):
        yield server


async def test_a_client_has_at_most_its_cap_of_event_streams(few_streams: WebServer, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, few_streams.url, store)
        events = f"{few_streams.url}/api/breeds/{breed_id}/events"
        streams = [await session.get(events) for _ in range(3)]
        assert [s.status for s in streams] == [200, 200, 200]
        async with session.get(events) as refused:
            assert refused.status == 429 and (await refused.json())["error"].startswith("Too many open pages")
        streams.pop().close()  # a page closed: another may open

        async def reopened() -> bool:
            async with session.get(events) as again:
                return again.status == 200

        await wait_for(reopened, timeout=30, what="a stream after one closed")
        for stream in streams:
            stream.close()


async def test_bad_ids_are_not_found_and_huge_numbers_are_out_of_range(web_server: WebServer,
                                                                      store: BreedStore) -> None:
    url = web_server.url
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, url, store)
        for path in (f"/api/breeds/{breed_id}:gen:0:nudges", "/api/breeds/%C2%B2", "/api/breeds/²/events",
                     f"/api/breeds/{breed_id}/files/²/clip-1.ogg", "/api/tunes/²", "/api/tunes/a:b/files/tune.mid"):
            async with session.get(f"{url}{path}") as response:
                assert response.status == 404, path
                assert "Something went wrong" not in (await response.json())["error"]
        api = f"{url}/api/breeds/{breed_id}"
        huge = "9" * 5000
        for path, body in (("/votes", f'{{"generation": {huge}, "picks": [0]}}'),
                           ("/sigma", '{"sigma": 1e999}'), ("/sigma", '{"sigma": NaN}'),
                           ("/nudges", f'{{"generation": 0, "attribute": "density", "amount": -{huge}}}')):
            async with session.post(f"{api}{path}", data=body,
                                    headers={"Content-Type": "application/json"}) as response:
                assert response.status == 400, (path, body[:40])
                assert await response.json() == {"error": "A number in the request is out of range."}
        async with session.post(f"{url}/api/breeds", json={"tempo": 10**30}) as response:
            assert response.status == 400
    assert (await store.breeds.get(breed_id)).params.sigma == 0.5
    assert await store.nudges.read(breed_id, 0) == []


async def test_a_person_logs_in_once_in_the_browser_and_the_page_keeps_working_under_its_policy(
    logged: WebServer, browser, store: BreedStore,
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text
            else None)
    await page.goto(f"{logged.url}/")
    await page.wait_for_url("**/login?next=/", timeout=WAIT_MS)
    await page.get_by_label("Access token").fill("a wrong token, typed")
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("alert").filter(has_text="That is not the access token.").wait_for(timeout=WAIT_MS)
    await page.get_by_label("Access token").fill(TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("button", name="Start breeding").wait_for(timeout=WAIT_MS)
    await page.get_by_role("button", name="Start breeding").click()
    await page.wait_for_url("**/b/*", timeout=WAIT_MS)
    breed_id = page.url.rsplit("/", 1)[1]
    await page.get_by_role("heading", name=f"Breed {breed_id}: generation 1").wait_for(timeout=WAIT_MS)
    await page.get_by_role("button", name="Vote for candidate 2").click()
    await page.locator(".card").nth(1).locator(".votes", has_text="1 vote").wait_for(timeout=WAIT_MS)

    # Another tab of the same browser: the cookie keeps the login, no token asked again.
    again = await context.new_page()
    await again.goto(f"{logged.url}/b/{breed_id}")
    await again.get_by_role("heading", name=f"Breed {breed_id}: generation 1").wait_for(timeout=WAIT_MS)
    assert "/login" not in again.url
    assert problems == []
    await context.close()
