"""The web page's files with a media store: a clip the folder let go is rendered again by the real worker when
the page asks for it, and Redis holds no audio or image."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from storage import BreedStore
from tests.support.media import folder_media, worker_with_media
from tests.support.web import running_page, started
from web.server import WebServer
from worker.runner import Worker

pytestmark = pytest.mark.slow


@pytest.fixture
async def media_worker(redis_url: str, store: BreedStore, media_folder: Path, melody_model,
                       renderer) -> AsyncIterator[Worker]:
    """A real worker whose media go to the folder, running beside the page."""
    async with worker_with_media(redis_url, media_folder, melody_model, renderer) as worker:
        yield worker


@pytest.fixture
async def media_page(redis_url: str, media_worker: Worker, media_folder: Path) -> AsyncIterator[WebServer]:
    """The web page over its own service, reading the same folder (another process on the same host)."""
    async for server in running_page(redis_url, "web-media", media=folder_media(media_folder)):
        yield server


async def test_a_clip_the_folder_let_go_is_rendered_again_when_the_page_asks_for_it(
    media_page: WebServer, store: BreedStore, media_folder: Path, redis_client: Redis,
) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, media_page.url, store)
        clip = f"{media_page.url}/api/breeds/{breed_id}/files/0/clip-3.ogg"
        async with session.get(clip) as response:
            assert response.status == 200
            first = await response.read()
        stored = media_folder / "breed" / breed_id / "0" / "clip-3.ogg"
        assert stored.read_bytes() == first
        stored.unlink()

        async with session.get(clip) as response:
            assert response.status == 200, await response.text()
            assert response.content_type == "audio/ogg"
            again = await response.read()
        async with session.get(f"{media_page.url}/api/breeds/{breed_id}/files/0/roll.png") as response:
            assert response.status == 200 and (await response.read()).startswith(b"\x89PNG")

    assert again.startswith(b"OggS") and stored.is_file()
    async for key in redis_client.scan_iter(count=500):
        if await redis_client.type(key) == b"string":
            assert not (await redis_client.get(key) or b"").startswith((b"OggS", b"\x89PNG")), key


async def test_a_file_whose_breed_is_gone_is_one_line_and_404(media_page: WebServer, store: BreedStore) -> None:
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, media_page.url, store)
        async with session.get(f"{media_page.url}/api/breeds/{breed_id}/files/0/clip-9.ogg") as response:
            assert response.status == 404
            assert "\n" not in (await response.text()).strip()
