"""`/metrics`, `/healthz` and `/readyz` of a process (docs/operations.md, "Metrics and health").

`Probes` holds what a process registers: its checks of readiness (Redis answers PING, the model is
loaded, the consumer group is joined), each run with a short timeout, and what refreshes gauges
before a scrape (the streams' numbers). `ProbeServer` serves them on METRICS_HOST:METRICS_PORT (the
worker, the bot); the web page adds the same routes to its own app (`routes`).

- `/healthz`: 200 "ok" while the event loop runs (it answers at all);
- `/readyz`: 200 {"ready": true, "checks": {...}} when every check passes, else 503 naming those that
  failed (by the kind of failure only: an error's text may hold an address);
- `/metrics`: the process's registry, after the refreshers ran (one that fails keeps its last values).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from runtime.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)

PATHS = ("/metrics", "/healthz", "/readyz")
# How long one check or one refresher may take before it counts as failed.
CHECK_TIMEOUT_S = 2.0
OK = "ok"

# A check passes by returning True; False, an exception or its timeout fail it.
Check = Callable[[], Awaitable[bool]]
Refresh = Callable[[], Awaitable[None]]


class Probes:
    """A process's checks of readiness and its refreshers of gauges, over its `metrics`."""

    def __init__(self, metrics: Metrics, timeout_s: float = CHECK_TIMEOUT_S) -> None:
        self.metrics = metrics
        self.timeout_s = timeout_s
        self._checks: dict[str, Check] = {}
        self._refreshers: list[Refresh] = []

    def add_check(self, name: str, check: Check) -> None:
        """Readiness needs `check()` to return True (a name in /readyz's answer: "redis", "model", "group")."""
        self._checks[name] = check

    def add_flag(self, name: str, holds: Callable[[], bool]) -> None:
        """A check that only reads a flag the process sets (the model loaded, the group joined)."""

        async def check() -> bool:
            return holds()

        self.add_check(name, check)

    def add_redis(self, ping: Callable[[], Awaitable[bool]]) -> None:
        """The "redis" check: `ping()` answers True, its round trip timed into melody_redis_roundtrip_seconds
        (False: no connection to ask yet)."""

        async def check() -> bool:
            began = time.perf_counter()
            if not await ping():
                return False
            self.metrics.redis_roundtrip(time.perf_counter() - began)
            return True

        self.add_check("redis", check)

    def on_scrape(self, refresh: Refresh) -> None:
        """Run `refresh()` before each scrape of /metrics (to set gauges from Redis)."""
        self._refreshers.append(refresh)

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Whether every check passes, and each check's result ("ok", or why not)."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[name]) for name in names))
        checks = dict(zip(names, results, strict=True))
        return all(result == OK for result in results), checks

    async def _run(self, check: Check) -> str:
        try:
            async with asyncio.timeout(self.timeout_s):
                passed = await check()
        except TimeoutError:
            return f"no answer within {self.timeout_s:g} s"
        except Exception as error:  # a check reports what failed; it never fails the probe itself
            return f"failed ({type(error).__name__})"
        return OK if passed else "not yet"

    async def refresh(self) -> None:
        for refresh in self._refreshers:
            try:
                async with asyncio.timeout(self.timeout_s):
                    await refresh()
            except Exception as error:  # the scrape still answers, with the gauges' last values
                log.debug("metrics not refreshed (%s)", type(error).__name__)

    # --- the three routes ----------------------------------------------------------------------

    async def serve_metrics(self, request: web.Request) -> web.StreamResponse:
        await self.refresh()
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    async def serve_healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=OK)

    async def serve_readyz(self, request: web.Request) -> web.StreamResponse:
        ready, checks = await self.readiness()
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/metrics", self.serve_metrics), web.get("/healthz", self.serve_healthz),
                web.get("/readyz", self.serve_readyz)]


class ProbeServer:
    """The three paths on host:port for a process without a web page of its own (the worker, the bot)."""

    def __init__(self, probes: Probes, host: str, port: int, name: str) -> None:
        self.probes = probes
        self.host = host
        self.port = port
        self.name = name
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> bool:
        """Listen; a port that is taken is one line in the log, and the process goes on without the endpoint."""
        app = web.Application()
        app.add_routes(self.probes.routes())
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            reason = os.strerror(error.errno) if error.errno else str(error)
            log.warning("%s: no /metrics, /healthz or /readyz: cannot listen on %s:%d (%s); set METRICS_PORT",
                        self.name, self.host, self.port, reason)
            return False
        if self.port == 0:  # a free port was asked for: say which one it got
            self.port = int(runner.addresses[0][1])
        self._runner = runner
        log.info("%s: metrics and health at %s", self.name, self.url)
        return True

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
