"""`breeder bench soak`: many breeds at once through the real bot, with a worker killed, Redis and the bot restarted.

Everything runs on this machine: a real redis-server with AOF, real `breeder worker` processes, and
the real discord.py bot against SimCord (a simulated Discord, in this process). Every breed is
started with `/breed start`, each generation gets its voters' reactions and the starter's **Next**,
and `/breed finish` ends it. The simulated people act on what Discord shows them alone, so they go
on reacting and pressing while Redis is away. While the breeds run, three faults hit in turn: one
worker is SIGKILLed while it holds a job (and started again), Redis is stopped for a few seconds and
started again on the same port and data, and the bot is restarted. At the end the bench reads
Discord and Redis to check that nothing was lost or doubled:

- breeds finished: the breed is finished and its thread has exactly one post with `winner.mid`;
- lost / duplicate generations: a generation whose vote message was never posted, or posted twice;
- lost votes: reactions made but missing from the fitness of the step they voted on (for the last
  generation: from its tally, which chose the winner).

Figures: jobs retried (reclaimed from a dead worker, from the workers' logs), duplicates suppressed
(writes and posts that were already done, from the logs), "voting closed" to "next generation
posted" (p50, p95), the peak memory of every process, and Redis bytes per finished breed: now, once
the files' TTL passed, and once the breeds' retention passed (what the gallery keeps for good).

`--bots 2`: two bot processes, each running one shard of the bot with a server on it and a simulated
Discord of its own, on the one Redis and workers. The first runs in this process (the faults hit it);
each other one is a process of its own (`bench.soak_bot`), reading events under its own consumer name
(`bot-<host>-<pid>`), and reports what its Discord shows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import logging
import random
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import soak_warm
from bench.soak_driver import POPULATION, RESTARTING, Driver, Home, Track
from bench.soak_faults import Faults, Workers
from bench.soak_memory import RedisBytes, redis_bytes
from runtime.exits import CONFIG_ERROR, FAILURE, OK

log = logging.getLogger(__name__)

GUILD_ID = 424242424242424242
# How long SimCord waits for a bot to settle while time advances. While Redis is stopped and starting
# again, a bot's Redis calls (a connection, redis-py's own retries) wait on the outside world for a few
# seconds, longer than SimCord's default of 5 s; on a loaded machine (the test suite on two cores) the
# bot, the workers and Redis share the CPU and take longer still. `advance` waits on past this for as
# long as the bot gets on; a bot that truly hangs still fails, after this without progress.
SETTLE_TIMEOUT_S = 60.0
__all__ = ["POPULATION", "RESTARTING", "Report", "soak"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--breeds", type=int, default=50, help="breeds at once (default 50)")
    parser.add_argument("--voters", type=int, default=5, help="voters per breed (default 5)")
    parser.add_argument("--generations", type=int, default=3, help="Next presses per breed before finish (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--bots", type=int, default=1,
                        help="bot processes, each running its own shard with its own server (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=540.0, help="give up after this many seconds")
    parser.add_argument("--logs", type=Path, default=None, help="keep the workers' logs in this folder")
    parser.add_argument("--warm-starts", type=int, default=soak_warm.WARM_STARTS,
                        help="new breeds started one at a time on each front once the soak is done, on the warm "
                             f"workers (default {soak_warm.WARM_STARTS})")


def run(args: argparse.Namespace) -> int:
    if (args.breeds < 1 or args.voters < 1 or args.generations < 1 or args.workers < 2 or args.bots < 1
            or args.warm_starts < 0):
        print("breeder bench soak: need at least 1 breed, voter, generation and bot, 2 workers, and no fewer than 0 "
              "warm starts", file=sys.stderr)
        return CONFIG_ERROR
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = asyncio.run(_with_task_dump(soak(args.breeds, args.voters, args.generations, args.workers, args.seed,
                                              args.timeout, keep_logs=args.logs, bots=args.bots,
                                              warm_starts=args.warm_starts)))
    print(report.text())
    return OK if report.clean else FAILURE


async def _with_task_dump(run: Awaitable[Report]) -> Report:
    """Run the soak; SIGUSR1 prints where every task of this process waits (a run that seems stuck)."""
    def dump() -> None:
        for task in asyncio.all_tasks():
            print(f"--- {task.get_name()}: {task.get_coro()!r}", file=sys.stderr)
            task.print_stack(limit=12, file=sys.stderr)
        sys.stderr.flush()

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)
    return await run


@dataclass
class Report:
    breeds: int
    bots: int = 1
    generations: int = 0
    finished: int = 0
    lost_generations: int = 0
    duplicate_generations: int = 0
    lost_votes: int = 0
    jobs_retried: int = 0
    duplicates_suppressed: int = 0
    dead_letters: int = 0
    restarting_answers: int = 0
    errors_logged: int = 0
    close_to_post_s: list[float] = field(default_factory=list)
    close_to_post_spans: list[tuple[float, float]] = field(default_factory=list)  # (closed, posted), monotonic
    fault_windows: list[tuple[float, float]] = field(default_factory=list)  # (from, to) of each fault, monotonic
    start_to_first_s: list[float] = field(default_factory=list)  # /breed start -> generation 1 posted
    # New breeds started one at a time once the soak is done (bench.soak_warm): on warm, idle workers.
    warm_discord_s: list[float] = field(default_factory=list)
    warm_web_s: list[float] = field(default_factory=list)
    warm_breeds: list[str] = field(default_factory=list)
    peak_mb: dict[str, float] = field(default_factory=dict)
    redis: RedisBytes | None = None
    faults: list[str] = field(default_factory=list)
    # What the faults left behind, read from the processes and Redis rather than from the harness's plan:
    # the killed worker's exit status and the jobs it held, Redis's run id before and after each restart
    # with the votes people had to cast when it stopped, and whether the new bot came up on the gateway.
    worker_kills: list[tuple[int, int]] = field(default_factory=list)
    redis_restarts: list[tuple[str, str, bool]] = field(default_factory=list)
    bot_restarts: list[bool] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    # The other bot processes (--bots): their pids and consumer names, errors they logged, and how often
    # they found an event handled already (by themselves or another process).
    bot_processes: list[tuple[int, str]] = field(default_factory=list)
    bot_errors: list[str] = field(default_factory=list)
    bot_suppressed: int = 0

    @property
    def clean(self) -> bool:
        return (self.finished == self.breeds and not self.lost_generations and not self.duplicate_generations
                and not self.lost_votes)

    def p(self, q: float, samples: list[float] | None = None) -> float:
        """The `q` quantile of `samples` (by default: voting closed -> next generation posted)."""
        samples = self.close_to_post_s if samples is None else samples
        if not samples:
            return float("nan")
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def untouched_s(self) -> list[float]:
        """Voting closed -> next generation posted, of the steps that no fault was under way during."""
        return [posted - closed for closed, posted in self.close_to_post_spans
                if not any(closed <= end and start <= posted for start, end in self.fault_windows)]

    def text(self) -> str:
        lines = [
            f"{self.breeds} breeds in {self.seconds:.0f} s; faults: {'; '.join(self.faults) or 'none'}",
            f"breeds finished (winner.mid posted once): {self.finished} of {self.breeds}",
            f"lost generations: {self.lost_generations}  duplicate generations: {self.duplicate_generations}  "
            f"lost votes: {self.lost_votes}",
            f"jobs retried: {self.jobs_retried}  duplicates suppressed: {self.duplicates_suppressed}  "
            f"dead letters: {self.dead_letters}",
            f"commands answered '{RESTARTING}': {self.restarting_answers}  "
            f"errors logged (bot and workers): {self.errors_logged}",
            f"voting closed -> next generation posted: p50 {self.p(0.5):.2f} s, p95 {self.p(0.95):.2f} s "
            f"({len(self.close_to_post_s)} steps; mean {statistics.fmean(self.close_to_post_s or [0]):.2f} s); "
            f"of the {len(self.untouched_s)} steps no fault was under way during (an outage until the bot read "
            f"events again): "
            f"p50 {self.p(0.5, self.untouched_s):.2f} s, p95 {self.p(0.95, self.untouched_s):.2f} s",
            f"/breed start -> first generation posted: p50 {self.p(0.5, self.start_to_first_s):.2f} s, "
            f"p95 {self.p(0.95, self.start_to_first_s):.2f} s ({len(self.start_to_first_s)} breeds)",
            f"a new breed on warm workers, start -> first generation seen: Discord p50 "
            f"{self.p(0.5, self.warm_discord_s):.2f} s, max {_most(self.warm_discord_s):.2f} s; web page p50 "
            f"{self.p(0.5, self.warm_web_s):.2f} s, max {_most(self.warm_web_s):.2f} s "
            f"({len(self.warm_discord_s)} + {len(self.warm_web_s)} breeds, one at a time)",
            "peak memory: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in self.peak_mb.items()),
        ]
        if self.redis is not None:
            lines.append(self.redis.text())
        lines += [f"problem: {problem}" for problem in self.problems[:20]]
        lines.append(f"RESULT breeds_finished={self.finished} lost_generations={self.lost_generations} "
                     f"duplicate_generations={self.duplicate_generations} lost_votes={self.lost_votes} "
                     f"p50_close_to_post_s={self.p(0.5):.2f} p95_close_to_post_s={self.p(0.95):.2f} "
                     f"p95_close_to_post_untouched_s={self.p(0.95, self.untouched_s):.2f} "
                     f"p50_start_to_first_s={self.p(0.5, self.start_to_first_s):.2f} "
                     f"p95_start_to_first_s={self.p(0.95, self.start_to_first_s):.2f} "
                     f"p50_warm_start_discord_s={self.p(0.5, self.warm_discord_s):.2f} "
                     f"max_warm_start_discord_s={_most(self.warm_discord_s):.2f} "
                     f"p50_warm_start_web_s={self.p(0.5, self.warm_web_s):.2f} "
                     f"max_warm_start_web_s={_most(self.warm_web_s):.2f} "
                     f"bots={self.bots} generations={self.generations} "
                     f"redis_bytes_per_breed={self.redis.now if self.redis else float('nan'):.0f} "
                     f"redis_bytes_per_breed_after_files={self.redis.after_files if self.redis else float('nan'):.0f} "
                     f"redis_bytes_per_breed_after_retention="
                     f"{self.redis.after_retention if self.redis else float('nan'):.0f} "
                     f"redis_bytes_per_breed_over_retention="
                     f"{self.redis.over_retention if self.redis else float('nan'):.0f}")
        return "\n".join(lines)


def _most(samples: list[float]) -> float:
    return max(samples, default=float("nan"))


class CountLines(logging.Handler):
    """Counts this process's log lines that say a duplicate was suppressed, and its errors."""

    PATTERNS = ("begun before a restart", "shown already", "not opening a vote", "exists already")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.suppressed = 0
        self.errors: list[str] = []
        self.redis_back_at: list[float] = []  # time.time() of each "Redis is back" of the bot's events loop

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == "service.events" and "Redis is back" in message:
            self.redis_back_at.append(record.created)
        if any(pattern in message for pattern in self.PATTERNS):
            self.suppressed += 1
        if record.levelno >= logging.ERROR:
            self.errors.append(f"{record.name}: {message}")


