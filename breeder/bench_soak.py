"""`breeder bench soak`: many breeds at once through the real bot, with a worker killed, Redis and the bot restarted.

Everything runs on this machine: a real redis-server with AOF, real `breeder worker` processes, and
the real discord.py bot against SimCord (a simulated Discord, in this process). Every breed is
started with `/breed start`, each generation gets its voters' reactions and the starter's **Next**,
and `/breed finish` ends it. While the breeds run, three faults hit in turn: one worker is SIGKILLed
(and started again), Redis is stopped and started again on the same port and data, and the bot is
restarted. At the end the bench reads Discord and Redis to check that nothing was lost or doubled:

- breeds finished: the breed is finished and its thread has exactly one post with `winner.mid`;
- lost / duplicate generations: a generation whose vote message was never posted, or posted twice;
- lost votes: reactions made but missing from the fitness of the step they voted on.

Figures: jobs retried (deliveries after the first, from the workers' logs), duplicates suppressed
(writes and posts that were already done, from the logs), "voting closed" to "next generation
posted" (p50, p95), and the peak memory of every process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.exits import FAILURE, OK

log = logging.getLogger(__name__)

GUILD_ID = 424242424242424242
NUMBER_KEYCAPS = tuple(f"{digit}\ufe0f\u20e3" for digit in "123456789") + ("\U0001f51f",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--breeds", type=int, default=50, help="breeds at once (default 50)")
    parser.add_argument("--voters", type=int, default=5, help="voters per breed (default 5)")
    parser.add_argument("--generations", type=int, default=3, help="Next presses per breed before finish (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=540.0, help="give up after this many seconds")


def run(args: argparse.Namespace) -> int:
    if args.breeds < 1 or args.voters < 1 or args.generations < 1 or args.workers < 2:
        print("breeder bench soak: need at least 1 breed, voter and generation, and 2 workers", file=sys.stderr)
        return FAILURE
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = asyncio.run(soak(args.breeds, args.voters, args.generations, args.workers, args.seed, args.timeout))
    print(report.text())
    return OK if report.clean else FAILURE


@dataclass
class Track:
    """What the driver did to one breed, to check against what Discord and Redis show."""

    starter: Any
    breed_id: str = ""
    thread_id: int = 0
    generation: int = 0  # the generation up for votes, 0-based
    voted: bool = False
    closed_at: float | None = None
    finishing: bool = False
    done: bool = False
    votes: dict[int, tuple[int, ...]] = field(default_factory=dict)  # generation -> the fitness reacted


@dataclass
class Report:
    breeds: int
    finished: int = 0
    lost_generations: int = 0
    duplicate_generations: int = 0
    lost_votes: int = 0
    jobs_retried: int = 0
    duplicates_suppressed: int = 0
    close_to_post_s: list[float] = field(default_factory=list)
    peak_mb: dict[str, float] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return (self.finished == self.breeds and not self.lost_generations and not self.duplicate_generations
                and not self.lost_votes)

    def p(self, q: float) -> float:
        if not self.close_to_post_s:
            return float("nan")
        ordered = sorted(self.close_to_post_s)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def text(self) -> str:
        lines = [
            f"{self.breeds} breeds in {self.seconds:.0f} s; faults: {'; '.join(self.faults) or 'none'}",
            f"breeds finished (winner.mid posted once): {self.finished} of {self.breeds}",
            f"lost generations: {self.lost_generations}  duplicate generations: {self.duplicate_generations}  "
            f"lost votes: {self.lost_votes}",
            f"jobs retried: {self.jobs_retried}  duplicates suppressed: {self.duplicates_suppressed}",
            f"voting closed -> next generation posted: p50 {self.p(0.5):.2f} s, p95 {self.p(0.95):.2f} s "
            f"({len(self.close_to_post_s)} steps; mean {statistics.fmean(self.close_to_post_s or [0]):.2f} s)",
            "peak memory: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in self.peak_mb.items()),
        ]
        lines += [f"problem: {problem}" for problem in self.problems[:20]]
        lines.append(f"RESULT breeds_finished={self.finished} lost_generations={self.lost_generations} "
                     f"duplicate_generations={self.duplicate_generations} lost_votes={self.lost_votes} "
                     f"p95_close_to_post_s={self.p(0.95):.2f}")
        return "\n".join(lines)


class Workers:
    """`breeder worker` processes on one Redis, with their logs in files."""

    def __init__(self, url: str, folder: Path, count: int) -> None:
        self.url, self.folder = url, folder
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.peaks: dict[str, float] = {}
        for index in range(count):
            self.start(f"w{index + 1}")

    def start(self, name: str) -> None:
        env = {**os.environ, "REDIS_URL": self.url, "LOG_LEVEL": "INFO", "JOB_TIMEOUT_S": "5"}
        with (self.folder / f"{name}.log").open("ab") as output:
            self.processes[name] = subprocess.Popen([sys.executable, "-m", "breeder.cli", "worker", "--consumer", name],
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


class CountLines(logging.Handler):
    """Counts log lines of this process that say a duplicate was suppressed."""

    PATTERNS = ("posted before a restart", "shown already", "not opening a vote", "exists already")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(pattern in message for pattern in self.PATTERNS):
            self.count += 1


async def soak(breeds: int, voters: int, generations: int, worker_count: int, seed: int, timeout_s: float,
               ) -> Report:
    """Run the scenario; the report of what Discord and Redis show at the end."""
    import simcord
    from redis.asyncio import Redis

    import bot.client
    from bot.client import MelodyBot
    from runtime.redis_server import RedisServer, free_port
    from runtime.settings import BotSettings
    from storage import BreedStore, connect
    from storage.client import CONNECT_TIMEOUT_S

    # SimCord drives time virtually; redis-py's default socket timeout would then cut the bot's blocking
    # stream reads short. No read timeout, as storage.client documents.
    def no_read_timeout(url: str) -> Redis:
        return Redis.from_url(url, decode_responses=False, socket_timeout=None,
                              socket_connect_timeout=CONNECT_TIMEOUT_S, health_check_interval=30)

    bot.client.connect = no_read_timeout  # type: ignore[assignment]
    counter = CountLines()
    logging.getLogger().addHandler(counter)
    for name in ("service", "bot", "storage"):
        logging.getLogger(name).setLevel(logging.INFO)
    rng = random.Random(seed)
    report = Report(breeds)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        folder = Path(scratch)
        redis = RedisServer(folder / "redis", port=free_port(), appendonly=True)  # the same port after a restart
        url = redis.start()
        workers = Workers(url, folder, worker_count)
        store = BreedStore(connect(url))
        settings = BotSettings(
            _env_file=None, discord_token="soak", sync_commands=True, dev_guild_id=GUILD_ID, population=4,
            foreign=1, vote_minutes=60.0, data_dir=folder, max_open_breeds_per_server=10_000,
            max_open_breeds_per_member=10_000, start_cooldown_s=0, morph_cooldown_s=0,
        )
        try:
            first_bot = MelodyBot(settings, url)
            env = simcord.Env(first_bot, check_errors=False)
            # The bot's events loop blocks on Redis: SimCord must know that this wait is for outside input.
            first_bot.external_wait = env.external_wait
            await env.start()
            try:
                with env.time_context():
                    guild = env.create_guild("Soak", id=GUILD_ID)
                    channel = guild.create_text_channel("melodies")
                    tracks = [Track(guild.add_member(env.create_user(f"starter{i}"))) for i in range(breeds)]
                    people = [guild.add_member(env.create_user(f"voter{i}")) for i in range(voters)]
                    await env.settle()
                    driver = Driver(env, guild, channel, store, tracks, people, generations, rng, report)
                    faults = Faults(redis, workers, env, settings, url, report,
                                    total_steps=breeds * (generations + 2))
                    deadline = time.monotonic() + timeout_s
                    while not all(track.done for track in tracks):
                        if time.monotonic() > deadline:
                            report.problems.append(f"gave up after {timeout_s:.0f} s")
                            break
                        progressed = await driver.round()
                        await faults.maybe(driver.steps_done)
                        workers.sample()
                        if not progressed:
                            # SimCord runs the bot on virtual time: its back-off after an outage only
                            # passes when the bench lets time pass (vote windows are an hour: no deadline fires).
                            await env.advance_time(0.5)
                            await asyncio.sleep(0.05)
                    await driver.check()
            finally:
                last_bot = env.bot
                await env.shutdown()
                await last_bot.store.close()  # type: ignore[attr-defined]
        finally:
            workers.stop()
            report.peak_mb.update({f"worker {name}": mb for name, mb in workers.peaks.items()})
            if redis.pid is not None:
                report.peak_mb["redis"] = peak_mb(redis.pid)
            report.peak_mb["bot and bench"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            logs = workers.logs()
            report.jobs_retried = len(re.findall(r"reclaimed mb:jobs message", logs))
            report.duplicates_suppressed = counter.count + len(re.findall(r"exists already; nothing written", logs))
            await store.close()
            redis.stop()
    report.seconds = time.monotonic() - started
    return report


class Driver:
    """Moves every breed one step at a time: start, reactions, Next, ..., finish. One interaction at a time."""

    def __init__(self, env: Any, guild: Any, channel: Any, store: Any, tracks: list[Track], people: list[Any],
                 generations: int, rng: random.Random, report: Report) -> None:
        self.env, self.guild, self.channel, self.store = env, guild, channel, store
        self.tracks, self.people, self.generations, self.rng, self.report = tracks, people, generations, rng, report
        self.steps_done = 0

    def thread(self, track: Track) -> Any:
        for channel in self.guild.channels.values():
            for thread in channel.threads:
                if thread.id == track.thread_id:
                    return thread
        return None

    def vote_message(self, track: Track, number: int) -> Any:
        thread = self.thread(track)
        if thread is None:
            return None
        title = f"**Generation {number + 1}**"
        shown = [m for m in thread.history() if m.author.bot and m.reactions and title in m.content]
        return shown[0] if shown else None

    async def interact(self, action: Any) -> Any:
        """One SimCord operation; Redis may be away (the bot answers that it is restarting): try again later."""
        try:
            return await action
        except Exception as error:  # noqa: BLE001 - a fault in progress; the round comes back to it
            log.info("interaction failed during a fault: %s", error)
            return None

    async def observe(self) -> None:
        """Note every next generation posted since the last look (no interaction: reads only, so quick)."""
        for track in self.tracks:
            if track.closed_at is None:
                continue
            breed = await self.store.get_breed(track.breed_id)
            if (breed is not None and breed.status == "voting" and breed.generation == track.generation
                    and self.vote_message(track, track.generation) is not None):
                self.report.close_to_post_s.append(time.monotonic() - track.closed_at)
                track.closed_at = None

    async def round(self) -> bool:
        """One action for every breed that is ready for one; whether anything happened.

        Between two breeds' actions the bench looks at all of them, so that "posted" is noticed within
        one interaction, not one round of fifty.
        """
        progressed = False
        for track in self.tracks:
            try:
                await self.observe()
            except Exception as error:  # noqa: BLE001 - Redis restarting
                log.info("cannot look at the breeds now: %s", error)
            if track.done:
                continue
            try:
                progressed |= await self.step(track)
            except Exception as error:  # noqa: BLE001 - Redis restarting: read again next round
                log.info("breed %s: waiting (%s)", track.breed_id, error)
        return progressed

    async def step(self, track: Track) -> bool:
        if not track.breed_id:
            result = await self.interact(track.starter.slash(self.channel, "breed start"))
            answer = result.response.content if result is not None and result.response is not None else ""
            match = re.match(r"Breed `([a-z0-9]+)` started in <#(\d+)>", answer)
            if match is None:
                return False
            track.breed_id, track.thread_id = match.group(1), int(match.group(2))
            self.steps_done += 1
            return True
        breed = await self.store.get_breed(track.breed_id)
        if breed is None:
            return False
        if track.finishing:
            if breed.status == "finished":
                track.done = True
                self.steps_done += 1
                return True
            return False
        if breed.status != "voting" or breed.generation != track.generation:
            return False
        message = self.vote_message(track, track.generation)
        if message is None:
            return False
        if track.closed_at is not None:  # posted: observe() takes its time first
            return False
        if not track.voted:
            picks = [tuple(self.rng.sample(range(breed.params.population), 2)) for _ in self.people]
            for person, chosen in zip(self.people, picks, strict=True):
                for index in chosen:
                    await self.interact(person.react(message, NUMBER_KEYCAPS[index]))
            counts = [0] * breed.params.population
            for chosen in picks:
                for index in chosen:
                    counts[index] += 1
            track.votes[track.generation] = tuple(counts)
            track.voted = True
            return True
        if track.generation < self.generations:
            result = await self.interact(track.starter.click(message, label="Next"))
            answer = result.response.content if result is not None and result.response is not None else ""
            if answer.startswith("Voting on generation"):
                track.closed_at = time.monotonic()
                track.generation += 1
                track.voted = False
                self.steps_done += 1
                return True
            return False
        result = await self.interact(track.starter.slash(self.thread(track), "breed finish"))
        answer = result.response.content if result is not None and result.response is not None else ""
        if answer.startswith("Finishing with candidate"):
            track.finishing = True
            self.steps_done += 1
            return True
        return False

    async def check(self) -> None:
        """What Discord and Redis show: winners posted once, every generation posted once, every vote counted."""
        for track in self.tracks:
            thread = self.thread(track)
            if thread is None:
                self.report.lost_generations += self.generations + 1
                self.report.problems.append(f"breed {track.breed_id or '?'} never started")
                continue
            history = thread.history()
            winners = [m for m in history if any(a.filename == "winner.mid" for a in m.attachments)]
            breed = await self.store.get_breed(track.breed_id)
            if breed is not None and breed.status == "finished" and len(winners) == 1:
                self.report.finished += 1
            elif len(winners) > 1:
                self.report.problems.append(f"breed {track.breed_id}: winner posted {len(winners)} times")
            for number in range(self.generations + 1):
                posts = [m for m in history if m.author.bot and f"**Generation {number + 1}**" in m.content
                         and m.attachments]
                if not posts:
                    self.report.lost_generations += 1
                    self.report.problems.append(f"breed {track.breed_id}: generation {number + 1} never posted")
                elif len(posts) > 1:
                    self.report.duplicate_generations += len(posts) - 1
                    self.report.problems.append(f"breed {track.breed_id}: generation {number + 1} posted twice")
            for number, reacted in track.votes.items():
                if number >= self.generations:
                    continue  # the last generation's votes chose the winner, not a next generation
                made = await self.store.get_generation(track.breed_id, number + 1)
                counted = made.fitness if made is not None else ()
                missing = sum(max(want - (counted[i] if i < len(counted) else 0), 0) for i, want in enumerate(reacted))
                if missing:
                    self.report.lost_votes += missing
                    self.report.problems.append(f"breed {track.breed_id} gen {number + 1}: {missing} votes lost")


class Faults:
    """The three faults, each once, spread over the run: a worker killed, Redis restarted, the bot restarted."""

    def __init__(self, redis: Any, workers: Workers, env: Any, settings: Any, url: str, report: Report,
                 total_steps: int) -> None:
        self.redis, self.workers, self.env, self.settings, self.url = redis, workers, env, settings, url
        self.report = report
        self.plan = [(0.25, self.kill_worker), (0.5, self.restart_redis), (0.75, self.restart_bot)]
        self.total_steps = total_steps

    async def maybe(self, steps_done: int) -> None:
        while self.plan and steps_done >= self.plan[0][0] * self.total_steps:
            _, fault = self.plan.pop(0)
            await fault()

    async def kill_worker(self) -> None:
        self.workers.kill("w1")
        self.report.faults.append("worker w1 SIGKILLed and started again")
        self.workers.start("w1")

    async def restart_redis(self) -> None:
        self.redis.stop()
        await asyncio.sleep(2.0)
        await asyncio.to_thread(self.redis.start)  # the same port and data folder: the AOF brings it all back
        self.report.faults.append("Redis stopped for 2 s and started again (AOF)")

    async def restart_bot(self) -> None:
        from bot.client import MelodyBot

        new = MelodyBot(self.settings, self.url)
        new.external_wait = self.env.external_wait
        old = self.env.bot
        await self.env.restart_bot(new)
        await old.store.close()
        self.report.faults.append("the bot restarted")
