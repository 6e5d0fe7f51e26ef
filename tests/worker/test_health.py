"""A worker process serves /healthz, /readyz and /metrics on METRICS_PORT: ready once its model is loaded and
its group joined, not ready while Redis is away, and its jobs, stages and streams counted with labels from the
contract's sets only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from domain.jobs import StartJob
from runtime import metrics
from runtime.redis_server import free_port
from storage import BreedStore, connect
from tests.conftest import RedisServerFactory
from tests.support.waiting import wait_for
from tests.support.worker_jobs import new_breed, worker_process

pytestmark = pytest.mark.slow

ALLOWED = {"kind": metrics.JOB_KINDS, "outcome": metrics.JOB_OUTCOMES, "stage": metrics.STAGES,
           "stream": metrics.STREAMS, "group": metrics.GROUPS}


async def get(url: str) -> tuple[int, str]:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, await response.text()
    except aiohttp.ClientConnectionError:
        return 0, ""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


async def test_a_worker_process_is_ready_only_while_redis_answers_and_counts_its_jobs(
    redis_server_factory: RedisServerFactory, tmp_path: Path,
) -> None:
    server = redis_server_factory(tmp_path / "redis", port=free_port())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = worker_process(server.url, "health-worker", METRICS_PORT=str(port), DATA_DIR=str(tmp_path / "data"))
    store = BreedStore(connect(server.url))
    try:
        async def answers(path: str, status: int) -> bool:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            return (await get(base + path))[0] == status

        await wait_for(lambda: answers("/healthz", 200), timeout=120, what="the worker's /healthz")
        await wait_for(lambda: answers("/readyz", 200), timeout=180, what="the worker to be ready")
        status, body = await get(base + "/readyz")
        assert json.loads(body) == {"ready": True, "checks": {"model": "ok", "redis": "ok", "group": "ok"}}

        breed = await new_breed(store, population=4, foreign=1)
        await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))

        async def generation_written() -> bool:
            return await store.breeds.get_generation(breed.breed_id, 0) is not None

        await wait_for(generation_written, timeout=120, what="generation 1")

        async def counted() -> bool:
            text = (await get(base + "/metrics"))[1]
            return samples(text).get(("melody_jobs_total", (("kind", "start"), ("outcome", "done")))) == 1

        await wait_for(counted, what="the start job counted")
        status, text = await get(base + "/metrics")
        scraped = samples(text)
        for stage in ("decode", "render", "write"):
            assert scraped[("melody_stage_seconds_count", (("stage", stage),))] == 1
        assert scraped[("melody_job_seconds_count", (("kind", "start"),))] == 1
        assert scraped[("melody_stream_length", (("stream", "jobs"),))] == 1  # acknowledged, not trimmed yet
        assert scraped[("melody_stream_pending", (("group", "workers"), ("stream", "jobs")))] == 0
        assert scraped[("melody_stream_lag", (("group", "workers"), ("stream", "jobs")))] == 0
        assert scraped[("melody_redis_roundtrip_seconds_count", ())] >= 2  # a PING per /readyz that answered
        # Labels hold only the contract's values: no breed id, consumer name, address or text.
        for (name, labels), _value in scraped.items():
            for label, value in labels:
                if label != "le":
                    assert value in ALLOWED[label], (name, label, value)
        assert breed.breed_id not in text and "health-worker" not in text

        server.stop()
        await wait_for(lambda: answers("/readyz", 503), what="/readyz to answer 503 without Redis")
        status, body = await get(base + "/readyz")
        checks = json.loads(body)["checks"]
        assert checks["redis"].startswith("failed") and checks["model"] == "ok"
        assert server.password not in body
        assert await get(base + "/healthz") == (200, "ok")  # alive: only not ready
        assert (await get(base + "/metrics"))[0] == 200  # the gauges keep their last values

        server.start()
        await wait_for(lambda: answers("/readyz", 200), timeout=90, what="/readyz to answer 200 with Redis back")
    finally:
        await store.close()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


async def test_a_worker_whose_port_is_taken_still_does_its_jobs(
    redis_server_factory: RedisServerFactory, tmp_path: Path,
) -> None:
    import socket

    server = redis_server_factory(tmp_path / "redis", port=free_port())
    store = BreedStore(connect(server.url))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = worker_process(server.url, "no-port-worker", METRICS_PORT=str(port), LOG_LEVEL="WARNING",
                                 DATA_DIR=str(tmp_path / "data"))
        try:
            await store.streams.ensure_groups()
            breed = await new_breed(store, population=4, foreign=1)
            await store.streams.jobs.enqueue_job(StartJob(breed.breed_id))

            async def generation_written() -> bool:
                assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
                return await store.breeds.get_generation(breed.breed_id, 0) is not None

            await wait_for(generation_written, timeout=180, what="generation 1 from the worker without its port")
        finally:
            process.terminate()
            process.wait(timeout=30)
            output = process.stdout.read().decode() if process.stdout else ""
            if process.stdout:
                process.stdout.close()
            await store.close()
    assert f"no /metrics, /healthz or /readyz: cannot listen on 127.0.0.1:{port} (Address already in use)" in output