def recovered(windows: list[tuple[str, float, float]], back_at: list[float]) -> list[tuple[float, float]]:
    """Each fault's (from, to) in time.monotonic(): a Redis outage's to when the bot read events again (its
    events loop retries with back-off, on SimCord's virtual time here), not when Redis started."""
    offset = time.monotonic() - time.time()  # the bench's own clock: SimCord's virtual one is the bot's alone
    backs = sorted(moment + offset for moment in back_at)
    spans = []
    for kind, start, end in windows:
        if kind == "redis":
            end = max(end, next((back for back in backs if back >= start), end))
        spans.append((start, end))
    return spans


async def soak(breeds: int, voters: int, generations: int, worker_count: int, seed: int, timeout_s: float,
               keep_logs: Path | None = None, bots: int = 1, warm_starts: int = soak_warm.WARM_STARTS) -> Report:
    """Run the scenario; the report of what Discord and Redis show at the end (the workers' logs go to `keep_logs`).
    `warm_starts`: new breeds then started one at a time on each front, on the warm workers (bench.soak_warm)."""
    from runtime.redis_server import RedisServer, free_port
    from storage import BreedStore, connect

    report = Report(breeds, bots, generations + 1)
    started = time.monotonic()
    with counting_logs() as counter, bot_redis_without_read_timeout(), tempfile.TemporaryDirectory(
            prefix="soak-") as scratch:
        folder = Path(scratch)
        redis = RedisServer(folder / "redis", port=free_port(), appendonly=True)  # the same port after a restart
        url = redis.start()
        workers = Workers(url, folder, worker_count)
        store = BreedStore(connect(url))
        # Each bot process runs one shard of the bot, and its server is on that shard.
        settings = [bot_settings(shard, bots, folder) for shard in range(bots)]
        faults = Faults(redis, workers, store, settings[0], url, report, total_steps=breeds * (generations + 3))
        try:
            await breed_through_the_bot(settings, url, store, workers, faults, report, voters, generations,
                                        random.Random(seed), timeout_s, warm_starts)
        finally:
            report.fault_windows = recovered(faults.windows, counter.redis_back_at)
            workers.stop()
            try:
                await tally_figures(report, workers, faults, counter, store, keep_logs)
            finally:
                await store.close()
                redis.stop()
    report.seconds = time.monotonic() - started
    return report


