"""Running the web page: its HTTP server, its events consumer and its vote timers, started and stopped together."""

from __future__ import annotations

import asyncio
import logging
import os

from aiohttp import web

from service.breeding import BreedingService
from web.access import Access
from web.app import make_app
from web.front import WebFront
from web.tunes import add_routes as add_tune_routes

log = logging.getLogger(__name__)
# How long stopping waits for requests under way (a page's stream of updates is ended at once).
SHUTDOWN_S = 5.0


def listen_error(error: OSError) -> str:
    """Why the page cannot listen, in a few words ("Address already in use"), without asyncio's wrapping."""
    return os.strerror(error.errno) if error.errno else str(error)


class WebServer:
    """The page on http://host:port over the breeding service; `url` once started. `access`: who may use
    it (default: no login, which only a loopback `host` may have: ValueError otherwise)."""

    def __init__(self, service: BreedingService, host: str, port: int, consumer: str,
                 access: Access | None = None) -> None:
        self.service = service
        self.access = access or Access(host)
        self.front = WebFront(self.service, consumer)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._events: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> str:
        """Listen (OSError when the port is taken), re-arm the deadlines, read the worker's events."""
        await self.service.prepare()
        app = make_app(self.service, self.front, self.access)
        add_tune_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_S)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        if self.port == 0:  # a free port was asked for: say which one it got
            server = site._server  # noqa: SLF001 - aiohttp keeps the bound sockets there
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]
        armed = await self.front.router.resume()
        self._events = self.front.tasks.spawn(self.front.router.run(), name="web events consumer")
        log.info("web page at %s (%d vote deadlines re-armed)", self.url, armed)
        return self.url

    async def stop(self) -> None:
        self.front.router.stop()
        if self._events is not None:
            await asyncio.wait({self._events}, timeout=self.front.router.stop_within_s)
        await self.front.tasks.cancel_all()
        self.front.close_pages()
        if self._runner is not None:
            await self._runner.cleanup()
