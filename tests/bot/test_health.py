"""The bot's /metrics, /healthz and /readyz (what `breeder bot` serves on METRICS_PORT), on SimCord with the real
worker: a breed's votes and its close-to-post, Discord's refusals by kind, rate-limit waits, labels from the
contract's sets only."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import discord.http
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.client import RateLimitWaits
from bot.voting import NUMBER_EMOJI
from runtime import metrics
from runtime.health import ProbeServer
from tests.bot.flows import start_breed, vote_message
from tests.bot.simulation import World, answer_of

pytestmark = pytest.mark.slow

ALLOWED = {"kind": metrics.JOB_KINDS | metrics.DISCORD_ERROR_KINDS, "outcome": metrics.JOB_OUTCOMES,
           "stage": metrics.STAGES, "stream": metrics.STREAMS, "group": metrics.GROUPS}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.fixture
async def probes(world: World) -> AsyncIterator[str]:
    """The bot's three paths on a free loopback port, as `breeder bot` serves them; their base URL."""
    server = ProbeServer(world.bot.probes(), "127.0.0.1", 0, "bot")
    assert await server.start()
    yield server.url
    await server.stop()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_a_breed_on_discord_shows_in_the_bots_metrics(world: World, worker, probes: str) -> None:
    assert await get(f"{probes}/healthz") == (200, "ok")
    status, body = await get(f"{probes}/readyz")
    assert (status, json.loads(body)) == (200, {"ready": True, "checks": {"redis": "ok", "group": "ok"}})

    breed = await start_breed(world)
    first = vote_message(world, breed, 0)
    bea, cy, _dot = world.voters
    await bea.react(first, NUMBER_EMOJI[1])
    await cy.react(first, NUMBER_EMOJI[1])
    await cy.react(first, NUMBER_EMOJI[1])  # the same vote again counts once
    await world.other_bot.react(first, NUMBER_EMOJI[0])  # a bot's reaction is no vote
    await world.starter.click(first, label="Next")
    await world.wait_for_status(breed.breed_id, "voting", 1)

    status, text = await get(f"{probes}/metrics")
    assert status == 200
    scraped = samples(text)
    assert scraped[("melody_votes_total", ())] == 2
    assert scraped[("melody_close_to_post_seconds_count", ())] == 1
    assert scraped[("melody_stage_seconds_count", (("stage", "post"),))] == 2
    assert scraped[("melody_open_breeds", ())] == 1
    assert scraped[("melody_stream_lag", (("group", "bots"), ("stream", "events")))] >= 0
    assert scraped[("melody_redis_roundtrip_seconds_count", ())] >= 1
    for (name, labels), _value in scraped.items():
        for label, value in labels:
            if label != "le":
                assert value in ALLOWED[label], (name, label, value)
    token = world.settings.discord_token.get_secret_value()
    for secret in (breed.breed_id, str(breed.thread_id), str(world.starter.id), str(bea.id), token):
        assert secret not in text


async def test_discords_refusals_are_counted_by_kind(world: World, worker, probes: str) -> None:
    breed = await start_breed(world)
    world.env.inject_error("POST", "/channels/*/messages", status=500)
    result = await world.starter.slash(world.thread_of(breed), "breed next")
    assert answer_of(result) == "Something went wrong on my side; the details are in the bot's log."
    assert len(world.new_errors()) == 1
    world.env.inject_error("POST", "/channels/*/messages", status=403, code=50013, message="Missing Permissions")
    result = await world.starter.slash(world.thread_of(breed), "breed next")
    world.new_errors()

    scraped = samples((await get(f"{probes}/metrics"))[1])
    assert scraped[("melody_discord_errors_total", (("kind", "5xx"),))] == 1
    assert scraped[("melody_discord_errors_total", (("kind", "forbidden"),))] == 1


def test_rate_limit_waits_are_read_from_discord_pys_own_line(caplog: pytest.LogCaptureFixture) -> None:
    # discord.py logs this line, then sleeps, for every 429 it retries: the handler reads the seconds from it.
    assert f"'{RateLimitWaits.RETRYING}'" in inspect.getsource(discord.http)
    counted = metrics.Metrics()
    handler = RateLimitWaits(counted)
    logger = logging.getLogger("discord.http")
    logger.addHandler(handler)
    try:
        logger.warning(RateLimitWaits.RETRYING, "POST", "https://discord.com/api/v10/channels/1/messages", 1.25)
        logger.warning(RateLimitWaits.RETRYING, "PUT", "https://discord.com/api/v10/channels/1/pins", 0.5)
        logger.warning("Global rate limit has been hit. Retrying in %.2f seconds.", 9.0)  # the same wait, told again
    finally:
        logger.removeHandler(handler)
    assert counted.registry.get_sample_value("melody_discord_ratelimit_wait_seconds_total") == 1.75
    assert counted.registry.get_sample_value("melody_discord_errors_total", {"kind": "ratelimited"}) == 2