def bot_settings(shard: int, bots: int, folder: Path) -> Any:
    """The settings of the bot process that runs `shard` of `bots` (one shard each when there are several)."""
    from runtime.settings import BotSettings

    return BotSettings(
        _env_file=None, discord_token="soak", sync_commands=True, dev_guild_id=guild_of(shard, bots),
        population=POPULATION, foreign=1, vote_minutes=60.0, data_dir=folder,
        max_open_breeds_per_server=10_000, max_open_breeds_per_member=10_000, start_cooldown_s=0,
        morph_cooldown_s=0, tune_cooldown_s=0, tree_cooldown_s=0, compose_cooldown_s=0, play_cooldown_s=0,
        shard_count=bots, shard_ids=[shard] if bots > 1 else None,
    )


@contextlib.contextmanager
def counting_logs() -> Iterator[CountLines]:
    """This process's log lines counted while the bench runs, with the bot's and the service's INFO lines."""
    counter = CountLines()
    names = ("service", "bot", "storage")
    levels = [logging.getLogger(name).level for name in names]
    logging.getLogger().addHandler(counter)
    for name in names:
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        yield counter
    finally:
        logging.getLogger().removeHandler(counter)
        for name, level in zip(names, levels, strict=True):
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def bot_redis_without_read_timeout() -> Iterator[None]:
    """The bot's Redis client with no socket read timeout, as storage.client documents it.

    SimCord drives the bot's time virtually; redis-py's default read timeout would then cut the bot's
    blocking stream reads short, which no real run sees (tests/bot/conftest.py does the same).
    """
    from redis.asyncio import Redis

    import service.connection
    from storage.client import CONNECT_TIMEOUT_S

    def connect(url: str) -> Redis:
        return Redis.from_url(url, decode_responses=False, socket_timeout=None,
                              socket_connect_timeout=CONNECT_TIMEOUT_S, health_check_interval=30)

    original = service.connection.connect
    service.connection.connect = connect
    try:
        yield
    finally:
        service.connection.connect = original


