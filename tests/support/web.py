"""Starting breeds through the web page's API, and how long the browser waits, for the web page's tests."""

from __future__ import annotations

import aiohttp

from storage import BreedStore
from tests.support.waiting import wait_for

# How long the browser waits for what the page shows (ms): generous, a loaded machine renders slowly.
WAIT_MS = 60_000


async def started(session: aiohttp.ClientSession, url: str, store: BreedStore, **options: str) -> str:
    """Start a breed with `options` through the API; its id, once generation 1 is up for votes."""
    async with session.post(f"{url}/api/breeds", json=options) as response:
        assert response.status == 201, await response.text()
        breed_id = (await response.json())["breed_id"]

    async def voting() -> bool:
        return (await store.breeds.get(breed_id)).status == "voting"

    await wait_for(voting, timeout=120, what=f"generation 1 of breed {breed_id}")
    return breed_id
