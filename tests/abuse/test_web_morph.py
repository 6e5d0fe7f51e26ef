"""The web page's morph: thirty POSTs of one pair queue one job, and a page's cooldown holds for its morphs."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from domain.jobs import StartJob
from domain.limits import ServerLimits
from domain.model import BreedParams
from service.connection import open_service
from service.queue import QUEUE_FULL
from storage import BreedStore
from storage.codec import load_job
from storage.streams import JOBS
from tests.support.web import started
from web.server import WebServer

pytestmark = pytest.mark.slow


async def _morph_jobs(store: BreedStore) -> int:
    return sum(1 for _id, fields in await store.redis.xrange(JOBS) if load_job(fields[b"payload"]).kind == "morph")


@pytest.mark.parametrize("limits", [None, ServerLimits(morph_cooldown_s=60)], ids=["loopback", "with a cooldown"])
async def test_thirty_posts_of_one_morph_queue_one_job(redis_url: str, store: BreedStore, worker,
                                                       limits: ServerLimits | None) -> None:
    service = open_service(redis_url, time.time, BreedParams(population=4, foreign=1), limits=limits)
    server = WebServer(service, "127.0.0.1", 0, consumer="web-abuse")
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            breed_id = await started(session, server.url, store)
            api = f"{server.url}/api/breeds/{breed_id}/morph"

            async def post(start: int, end: int) -> tuple[int, dict[str, object]]:
                async with session.post(api, json={"start": start, "end": end, "steps": 4}) as response:
                    return response.status, await response.json()

            answers = await asyncio.gather(*(post(1, 3) for _ in range(30)))
            assert sorted(status for status, _ in answers).count(202) == 1, answers
            for status, answer in answers:
                if status != 202:
                    assert status == 400 and "\n" not in str(answer["error"])
            assert await _morph_jobs(store) == 1
            other_pair = await post(2, 4)
        if limits is None:
            assert other_pair[0] == 202  # one person on loopback: no wait
        else:
            assert other_pair[0] == 400 and str(other_pair[1]["error"]).startswith("Slow down")
    finally:
        await server.stop()
        await service.close()


async def test_new_work_is_answered_503_in_one_line_while_the_queue_is_full(redis_url: str, store: BreedStore) -> None:
    service = open_service(redis_url, time.time, BreedParams(population=4, foreign=1), max_queued_jobs=1)
    await service.prepare()
    await store.streams.jobs.enqueue_job(StartJob("waiting"))  # no worker runs: it stays queued
    server = WebServer(service, "127.0.0.1", 0, consumer="web-full")
    await server.start()
    try:
        async with aiohttp.ClientSession() as session, session.post(f"{server.url}/api/breeds", json={}) as response:
            assert (response.status, await response.json()) == (503, {"error": QUEUE_FULL})
        assert await store.breeds.open_breeds() == []
    finally:
        await server.stop()
        await service.close()