def guild_of(shard: int, shards: int) -> int:
    """A server id on `shard` (discord.py: (id >> 22) % shards), near GUILD_ID."""
    return GUILD_ID + (((shard - (GUILD_ID >> 22)) % shards) << 22)


async def breed_through_the_bot(settings: list[Any], url: str, store: Any, workers: Workers, faults: Faults,
                                report: Report, voters: int, generations: int, rng: random.Random,
                                timeout_s: float, warm_starts: int = 0) -> None:
    """The bots on SimCord, every breed driven to its winner while the faults come; then the check.

    Each bot process runs one shard, with a simulated Discord of its own and a server on its shard; the
    breeds are shared out between them. The first bot runs here; each other one is a process of its own
    (`bench.soak_bot`). They share Redis and the workers. The faults hit the first bot (its restart) and
    everything (a worker, Redis).
    """
    shares = [len(range(shard, report.breeds, len(settings))) for shard in range(len(settings))]
    faults.total_steps = shares[0] * (generations + 3)
    seeds = [rng.randrange(1 << 30) for _ in settings]
    others = [bot_process(shard, len(settings), Path(settings[0].data_dir), url, shares[shard], voters, generations,
                          seeds[shard], timeout_s) for shard in range(1, len(settings))]
    _, *parts = await asyncio.gather(
        drive_bot(0, settings[0], url, store, workers, faults, report, shares[0], voters, generations,
                  random.Random(seeds[0]), timeout_s, consumer="soak-bot-0", warm_starts=warm_starts), *others)
    for part in parts:
        report.finished += part["finished"]
        report.lost_generations += part["lost_generations"]
        report.duplicate_generations += part["duplicate_generations"]
        report.lost_votes += part["lost_votes"]
        report.restarting_answers += part["restarting_answers"]
        report.close_to_post_s += part["close_to_post_s"]
        report.close_to_post_spans += [tuple(span) for span in part.get("close_to_post_spans", [])]
        report.start_to_first_s += part.get("start_to_first_s", [])
        report.problems += part["problems"]
        report.bot_processes.append((part["pid"], part["consumer"]))
        report.bot_errors += part["errors"]
        report.bot_suppressed += part["suppressed"]
    report.redis = await redis_bytes(store, report.finished, leave_out=report.warm_breeds)


