"""`breeder web`: the web page alone, against the configured Redis (workers run elsewhere)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING

from runtime.exits import CONFIG_ERROR, FAILURE, OK

if TYPE_CHECKING:
    from runtime.settings import CommonSettings
    from web.access import Access


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default: WEB_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: WEB_PORT, 8765)")


def run(args: argparse.Namespace) -> int:
    from runtime.logs import configure
    from runtime.settings import CommonSettings, load

    settings = load(CommonSettings)
    configure(settings.log_level)
    return asyncio.run(serve(settings, args.host or settings.web_host, args.port or settings.web_port))


def page_access(settings: CommonSettings, host: str) -> Access | str:
    """Who may use a page on `host` (the login, the proxy, the host names), or why it may not start (one line)."""
    import ipaddress

    from web.access import Access

    token = settings.web_access_token.get_secret_value() if settings.web_access_token else None
    proxy = ipaddress.ip_address(settings.web_trusted_proxy) if settings.web_trusted_proxy else None
    try:
        return Access(host, token=token, trusted_proxy=proxy, allowed_hosts=frozenset(settings.web_allowed_hosts),
                      max_streams_per_client=settings.web_max_streams_per_client)
    except ValueError as refused:  # Access checks the login it needs (web.access.login_needed)
        return str(refused)


async def serve(settings: CommonSettings, host: str, port: int) -> int:
    from runtime.redis_server import RedisServerError, embedded_or_configured
    from runtime.signals import stop_event
    from service.connection import media_of, open_service
    from web.server import WebServer, listen_error

    access = page_access(settings, host)
    if isinstance(access, str):
        print(f"breeder web: {access}", file=sys.stderr)
        return CONFIG_ERROR
    stop = stop_event()
    try:
        with embedded_or_configured(settings) as url:
            service = open_service(url, time.time, settings.default_params(), limits=settings.web_limits(host),
                                   retention_s=settings.retention_s, max_queued_jobs=settings.max_queued_jobs,
                                   media=media_of(settings))
            server = WebServer(service, host, port, consumer=f"web-{port}", access=access)
            try:
                address = await server.start()
            except OSError as error:
                print(f"breeder web: cannot listen on {host}:{port} ({listen_error(error)}); "
                      "set WEB_PORT to a free port", file=sys.stderr)
                await service.close()
                return CONFIG_ERROR
            print(f"Melody Breeder: open {address} in your browser (Ctrl-C stops)", flush=True)
            try:
                await stop.wait()
            finally:
                await server.stop()
                await service.close()
    except RedisServerError as error:
        print(f"breeder web: {error}", file=sys.stderr)
        return FAILURE
    return OK
