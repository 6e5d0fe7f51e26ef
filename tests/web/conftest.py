"""Fixtures of the web page's tests: the page over the session's real Redis, with a real worker."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest

from storage import BreedStore
from tests.support.web import running_page
from web.server import WebServer

CHROMIUM = shutil.which("chromium")


@pytest.fixture
async def web_server(redis_url: str, store: BreedStore, worker) -> AsyncIterator[WebServer]:
    """The web page with a real worker beside it."""
    async for server in running_page(redis_url, "web-test"):
        yield server


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    """Debian's chromium, headless, driven by Playwright (nothing is downloaded)."""
    from playwright.async_api import async_playwright

    assert CHROMIUM, "chromium is missing: `make test` installs it with apt"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        try:
            yield launched
        finally:
            await launched.close()
