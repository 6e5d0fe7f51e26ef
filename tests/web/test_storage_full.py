"""A full Redis on the web page: a refused start or step is one line (507) and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from service.errors import STORAGE_FULL_TEXT
from storage import BreedStore
from storage.streams import JOBS
from tests.support.storage_full import fill
from tests.support.web import running_page
from web.server import WebServer


@pytest.fixture
def redis_url(redis_server_factory) -> Iterator[str]:
    """This module's Redis may hold 16 MB: a test fills it up."""
    yield redis_server_factory(maxmemory="16mb", appendonly=False).url


@pytest.fixture
async def page(redis_url: str, store: BreedStore) -> AsyncIterator[WebServer]:
    async for server in running_page(redis_url, "web-full"):
        yield server


async def test_a_full_store_refuses_starts_and_steps_in_one_line(page: WebServer, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{page.url}/api/breeds", data={}) as response:
            assert response.status == 201
            breed_id = (await response.json())["breed_id"]
        before = await store.breeds.get(breed_id)
        jobs = await store.redis.xlen(JOBS)
        await fill(store.redis)
        for path in ("/api/breeds", f"/api/breeds/{breed_id}/stop"):
            async with session.post(f"{page.url}{path}", data={}) as response:
                assert response.status == 507, path
                assert await response.json() == {"error": STORAGE_FULL_TEXT}
    assert await store.breeds.get(breed_id) == before
    assert len(await store.breeds.open_breeds()) == 1 and await store.redis.xlen(JOBS) == jobs
