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
posted" (p50, p95), and the peak memory of every process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.soak_faults import Faults, Workers
from bot.voting import NUMBER_EMOJI
from runtime.exits import CONFIG_ERROR, FAILURE, OK

log = logging.getLogger(__name__)

GUILD_ID = 424242424242424242
POPULATION = 4
RESTARTING = "The breeding service is restarting"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--breeds", type=int, default=50, help="breeds at once (default 50)")
    parser.add_argument("--voters", type=int, default=5, help="voters per breed (default 5)")
    parser.add_argument("--generations", type=int, default=3, help="Next presses per breed before finish (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=540.0, help="give up after this many seconds")
    parser.add_argument("--logs", type=Path, default=None, help="keep the workers' logs in this folder")


def run(args: argparse.Namespace) -> int:
    if args.breeds < 1 or args.voters < 1 or args.generations < 1 or args.workers < 2:
        print("breeder bench soak: need at least 1 breed, voter and generation, and 2 workers", file=sys.stderr)
        return CONFIG_ERROR
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = asyncio.run(soak(args.breeds, args.voters, args.generations, args.workers, args.seed, args.timeout,
                              keep_logs=args.logs))
    print(report.text())
    return OK if report.clean else FAILURE


@dataclass
class Track:
    """What the driver did to one breed, to check against what Discord and Redis show."""

    starter: Any
    breed_id: str = ""
    thread: Any = None
    generation: int = 0  # the generation up for votes, 0-based
    voted: bool = False
    closed_at: float | None = None
    finishing: bool = False
    done: bool = False
    votes: dict[int, tuple[int, ...]] = field(default_factory=dict)  # generation -> reactions per candidate


@dataclass
class Report:
    breeds: int
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
            f"jobs retried: {self.jobs_retried}  duplicates suppressed: {self.duplicates_suppressed}  "
            f"dead letters: {self.dead_letters}",
            f"commands answered '{RESTARTING}': {self.restarting_answers}  "
            f"errors logged (bot and workers): {self.errors_logged}",
            f"voting closed -> next generation posted: p50 {self.p(0.5):.2f} s, p95 {self.p(0.95):.2f} s "
            f"({len(self.close_to_post_s)} steps; mean {statistics.fmean(self.close_to_post_s or [0]):.2f} s)",
            "peak memory: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in self.peak_mb.items()),
        ]
        lines += [f"problem: {problem}" for problem in self.problems[:20]]
        lines.append(f"RESULT breeds_finished={self.finished} lost_generations={self.lost_generations} "
                     f"duplicate_generations={self.duplicate_generations} lost_votes={self.lost_votes} "
                     f"p50_close_to_post_s={self.p(0.5):.2f} p95_close_to_post_s={self.p(0.95):.2f}")
        return "\n".join(lines)


class CountLines(logging.Handler):
    """Counts this process's log lines that say a duplicate was suppressed, and its errors."""

    PATTERNS = ("posted before a restart", "shown already", "not opening a vote", "exists already")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.suppressed = 0
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(pattern in message for pattern in self.PATTERNS):
            self.suppressed += 1
        if record.levelno >= logging.ERROR:
            self.errors.append(f"{record.name}: {message}")


async def soak(breeds: int, voters: int, generations: int, worker_count: int, seed: int, timeout_s: float,
               keep_logs: Path | None = None) -> Report:
    """Run the scenario; the report of what Discord and Redis show at the end (the workers' logs go to `keep_logs`)."""
    from runtime.redis_server import RedisServer, free_port
    from runtime.settings import BotSettings
    from storage import BreedStore, connect

    report = Report(breeds)
    started = time.monotonic()
    with counting_logs() as counter, bot_redis_without_read_timeout(), tempfile.TemporaryDirectory(
            prefix="soak-") as scratch:
        folder = Path(scratch)
        redis = RedisServer(folder / "redis", port=free_port(), appendonly=True)  # the same port after a restart
        url = redis.start()
        workers = Workers(url, folder, worker_count)
        store = BreedStore(connect(url))
        settings = BotSettings(
            _env_file=None, discord_token="soak", sync_commands=True, dev_guild_id=GUILD_ID,
            population=POPULATION, foreign=1, vote_minutes=60.0, data_dir=folder,
            max_open_breeds_per_server=10_000, max_open_breeds_per_member=10_000, start_cooldown_s=0,
            morph_cooldown_s=0,
        )
        faults = Faults(redis, workers, store, settings, url, report, total_steps=breeds * (generations + 3))
        try:
            await breed_through_the_bot(settings, url, store, workers, faults, report, voters, generations,
                                        random.Random(seed), timeout_s)
        finally:
            workers.stop()
            try:
                await tally_figures(report, workers, faults, counter, store, keep_logs)
            finally:
                await store.close()
                redis.stop()
    report.seconds = time.monotonic() - started
    return report


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
    service.connection.connect = connect  # type: ignore[assignment]
    try:
        yield
    finally:
        service.connection.connect = original  # type: ignore[assignment]


