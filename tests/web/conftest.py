"""Fixtures of the web page's tests: the page over the session's real Redis, with a real worker."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator

import pytest

from domain.model import BreedParams
from service.connection import open_service
from storage import BreedStore
from web.access import Access
from web.server import WebServer

CHROMIUM = shutil.which("chromium")


async def running_page(redis_url: str, consumer: str, access: Access | None = None,
                       **service_options: object) -> AsyncIterator[WebServer]:
    """A web page on a free loopback port over its own service, small breeds (4 candidates); `access`: its
    login, proxy and caps (default: none, as `make run` on loopback)."""
    service = open_service(redis_url, time.time, BreedParams(population=4, foreign=1), **service_options)
    server = WebServer(service, "127.0.0.1", 0, consumer=consumer, access=access)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        await service.close()


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
