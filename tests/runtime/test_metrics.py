"""The metrics and health endpoints of a process: the contract's metrics, labels from fixed sets only,
/readyz following Redis, and a taken port that leaves a process running without its endpoint."""

from __future__ import annotations

import asyncio
import logging
import re
import socket

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from runtime.health import Probes, ProbeServer
from runtime.metrics import (
    DISCORD_ERROR_KINDS,
    GROUPS,
    JOB_KINDS,
    JOB_OUTCOMES,
    STAGES,
    STREAMS,
    Metrics,
    discord_error_kind,
)
from runtime.redis_server import free_port
from tests.conftest import RedisServerFactory
from tests.support.metrics import CONTRACT_FAMILIES
from tests.support.waiting import wait_for


async def scrape(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


def test_every_metric_of_the_contract_is_there_with_its_labels() -> None:
    metrics = Metrics()
    families = {family.name: family for family in text_string_to_metric_families(metrics.exposition().decode())}
    assert set(families) == set(CONTRACT_FAMILIES)
    metrics.job_done("evolve", "done", 0.3)
    metrics.stage_seconds.labels("post").observe(0.1)
    metrics.stream_length.labels("jobs").set(1)
    metrics.stream_pending.labels("jobs", "workers").set(1)
    metrics.stream_lag.labels("events", "bots").set(1)
    metrics.discord_error(403)
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == CONTRACT_FAMILIES[family.name], sample


def test_a_label_outside_its_set_is_refused_and_nothing_is_recorded() -> None:
    metrics = Metrics()
    with pytest.raises(ValueError, match="job kind 'ab12cd34'"):
        metrics.job_done("ab12cd34", "done", 1.0)
    with pytest.raises(ValueError, match="outcome"):
        metrics.job_done("start", "ok")
    with pytest.raises(ValueError, match="stage"), metrics.stage("breed ab12cd34"):
        pass
    assert "ab12cd34" not in metrics.exposition().decode()
    assert 'outcome="ok"' not in metrics.exposition().decode()


def test_discord_errors_are_counted_by_the_kind_of_their_status() -> None:
    assert [discord_error_kind(status) for status in (403, 404, 429, 400, 413, 500, 503, None)] == [
        "forbidden", "notfound", "ratelimited", "4xx", "4xx", "5xx", "5xx", "other"]
    assert {discord_error_kind(status) for status in range(100, 600)} | {"other"} <= DISCORD_ERROR_KINDS


def test_stream_gauges_leave_out_groups_of_terminal_sessions_and_shards() -> None:
    class Stats:
        stream = "events"
        length = 7
        pending = {"bots": 2, "web": 0, "terminal:s3cr3t": 5, "bots-shards-0-1": 1}
        lag = {"bots": 3, "terminal:s3cr3t": 4}

    metrics = Metrics()
    metrics.set_streams([Stats()])
    text = metrics.exposition().decode()
    assert 'melody_stream_length{stream="events"} 7.0' in text
    assert 'melody_stream_pending{group="bots",stream="events"} 2.0' in text
    assert 'melody_stream_lag{group="bots",stream="events"} 3.0' in text
    assert "terminal" not in text and "shards" not in text


def test_close_to_post_is_observed_once_for_the_generation_after_a_vote_closed_here() -> None:
    metrics = Metrics()
    assert metrics.generation_posted("ab12cd34", 0) is None  # a first generation: no vote closed before it
    metrics.vote_closed("ab12cd34", 0)
    assert metrics.generation_posted("ab12cd34", 2) is None  # not the generation that vote leads to
    seconds = metrics.generation_posted("ab12cd34", 1)
    assert seconds is not None and seconds >= 0
    assert metrics.generation_posted("ab12cd34", 1) is None  # a repeated post is not observed again
    count = [s for s in metrics.close_to_post_seconds.collect()[0].samples if s.name.endswith("_count")]
    assert count[0].value == 1


async def test_readyz_follows_redis_and_times_its_ping(redis_server_factory: RedisServerFactory, tmp_path) -> None:
    server = redis_server_factory(tmp_path / "redis", port=free_port())
    redis = Redis.from_url(server.url, socket_connect_timeout=1, socket_timeout=1)
    metrics = Metrics()
    probes = Probes(metrics, timeout_s=1.0)
    probes.add_redis(redis.ping)
    joined = False
    probes.add_flag("group", lambda: joined)
    probe_server = ProbeServer(probes, "127.0.0.1", 0, "test")
    assert await probe_server.start()
    try:
        status, _, body = await scrape(f"{probe_server.url}/readyz")
        assert (status, body) == (503, '{"ready": false, "checks": {"redis": "ok", "group": "not yet"}}')
        joined = True
        status, _, body = await scrape(f"{probe_server.url}/readyz")
        assert (status, body) == (200, '{"ready": true, "checks": {"redis": "ok", "group": "ok"}}')

        server.stop()
        status, _, body = await scrape(f"{probe_server.url}/readyz")
        assert status == 503 and '"redis": "failed (ConnectionError)"' in body
        assert server.password not in body  # an error's text (an address, a password) is in no answer
        assert (await scrape(f"{probe_server.url}/healthz"))[:3:2] == (200, "ok")

        server.start()

        async def ready() -> bool:
            return (await scrape(f"{probe_server.url}/readyz"))[0] == 200

        await wait_for(ready, what="/readyz to answer 200 once Redis is back")
        status, content_type, text = await scrape(f"{probe_server.url}/metrics")
        assert status == 200 and content_type.startswith("text/plain")
        pings = re.search(r"^melody_redis_roundtrip_seconds_count (\S+)$", text, re.MULTILINE)
        assert pings is not None and float(pings.group(1)) >= 3  # every PING that answered, not those that failed
    finally:
        await probe_server.stop()
        await redis.aclose()


async def test_a_slow_check_fails_by_its_timeout_and_a_failed_refresh_keeps_the_scrape() -> None:
    metrics = Metrics()
    probes = Probes(metrics, timeout_s=0.2)
    never = asyncio.Event()

    async def hangs() -> bool:
        await never.wait()
        return True

    async def broken() -> None:
        raise ConnectionError("no Redis")

    async def sets() -> None:
        metrics.open_breeds.set(3)

    probes.add_check("redis", hangs)
    probes.on_scrape(broken)
    probes.on_scrape(sets)
    assert await probes.readiness() == (False, {"redis": "no answer within 0.2 s"})
    server = ProbeServer(probes, "127.0.0.1", 0, "test")
    assert await server.start()
    try:
        status, _, text = await scrape(f"{server.url}/metrics")
        assert status == 200 and "melody_open_breeds 3.0" in text
    finally:
        await server.stop()


async def test_a_taken_port_is_one_line_in_the_log_and_the_process_goes_on(caplog) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ProbeServer(Probes(Metrics()), "127.0.0.1", port, "worker")
        with caplog.at_level(logging.WARNING, logger="runtime.health"):
            assert not await server.start()
        await server.stop()  # nothing to stop: no error either
    [line] = [record.getMessage() for record in caplog.records]
    assert line == (f"worker: no /metrics, /healthz or /readyz: cannot listen on 127.0.0.1:{port} "
                    "(Address already in use); set METRICS_PORT")


def test_the_label_sets_are_the_contracts() -> None:
    assert JOB_KINDS == {"start", "evolve", "finish", "morph", "tree", "compose", "tune", "render"}
    assert JOB_OUTCOMES == {"done", "failed", "abandoned", "dead_lettered"}
    assert STAGES == {"decode", "render", "write", "post"}
    assert (STREAMS, GROUPS) == ({"jobs", "events"}, {"workers", "bots", "web"})