async def breed_through_the_bot(settings: Any, url: str, store: Any, workers: Workers, faults: Faults,
                                report: Report, voters: int, generations: int, rng: random.Random,
                                timeout_s: float) -> None:
    """The bot on SimCord, every breed driven to its winner while the faults come; then the check."""
    import simcord

    from bot.client import MelodyBot

    first_bot = MelodyBot(settings, url)
    # Refusals and "restarting" answers are expected here: the check at the end reads the outcome.
    env = simcord.Env(first_bot, check_errors=False)
    # The bot's events loop blocks on Redis: SimCord must know that this wait is for outside input.
    first_bot.external_wait = env.external_wait
    faults.env = env
    await env.start()
    try:
        with env.time_context():
            guild = env.create_guild("Soak", id=GUILD_ID)
            channel = guild.create_text_channel("melodies")
            tracks = [Track(guild.add_member(env.create_user(f"starter{i}"))) for i in range(report.breeds)]
            people = [guild.add_member(env.create_user(f"voter{i}")) for i in range(voters)]
            await env.settle()
            driver = Driver(env, guild, channel, tracks, people, generations, rng, report)
            faults.votes_to_cast = driver.votes_to_cast
            deadline = time.monotonic() + timeout_s
            clock = time.monotonic()
            while not all(track.done for track in tracks):
                if time.monotonic() > deadline:
                    report.problems.append(f"gave up after {timeout_s:.0f} s")
                    break
                progressed = await driver.round(lambda: faults.tick(driver.steps_done))
                workers.sample()
                if not progressed:
                    await asyncio.sleep(0.05)
                # SimCord runs the bot on virtual time: its back-off after an outage only passes when the
                # bench lets time pass. Virtual time follows the wall clock, as for a real bot (votes last
                # an hour: no deadline fires).
                now = time.monotonic()
                await env.advance_time(max(now - clock, 0.01))
                clock = now
            await faults.finish()
            await reconnect(store)
            await driver.check(store)
    finally:
        last_bot = env.bot
        await env.shutdown()
        # Closed only now: the events loop of the bot blocks on this connection until shutdown.
        await last_bot.service.close()  # type: ignore[attr-defined]


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
    report.duplicates_suppressed = counter.suppressed + len(re.findall(r"exists already; nothing written", logs))
    errors = counter.errors + re.findall(r" (?:ERROR|CRITICAL) .*", logs)
    report.errors_logged = len(errors)
    report.problems += [f"error logged: {line[:200]}" for line in errors[:5]]
    try:
        await reconnect(store)
        report.dead_letters = len(await store.dead_letters(limit=1000))
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


