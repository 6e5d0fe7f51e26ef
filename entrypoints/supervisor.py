"""`breeder run` (what `make run` runs): Redis, the worker and the bot as supervised children.

Without a DISCORD_TOKEN it runs the web page instead of the bot (the terminal session with
--local), on the same workers and Redis. A child that crashes is restarted with back-off; a child that
exits with status 2 (a setting or an install step is missing, and it said which) is not,
since restarting cannot help. Ctrl-C or SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from typing import TYPE_CHECKING

from pydantic import SecretStr

from runtime.exits import CONFIG_ERROR, FAILURE
from runtime.processes import Child
from runtime.settings import BOT_METRICS_PORT, WORKER_METRICS_PORT, CommonSettings
from runtime.signals import sleep_or_stop, stop_event

if TYPE_CHECKING:
    from web.access import Access

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 30.0


class RunSettings(CommonSettings):
    """`breeder run` only needs to know whether there is a token; the bot checks the rest."""

    discord_token: SecretStr | None = None


def metrics_ports(workers: int) -> list[int]:
    """The METRICS_PORT of each of `workers` workers, none the bot's: 9101, then 9103, 9104, ... (the bot
    has 9102). A port another program holds leaves that worker without its endpoint, one line in its log."""
    return [WORKER_METRICS_PORT, *(BOT_METRICS_PORT + n for n in range(1, workers))]


def backoff_s(restarts: int) -> float:
    """Seconds to wait before restart number `restarts` (1, 2, 4, ... up to 30)."""
    return min(MAX_BACKOFF_S, 2.0 ** max(restarts - 1, 0))


async def supervise(children: list[Child], stop: asyncio.Event) -> int:
    """Keep the children running until `stop` is set or one fails its configuration."""
    for child in children:
        child.start()
    status = 0
    while not stop.is_set():
        for child in children:
            code = child.poll()
            if code is None:
                continue
            tail = child.log_tail()
            if tail:
                log.warning("%s: last lines of %s:\n%s", child.name, child.log_path, tail)
            if code == CONFIG_ERROR:
                log.error("%s: exited with a configuration error (see above); stopping", child.name)
                stop.set()
                status = CONFIG_ERROR
                break
            if time.monotonic() - child.started_at > 60:
                child.restarts = 0  # it ran fine for a while: start the back-off afresh
            child.restarts += 1
            delay = backoff_s(child.restarts)
            log.warning("%s: exited with status %s; restarting in %.0f s", child.name, code, delay)
            await sleep_or_stop(stop, delay)
            if not stop.is_set():
                child.start()
        await sleep_or_stop(stop, 0.5)
    for child in children:
        child.stop()
    return status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=1, help="worker processes to run (default 1)")
    parser.add_argument("--local", action="store_true", help="run the terminal session instead of the bot or page")
    parser.add_argument("--web", action="store_true", help="run the web page even with a token")


def run(args: argparse.Namespace) -> int:
    from runtime.logs import configure
    from runtime.settings import load

    settings = load(RunSettings)
    configure(settings.log_level)
    return asyncio.run(_main(args, settings))


async def _main(args: argparse.Namespace, settings: RunSettings) -> int:
    from runtime.redis_server import embedded_or_configured

    stop = stop_event()
    local = args.local
    web = not local and (args.web or settings.discord_token is None)
    access = None
    if web:
        from entrypoints.web_cmd import page_access

        access = page_access(settings, settings.web_host)
        if isinstance(access, str):  # refused before Redis or a worker starts
            print(f"breeder: {access}", file=sys.stderr)
            return CONFIG_ERROR
    if web or local:
        # What the person reads is the URL (or the terminal session): INFO lines would bury it.
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.WARNING))
    with embedded_or_configured(settings) as url:
        log.info("redis: %s", "embedded, data in " + str(settings.data_dir / "redis") if not settings.redis_url
                 else "configured by REDIS_URL")
        env = {"REDIS_URL": url}
        python = sys.executable
        # Without the bot, the workers' logs would break into the page's URL or the piano rolls: to files.
        logs = settings.data_dir / "logs" if local or web else None
        # Each child serves /metrics, /healthz and /readyz on a port of its own.
        children = [
            Child(f"worker-{i + 1}", [python, "-m", "entrypoints.cli", "worker"], env | {"METRICS_PORT": str(port)},
                  logs / f"worker-{i + 1}.log" if logs else None)
            for i, port in enumerate(metrics_ports(max(args.workers, 1)))
        ]
        if access is not None:
            return await _web(children, stop, url, settings, access)
        if not local:
            children.append(Child("bot", [python, "-m", "entrypoints.cli", "bot"],
                                  env | {"METRICS_PORT": str(BOT_METRICS_PORT)}))
            return await supervise(children, stop)
        return await _local(children, stop, url, settings)


async def _web(children: list[Child], stop: asyncio.Event, url: str, settings: RunSettings, access: Access) -> int:
    """The web page in this process (`access`: who may use it), the workers as children; the URL is the first
    line printed."""
    import time

    from service.connection import media_of, open_service
    from web.server import WebServer, listen_error

    service = open_service(url, time.time, settings.default_params(),
                           limits=settings.web_limits(settings.web_host), retention_s=settings.retention_s,
                           max_queued_jobs=settings.max_queued_jobs, media=media_of(settings))
    server = WebServer(service, settings.web_host, settings.web_port, consumer="web", access=access)
    try:
        address = await server.start()
    except OSError as error:
        print(f"breeder: the web page cannot listen on {settings.web_host}:{settings.web_port} "
              f"({listen_error(error)}); set WEB_PORT to a free port", file=sys.stderr)
        await service.close()
        return CONFIG_ERROR
    print(f"Melody Breeder is running: open {address} in your browser (Ctrl-C stops it).", flush=True)
    if settings.discord_token is None:
        print("No DISCORD_TOKEN is set, so it runs here, without Discord. To put the bot in a Discord server,\n"
              "set DISCORD_TOKEN in .env (README: 'Discord set-up'). `breeder local` breeds in the terminal.",
              flush=True)
    try:
        return await supervise(children, stop)
    finally:
        await server.stop()
        await service.close()


async def _local(children: list[Child], stop: asyncio.Event, url: str, settings: RunSettings) -> int:
    import time

    from entrypoints import local_cmd
    from service.connection import media_of, open_service

    # The session's own lines are what the person reads: the service's INFO lines would break into them.
    logging.getLogger("service").setLevel(logging.WARNING)
    supervisor = asyncio.create_task(supervise(children, stop))
    parser = argparse.ArgumentParser()
    local_cmd.add_arguments(parser)
    args = parser.parse_args([])
    args.out = str(settings.data_dir / "local")
    service = open_service(url, time.time, settings.default_params(), retention_s=settings.retention_s,
                           max_queued_jobs=settings.max_queued_jobs, media=media_of(settings))
    session = asyncio.create_task(local_cmd.session(service, args, settings.default_params(), None, None))
    try:
        await service.prepare()
        done, _ = await asyncio.wait({session, supervisor}, return_when=asyncio.FIRST_COMPLETED)
        if session in done:
            return session.result()
        return supervisor.result()
    except RuntimeError as error:
        print(f"\nbreeder: {error}", file=sys.stderr)
        return FAILURE
    finally:
        session.cancel()
        stop.set()
        await supervisor
        await service.close()
