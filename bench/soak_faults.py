"""The soak's processes and faults: worker processes to kill, Redis to stop and start, the bot to restart."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from runtime.redis_server import free_port

log = logging.getLogger(__name__)

JOB_TIMEOUT_S = 5  # a dead worker's job is reclaimed after this long
REDIS_DOWN_S = 3.0
FAULT_WAIT_S = 60.0  # how long a fault waits for its moment (a worker holding a job, votes to cast)


class Notes(Protocol):
    """Where the faults write what happened (the soak's report)."""

    faults: list[str]
    problems: list[str]
    worker_kills: list[tuple[int, int]]
    redis_restarts: list[tuple[str, str, bool]]
    bot_restarts: list[bool]


class Workers:
    """`breeder worker` processes on one Redis, with their logs in files."""

    def __init__(self, url: str, folder: Path, count: int) -> None:
        self.url, self.folder = url, folder
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.peaks: dict[str, float] = {}
        for index in range(count):
            self.start(f"w{index + 1}")

    def start(self, name: str) -> None:
        # The media folder the soak's bots read (their DATA_DIR's), as processes of one host share it.
        env = {**os.environ, "REDIS_URL": self.url, "LOG_LEVEL": "INFO", "JOB_TIMEOUT_S": str(JOB_TIMEOUT_S),
               "MEDIA_DIR": str(self.folder / "media"), "METRICS_PORT": str(free_port())}
        with (self.folder / f"{name}.log").open("ab") as output:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "entrypoints.cli", "worker", "--consumer", name],
                env=env, stdout=output, stderr=subprocess.STDOUT)

    def sample(self) -> None:
        for name, process in self.processes.items():
            self.peaks[name] = max(self.peaks.get(name, 0.0), peak_mb(process.pid))

    def kill(self, name: str) -> None:
        self.sample()
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        self.sample()
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()

    def logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.folder.glob("w*.log")))


def peak_mb(pid: int) -> float:
    """The peak resident memory (VmHWM) of a running process, in MB; 0 when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024 if match else 0.0


class Faults:
    """The three faults, each once, spread over the run: a worker killed, Redis restarted, the bot restarted.

    Each fault waits for the one before it to be over (Redis back up, for the bot restart).
    """

    def __init__(self, redis: Any, workers: Workers, store: Any, settings: Any, url: str, report: Notes,
                 total_steps: int) -> None:
        self.redis, self.workers, self.store, self.settings, self.url = redis, workers, store, settings, url
        self.report = report
        self.env: Any = None
        self.consumer: str | None = None  # the restarted bot reads events under the same name
        self.plan = [(0.25, self.kill_worker), (0.5, self.stop_redis), (0.75, self.restart_bot)]
        self.total_steps = total_steps
        self.armed_at: float | None = None
        self.redis_down_at: float | None = None
        self.redis_down_note = ""
        self.redis_run_id = ""
        self.votes_at_stop = False
        self.redis_peak_mb = 0.0
        # When each fault was under way (its kind, then time.monotonic() from and to): a worker's death ("worker"),
        # Redis away ("redis"), the bot's restart ("bot").
        self.windows: list[tuple[str, float, float]] = []
        # Whether some breed's generation is posted and not voted on yet (the driver's answer).
        self.votes_to_cast: Callable[[], bool] = lambda: False

    def waited(self) -> float:
        """Seconds since the next fault's point in the run was reached."""
        return time.monotonic() - self.armed_at if self.armed_at is not None else 0.0

    async def tick(self, steps_done: int) -> None:
        """Start the next fault once the run is far enough, or end the one under way."""
        if self.redis_down_at is not None:
            if time.monotonic() - self.redis_down_at >= REDIS_DOWN_S:
                await self.start_redis()
            return
        if not self.plan or steps_done < self.plan[0][0] * self.total_steps:
            return
        if self.armed_at is None:
            self.armed_at = time.monotonic()
        if await self.plan[0][1]():
            self.plan.pop(0)
            self.armed_at = None

    async def finish(self) -> None:
        """Redis up again if the run ended while it was down; the faults that never came are noted."""
        if self.redis_down_at is not None:
            await self.start_redis()
        for point, fault in self.plan:
            self.report.problems.append(f"fault {fault.__name__} (at {point:.0%} of the run) never came")

    async def kill_worker(self) -> bool:
        """SIGKILL worker w1 while it holds a job (a pending job of its own), and start it again."""
        from storage.streams import JOBS, WORKERS_GROUP

        try:
            held = await self.store.redis.xpending_range(JOBS, WORKERS_GROUP, min="-", max="+", count=1,
                                                         consumername="w1")
        except Exception as error:  # noqa: BLE001 - Redis is shared with the faults; look again next time
            log.info("cannot look at w1's jobs: %s", error)
            return False
        if not held and self.waited() < FAULT_WAIT_S:
            return False
        self.workers.kill("w1")
        self.windows.append(("worker", time.monotonic(), time.monotonic()))
        self.report.worker_kills.append((self.workers.processes["w1"].returncode or 0, len(held)))
        self.workers.start("w1")
        self.report.faults.append("worker w1 SIGKILLed " + ("holding a job" if held else "while idle")
                                  + " and started again")
        return True

    async def stop_redis(self) -> bool:
        """Stop Redis while people have votes to cast; tick() starts it again REDIS_DOWN_S later.

        The people go on meanwhile: their reactions, Next and /breed finish meet a bot without Redis.
        """
        voting = self.votes_to_cast()
        if not voting and self.waited() < FAULT_WAIT_S:
            return False
        self.sample_redis()
        self.redis_run_id = await asyncio.to_thread(self.run_id)
        self.votes_at_stop = voting
        self.redis.stop()
        self.redis_down_at = time.monotonic()
        self.redis_down_note = "while breeds were up for votes" if voting else "while no breed was voting"
        return True

    async def start_redis(self) -> None:
        assert self.redis_down_at is not None
        await asyncio.to_thread(self.redis.start)  # the same port and data folder: the AOF brings it all back
        down = time.monotonic() - self.redis_down_at
        self.windows.append(("redis", self.redis_down_at, time.monotonic()))
        self.redis_down_at = None
        self.report.redis_restarts.append((self.redis_run_id, await asyncio.to_thread(self.run_id), self.votes_at_stop))
        self.report.faults.append(f"Redis stopped for {down:.0f} s {self.redis_down_note}, and started again (AOF)")

    def run_id(self) -> str:
        """The Redis server's run id: a new one each time the server process starts."""
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            return str(client.info("server")["run_id"])
        finally:
            client.close()

    def sample_redis(self) -> None:
        if self.redis.pid is not None:
            self.redis_peak_mb = max(self.redis_peak_mb, peak_mb(self.redis.pid))

    async def restart_bot(self) -> bool:
        from bot.client import MelodyBot

        began = time.monotonic()
        new = MelodyBot(self.settings, self.url, consumer=self.consumer)
        new.external_wait = self.env.external_wait
        old = self.env.bot
        await old.stop_events()
        await self.env.restart_bot(new)
        await old.service.close()
        self.windows.append(("bot", began, time.monotonic()))
        self.report.bot_restarts.append(new.is_ready() and new.user is not None)
        self.report.faults.append("the bot restarted")
        return True