class Driver:
    """Moves every breed one step at a time: start, reactions, Next, ..., finish. One interaction at a time.

    It acts on what Discord shows (the thread's messages, the answers), never on Redis: people go on
    reacting and pressing while Redis is away.
    """

    def __init__(self, env: Any, guild: Any, channel: Any, tracks: list[Track], people: list[Any],
                 generations: int, rng: random.Random, report: Report) -> None:
        self.env, self.guild, self.channel = env, guild, channel
        self.tracks, self.people, self.generations, self.rng, self.report = tracks, people, generations, rng, report
        self.steps_done = 0

    def find_thread(self, thread_id: int) -> Any:
        for channel in self.guild.channels.values():
            for thread in channel.threads:
                if thread.id == thread_id:
                    return thread
        return None

    @staticmethod
    def vote_message(track: Track, number: int) -> Any:
        title = f"**Generation {number + 1}**"
        shown = [m for m in track.thread.history() if m.author.bot and m.reactions and title in m.content]
        return shown[0] if shown else None

    @staticmethod
    def winner_posted(track: Track) -> bool:
        return any(a.filename == "winner.mid" for m in track.thread.history() for a in m.attachments)

    async def interact(self, action: Any) -> str:
        """One SimCord operation; its answer's text ("" when there is none)."""
        try:
            result = await action
        except Exception as error:  # noqa: BLE001 - a fault in progress; the round comes back to it
            log.info("interaction failed during a fault: %s", error)
            return ""
        answer = result.response.content if result is not None and result.response is not None else ""
        if answer.startswith(RESTARTING):
            self.report.restarting_answers += 1
        return answer

    def votes_to_cast(self) -> bool:
        """Whether some breed's generation is posted and its voters have not reacted yet."""
        return any(track.thread is not None and not (track.done or track.finishing or track.voted)
                   and track.closed_at is None and self.vote_message(track, track.generation) is not None
                   for track in self.tracks)

    def observe(self) -> None:
        """Note every next generation posted since the last look (reads Discord only, so quick)."""
        for track in self.tracks:
            if track.closed_at is not None and self.vote_message(track, track.generation) is not None:
                self.report.close_to_post_s.append(time.monotonic() - track.closed_at)
                track.closed_at = None

    async def round(self, between: Callable[[], Awaitable[None]]) -> bool:
        """One action for every breed that is ready for one; whether anything happened.

        Between two breeds' actions the bench looks at all of them (so that "posted" is noticed within
        one interaction, not one round of fifty) and lets the faults come in (`between()`).
        """
        progressed = False
        for track in self.tracks:
            self.observe()
            await between()
            if not track.done:
                progressed |= await self.step(track)
        return progressed

    async def step(self, track: Track) -> bool:
        if not track.breed_id:
            answer = await self.interact(track.starter.slash(self.channel, "breed start"))
            match = re.match(r"Breed `([a-z0-9]+)` started in <#(\d+)>", answer)
            if match is None:
                return False
            track.breed_id, track.thread = match.group(1), self.find_thread(int(match.group(2)))
            self.steps_done += 1
            return True
        if track.finishing:
            if not self.winner_posted(track):
                return False
            track.done = True
            self.steps_done += 1
            return True
        if track.closed_at is not None:  # waiting for the next generation; observe() times it
            return False
        message = self.vote_message(track, track.generation)
        if message is None:
            return False
        if not track.voted:
            counts = [0] * POPULATION
            for person in self.people:
                for index in self.rng.sample(range(POPULATION), 2):
                    try:
                        await person.react(message, NUMBER_EMOJI[index])
                    except Exception as error:  # noqa: BLE001 - not made, so not expected in the fitness
                        log.warning("breed %s: a reaction failed: %s", track.breed_id, error)
                    else:
                        counts[index] += 1
            track.votes[track.generation] = tuple(counts)
            track.voted = True
            return True
        if track.generation < self.generations:
            answer = await self.interact(track.starter.click(message, label="Next"))
            if not answer.startswith("Voting on generation"):
                return False
            track.closed_at = time.monotonic()
            track.generation += 1
            track.voted = False
            self.steps_done += 1
            return True
        answer = await self.interact(track.starter.slash(track.thread, "breed finish"))
        if not answer.startswith("Finishing with candidate"):
            return False
        track.finishing = True
        self.steps_done += 1
        return True

    async def check(self, store: Any) -> None:
        """What Discord and Redis show: winners posted once, every generation posted once, every vote counted."""
        from domain.votes import top_candidate

        for track in self.tracks:
            if track.thread is None:
                self.report.lost_generations += self.generations + 1
                self.report.problems.append(f"breed {track.breed_id or '?'} never started")
                continue
            history = track.thread.history()
            winners = [m for m in history if any(a.filename == "winner.mid" for a in m.attachments)]
            breed = await store.get_breed(track.breed_id)
            if breed is not None and breed.status == "finished" and len(winners) == 1:
                self.report.finished += 1
            elif len(winners) > 1:
                self.report.problems.append(f"breed {track.breed_id}: winner posted {len(winners)} times")
            else:
                self.report.problems.append(f"breed {track.breed_id}: no winner posted "
                                            f"(status {breed.status if breed else 'unknown'})")
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
                if number < self.generations:  # the fitness of the step these votes closed
                    made = await store.get_generation(track.breed_id, number + 1)
                    counted = tuple(made.fitness) if made is not None else ()
                else:  # the last generation's votes chose the winner
                    counted = tuple(await store.tally(track.breed_id, number, POPULATION))
                    if breed is not None and breed.winner != top_candidate(reacted):
                        self.report.problems.append(f"breed {track.breed_id}: winner {breed.winner} is not "
                                                    f"the top of the votes {reacted}")
                missing = sum(max(want - (counted[i] if i < len(counted) else 0), 0) for i, want in enumerate(reacted))
                if missing:
                    self.report.lost_votes += missing
                    self.report.problems.append(f"breed {track.breed_id} gen {number + 1}: {missing} votes lost "
                                                f"(reacted {reacted}, counted {counted})")
