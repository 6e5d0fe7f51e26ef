"""The web page serves /metrics, /healthz and /readyz on its own port: at any Host (the kubelet asks at the
pod's address) and without the login, those three paths only; its metrics count a breed's votes and the time
from a vote closing to the next generation."""

from __future__ import annotations

import json

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime import metrics
from storage import BreedStore
from tests.support.waiting import wait_for
from tests.support.web import running_page, started
from web.access import SECURITY_HEADERS, Access

pytestmark = pytest.mark.slow

ALLOWED = {"kind": metrics.JOB_KINDS, "outcome": metrics.JOB_OUTCOMES, "stage": metrics.STAGES,
           "stream": metrics.STREAMS, "group": metrics.GROUPS}
POD_ADDRESS = "10.1.2.3:8765"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


async def test_a_breed_on_the_page_shows_in_its_metrics_with_contract_labels_only(
    web_server, store: BreedStore,
) -> None:
    url = web_server.url
    async with aiohttp.ClientSession() as session:
        breed_id = await started(session, url, store)
        api = f"{url}/api/breeds/{breed_id}"
        async with session.post(f"{api}/votes", json={"generation": 0, "picks": [0, 0, 1]}) as response:
            assert response.status == 200
        async with session.post(f"{api}/next", json={}) as response:
            assert response.status == 200

        async def voting_on_the_second() -> bool:
            breed = await store.breeds.get(breed_id)
            return breed is not None and (breed.status, breed.generation) == ("voting", 1)

        await wait_for(voting_on_the_second, timeout=120, what="generation 2 up for votes")
        async with session.get(f"{url}/readyz") as response:
            assert response.status == 200
            assert await response.json() == {"ready": True, "checks": {"redis": "ok", "group": "ok"}}
        async with session.get(f"{url}/metrics") as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
            for name, value in SECURITY_HEADERS.items():
                assert response.headers[name] == value
            text = await response.text()
    scraped = samples(text)
    assert scraped[("melody_votes_total", ())] == 3
    assert scraped[("melody_close_to_post_seconds_count", ())] == 1
    assert scraped[("melody_stage_seconds_count", (("stage", "post"),))] == 2
    assert scraped[("melody_open_breeds", ())] == 1
    assert scraped[("melody_stream_pending", (("group", "web"), ("stream", "events")))] == 0
    assert scraped[("melody_redis_roundtrip_seconds_count", ())] >= 1
    for (name, labels), _value in scraped.items():
        for label, value in labels:
            if label != "le":
                assert value in ALLOWED[label], (name, label, value)
    assert breed_id not in text


async def test_only_the_three_paths_answer_at_any_host_and_without_the_login(redis_url: str, store: BreedStore) -> None:
    access = Access("127.0.0.1", token="a-long-enough-access-token")
    async for server in running_page(redis_url, "web-health", access=access):
        async with aiohttp.ClientSession() as session:
            for path, status in (("/healthz", 200), ("/readyz", 200), ("/metrics", 200)):
                async with session.get(f"{server.url}{path}", headers={"Host": POD_ADDRESS}) as response:
                    assert response.status == status, path
                    assert response.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
            async with session.get(f"{server.url}/healthz") as response:
                assert await response.text() == "ok"
            # Anything else at the pod's address is refused, as before; without the login, too.
            for path in ("/", "/api/breeds", "/healthz/", "/static/app.js", "/api/options"):
                async with session.get(f"{server.url}{path}", headers={"Host": POD_ADDRESS},
                                       allow_redirects=False) as response:
                    assert response.status == 421, path
            async with session.get(f"{server.url}/api/breeds") as response:
                assert response.status == 401
            async with session.post(f"{server.url}/readyz", headers={"Host": POD_ADDRESS}) as response:
                assert response.status == 421  # a change is never a probe
            async with session.get(f"{server.url}/readyz") as response:
                assert json.loads(await response.text())["ready"] is True