async def bot_process(shard: int, bots: int, folder: Path, url: str, breeds: int, voters: int, generations: int,
                      seed: int, timeout_s: float) -> dict[str, Any]:
    """Run the bot of `shard` as a process of its own (bench.soak_bot) and read what it reports."""
    config = folder / f"bot{shard}.json"
    result = folder / f"bot{shard}-report.json"
    config.write_text(json.dumps({
        "shard": shard, "bots": bots, "folder": str(folder), "url": url, "breeds": breeds, "voters": voters,
        "generations": generations, "seed": seed, "timeout_s": timeout_s, "result": str(result),
    }))
    log_path = folder / f"bot{shard}.log"
    with log_path.open("wb") as output:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.soak_bot", str(config),
                                                       stdout=output, stderr=asyncio.subprocess.STDOUT)
        try:
            status = await asyncio.wait_for(process.wait(), timeout_s + 60)
        except BaseException:
            process.kill()
            await process.wait()
            raise
    if status != 0 or not result.exists():
        tail = log_path.read_text(errors="replace")[-1500:]
        return {"finished": 0, "lost_generations": 0, "duplicate_generations": 0, "lost_votes": 0,
                "restarting_answers": 0, "close_to_post_s": [], "pid": process.pid, "consumer": "?",
                "problems": [f"bot process {shard} ended with status {status}: {tail}"], "errors": [],
                "suppressed": 0}
    part: dict[str, Any] = json.loads(result.read_text())
    return part


