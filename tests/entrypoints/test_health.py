"""`breeder run` (make run) gives each worker and the bot a METRICS_PORT of its own."""

from __future__ import annotations

import argparse
import asyncio

import pytest
from pydantic import SecretStr

from entrypoints import supervisor
from runtime.processes import Child


async def test_make_runs_workers_and_bot_serve_their_metrics_on_ports_that_do_not_clash(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, tmp_path,
) -> None:
    started: list[Child] = []

    async def supervise(children: list[Child], stop: asyncio.Event) -> int:
        started.extend(children)
        return 0

    monkeypatch.setattr(supervisor, "supervise", supervise)
    monkeypatch.setenv("METRICS_PORT", "9999")  # one port in .env must not reach every child
    settings = supervisor.RunSettings(_env_file=None, redis_url=redis_url, data_dir=tmp_path,
                                      discord_token=SecretStr("not-used"))
    args = argparse.Namespace(workers=3, local=False, web=False)
    assert await supervisor._main(args, settings) == 0
    ports = {child.name: child.env["METRICS_PORT"] for child in started}
    assert ports == {"worker-1": "9101", "worker-2": "9103", "worker-3": "9104", "bot": "9102"}


def test_the_ports_of_many_workers_are_all_different_and_never_the_bots() -> None:
    ports = supervisor.metrics_ports(8)
    assert len(set(ports)) == 8 and 9102 not in ports and ports[0] == 9101
