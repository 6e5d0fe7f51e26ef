"""A web page for the web page's tests, starting breeds through its API, and how long the browser waits."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp

from domain.model import BreedParams
from service.connection import open_service
from storage import BreedStore
from tests.support.waiting import wait_for
from web.access import Access
from web.server import WebServer

# How long the browser waits for what the page shows (ms): generous, a loaded machine renders slowly.
WAIT_MS = 60_000
# Small breeds (4 candidates), quick to breed.
SMALL_BREEDS = BreedParams(population=4, foreign=1)


async def running_page(redis_url: str, consumer: str, access: Access | None = None,
                       params: BreedParams = SMALL_BREEDS, **service_options: object) -> AsyncIterator[WebServer]:
    """A web page on a free loopback port over its own service, its breeds `params`; `access`: its login, proxy
    and caps (default: none, as `make run` on loopback)."""
    service = open_service(redis_url, time.time, params, **service_options)
    server = WebServer(service, "127.0.0.1", 0, consumer=consumer, access=access)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        await service.close()


async def started(session: aiohttp.ClientSession, url: str, store: BreedStore, **options: str) -> str:
    """Start a breed with `options` through the API; its id, once generation 1 is up for votes."""
    async with session.post(f"{url}/api/breeds", json=options) as response:
        assert response.status == 201, await response.text()
        breed_id = (await response.json())["breed_id"]

    async def voting() -> bool:
        return (await store.breeds.get(breed_id)).status == "voting"

    await wait_for(voting, timeout=120, what=f"generation 1 of breed {breed_id}")
    return breed_id