async def drive_bot(shard: int, settings: Any, url: str, store: Any | None, workers: Workers | None,
                    faults: Faults | None, report: Report, breeds: int, voters: int, generations: int,
                    rng: random.Random, timeout_s: float, consumer: str | None = None,
                    on_start: Callable[[str], object] | None = None, warm_starts: int = 0) -> None:
    """One bot process on its own simulated Discord, its `breeds` breeds driven to their winners; it reads
    events as `consumer` (None: its own name, bot-<host>-<pid>), which `on_start` is told. Then `warm_starts`
    new breeds on its Discord and as many on a web page, one at a time (bench.soak_warm)."""
    import simcord

    from bot.client import MelodyBot
    from storage import BreedStore, connect

    own_store = store is None
    store = store if store is not None else BreedStore(connect(url))
    bot = MelodyBot(settings, url, consumer=consumer)
    if on_start is not None:
        on_start(bot.consumer)
    # Refusals and "restarting" answers are expected here: the check at the end reads the outcome.
    env = simcord.Env(bot, check_errors=False, settle_timeout=SETTLE_TIMEOUT_S)
    # Message ids come from each Discord's clock: a month apart, no two Discords share one.
    env.backend.clock.advance(shard * 30 * 86400)
    # The bot's events loop blocks on Redis: SimCord must know that this wait is for outside input.
    bot.external_wait = env.external_wait
    if faults is not None:
        faults.env, faults.consumer = env, bot.consumer
    await env.start()
    try:
        with env.time_context():
            guild = env.create_guild("Soak", id=guild_of(shard, settings.shard_count),
                                     shard_id=shard if settings.shard_count > 1 else None)
            channel = guild.create_text_channel("melodies")
            people = [guild.add_member(env.create_user(f"voter{i}")) for i in range(voters)]
            home = Home(env, guild, channel, people)
            tracks = [Track(guild.add_member(env.create_user(f"starter{i}")), home) for i in range(breeds)]
            await env.settle()
            driver = Driver(tracks, generations, rng, report)
            if faults is not None:
                faults.votes_to_cast = driver.votes_to_cast
            deadline = time.monotonic() + timeout_s
            clock = time.monotonic()
            while not all(track.done for track in tracks):
                if time.monotonic() > deadline:
                    report.problems.append(f"gave up after {timeout_s:.0f} s")
                    break
                progressed = await driver.round(lambda: faults.tick(driver.steps_done) if faults else _nothing())
                if workers is not None:
                    workers.sample()
                if not progressed:
                    await asyncio.sleep(0.05)
                # SimCord runs the bot on virtual time: its back-off after an outage only passes when the
                # bench lets time pass. Virtual time follows the wall clock, as for a real bot (votes last
                # an hour: no deadline fires).
                now = time.monotonic()
                await advance(env, max(now - clock, 0.01))
                clock = now
            if faults is not None:
                await faults.finish()
            await reconnect(store)
            await driver.check(store)
            if warm_starts:  # new breeds on the warm workers, on Discord and the web page
                report.warm_discord_s, discord_ids = await soak_warm.discord_starts(home, warm_starts, advance)
                report.warm_web_s, web_ids = await soak_warm.web_starts(url, settings, warm_starts)
                report.warm_breeds = discord_ids + web_ids
    finally:
        last_bot = env.bot
        await last_bot.stop_events()
        await env.shutdown()
        # Closed only now: the events loop of the bot blocks on this connection until shutdown.
        await last_bot.service.close()
        if own_store:
            await store.close()


async def _nothing() -> None:
    return None


async def advance(env: Any, seconds: float) -> None:
    """Let `seconds` of the simulated Discord's virtual time pass, however slowly the bot settles.

    SimCord gives up on the bot settling after its settle timeout, keeping what was done ("partial progress
    is committed"). A bot on a loaded machine is slow, not stuck: while its clock moved or it made REST
    calls since the last try, this goes on to the target time; a settle timeout without either fails.
    """
    target = env.now() + datetime.timedelta(seconds=seconds)
    while True:
        progress = (env.now(), len(env.http_requests))
        try:
            left = (target - env.now()).total_seconds()
            await (env.advance_time(left) if left > 0 else env.settle())
            return
        except TimeoutError:
            if (env.now(), len(env.http_requests)) == progress:
                raise
            log.info("a bot was slow to settle; it got on, so the soak waits on")


async def tally_figures(report: Report, workers: Workers, faults: Faults, counter: CountLines, store: Any,
                        keep_logs: Path | None) -> None:
    """Peak memory, retries, suppressed duplicates, errors and dead letters, once every process is done."""
    report.peak_mb.update({f"worker {name}": mb for name, mb in workers.peaks.items()})
    faults.sample_redis()
    report.peak_mb["redis"] = faults.redis_peak_mb
    report.peak_mb["bot and bench"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    logs = workers.logs()
    if keep_logs is not None:
        keep_logs.mkdir(parents=True, exist_ok=True)
        for path in workers.folder.glob("w*.log"):
            shutil.copy(path, keep_logs / path.name)
    report.jobs_retried = len(re.findall(r"reclaimed mb:jobs message", logs))
    report.duplicates_suppressed = (counter.suppressed + report.bot_suppressed
                                    + len(re.findall(r"exists already; nothing written", logs)))
    errors = counter.errors + report.bot_errors + re.findall(r" (?:ERROR|CRITICAL) .*", logs)
    report.errors_logged = len(errors)
    report.problems += [f"error logged: {line[:200]}" for line in errors[:5]]
    try:
        await reconnect(store)
        report.dead_letters = len(await store.streams.jobs.dead_letters(limit=1000))
    except Exception as error:  # noqa: BLE001 - the run failed already; say so, do not hide why
        report.problems.append(f"cannot read the dead letters: {error}")


async def reconnect(store: Any, timeout_s: float = 30.0) -> None:
    """Wait until the bench's own Redis client answers again: its connections died with the Redis restart."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await store.redis.ping()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
