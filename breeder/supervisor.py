"""`breeder run` (what `make run` runs): Redis, the worker and the bot as supervised children.

Without a DISCORD_TOKEN it runs a local breeding session in the terminal instead of the bot,
on the same worker and Redis. A child that crashes is restarted with back-off; a child that
exits with status 2 (a setting or an install step is missing, and it said which) is not,
since restarting cannot help. Ctrl-C or SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pydantic import SecretStr

from breeder.settings import CommonSettings

log = logging.getLogger(__name__)

CONFIG_ERROR = 2
MAX_BACKOFF_S = 30.0


class RunSettings(CommonSettings):
    """`breeder run` only needs to know whether there is a token; the bot checks the rest."""

    discord_token: SecretStr | None = None


class Child:
    """One supervised child process; its output goes to the terminal, or appended to `log_path`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.started_at = 0.0

    def start(self) -> None:
        if self.log_path is None:
            self.process = subprocess.Popen(self.argv, env=self.env)
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as output:  # the child keeps its own copy of the descriptor
                self.process = subprocess.Popen(self.argv, env=self.env, stdout=output, stderr=subprocess.STDOUT)
        self.started_at = time.monotonic()
        where = f", log {self.log_path}" if self.log_path else ""
        log.info("%s: started, pid %d%s", self.name, self.process.pid, where)

    def log_tail(self, lines: int = 5) -> str:
        """The last lines the child wrote to its log file ("" without one): why it stopped."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as output:
            output.seek(max(output.seek(0, os.SEEK_END) - 16384, 0))
            text = output.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def poll(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s: did not stop in %.0f s, killing it", self.name, timeout_s)
            self.process.kill()
            self.process.wait()


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
            await _sleep_or_stop(stop, delay)
            if not stop.is_set():
                child.start()
        await _sleep_or_stop(stop, 0.5)
    for child in children:
        child.stop()
    return status


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=1, help="worker processes to run (default 1)")
    parser.add_argument("--local", action="store_true", help="run the terminal session even with a token")


def run(args: argparse.Namespace) -> int:
    from breeder.logs import configure
    from breeder.settings import load

    settings = load(RunSettings)
    configure(settings.log_level)
    return asyncio.run(_main(args, settings))


async def _main(args: argparse.Namespace, settings: RunSettings) -> int:
    from breeder.redis_server import embedded_or_configured

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    local = args.local or settings.discord_token is None
    with embedded_or_configured(settings) as url:
        log.info("redis: %s", "embedded, data in " + str(settings.data_dir / "redis") if not settings.redis_url
                 else "configured by REDIS_URL")
        env = {"REDIS_URL": url}
        python = sys.executable
        # In the terminal session the workers' logs would break into the piano rolls: they go to files.
        logs = settings.data_dir / "logs" if local else None
        children = [
            Child(f"worker-{i + 1}", [python, "-m", "breeder.cli", "worker"], env,
                  logs / f"worker-{i + 1}.log" if logs else None)
            for i in range(max(args.workers, 1))
        ]
        if not local:
            children.append(Child("bot", [python, "-m", "breeder.cli", "bot"], env))
            return await supervise(children, stop)
        print("No DISCORD_TOKEN is set, so this runs a local breeding session in the terminal.\n"
              "To put the bot in a Discord server, set DISCORD_TOKEN in .env (README: 'Discord set-up').",
              flush=True)
        return await _local(children, stop, url)


async def _local(children: list[Child], stop: asyncio.Event, url: str) -> int:
    from breeder import local
    from breeder.settings import CommonSettings
    from storage import connect
    from storage.store import BreedStore

    supervisor = asyncio.create_task(supervise(children, stop))
    parser = argparse.ArgumentParser()
    local.add_arguments(parser)
    args = parser.parse_args([])
    settings = CommonSettings()
    args.out = str(settings.data_dir / "local")
    store = BreedStore(connect(url))
    session = asyncio.create_task(local.run_session(store, args, local.params_from(args, settings)))
    try:
        await store.ensure_groups()
        done, _ = await asyncio.wait({session, supervisor}, return_when=asyncio.FIRST_COMPLETED)
        if session in done:
            return session.result()
        return supervisor.result()
    except RuntimeError as error:
        print(f"\nbreeder: {error}", file=sys.stderr)
        return 1
    finally:
        session.cancel()
        stop.set()
        await supervisor
        await store.close()
