"""`breeder local`: breed melodies in the terminal, on the same worker and Redis pipeline as the bot.

Each generation's clips, MIDI files and piano roll are written to a folder and listed with their
paths; a compact piano roll is drawn in the terminal. Votes are typed as candidate numbers
(`1 3 3 5` gives candidate 3 two votes; an empty line, no votes, re-rolls), `sigma 0.3` changes the
mutation, `finish n` writes the MIDI of candidate n of the generation shown, `finish` alone that of
the favourite of the last votes. `--votes "1 3; 2 2; finish 2"` runs the same commands without a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bot.voting import top_candidate
from breeder.supervisor import Child
from storage import schemas
from storage.schemas import Breed, BreedParams, Job

log = logging.getLogger(__name__)

HELP = "votes: candidate numbers, e.g. `1 3 3 5`  |  `sigma 0.3`  |  `finish [n]`  |  `quit`"


@dataclass(frozen=True)
class Command:
    """One typed line: votes, a new sigma, finish (with an optional candidate), or quit."""

    kind: str  # "votes" | "sigma" | "finish" | "quit"
    votes: tuple[int, ...] = ()
    sigma: float | None = None
    candidate: int | None = None


class CommandError(ValueError):
    """A line that means nothing; the message says what to type."""


def parse_command(line: str, population: int) -> Command:
    """Parse one line of input; candidate numbers are 1-based as people see them."""
    words = line.replace(",", " ").split()
    if not words:
        return Command("votes", ())
    head = words[0].lower()
    if head in ("quit", "exit", "q"):
        return Command("quit")
    if head == "sigma":
        if len(words) != 2:
            raise CommandError("type `sigma` and a number between 0 and 1, e.g. `sigma 0.3`")
        try:
            sigma = float(words[1])
        except ValueError:
            raise CommandError(f"`{words[1]}` is not a number; sigma is between 0 and 1") from None
        if not 0.0 <= sigma <= 1.0:
            raise CommandError("sigma must be between 0 and 1")
        return Command("sigma", sigma=sigma)
    if head == "finish":
        if len(words) > 2:
            raise CommandError("type `finish` or `finish N` with one candidate number")
        candidate = _candidate(words[1], population) if len(words) == 2 else None
        return Command("finish", candidate=candidate)
    return Command("votes", tuple(_candidate(word, population) for word in words))


def _candidate(word: str, population: int) -> int:
    if not word.isdigit() or not 1 <= int(word) <= population:
        raise CommandError(f"`{word}` is not a candidate: type numbers from 1 to {population}")
    return int(word) - 1


class TerminalInput:
    """Lines typed in the terminal (or piped in), read by the event loop without a thread.

    A thread blocked in input() would keep the process from exiting on Ctrl-C, or abort it
    at shutdown with stdin's lock held; a reader callback on the loop has neither problem.
    """

    def __init__(self, fd: int = 0) -> None:
        self._loop = asyncio.get_running_loop()
        self._fd = fd
        self._pending = b""
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        try:
            self._loop.add_reader(fd, self._readable)
            self._watching = True
        except (PermissionError, OSError):  # a regular file cannot be polled: it is all there already
            self._watching = False
            while chunk := os.read(fd, 1 << 20):
                self._take(chunk)
            self._end()

    def _readable(self) -> None:
        chunk = os.read(self._fd, 4096)
        if chunk:
            self._take(chunk)
        else:
            self.close()
            self._end()

    def _take(self, chunk: bytes) -> None:
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for line in lines:
            self._lines.put_nowait(line.decode("utf-8", "replace"))

    def _end(self) -> None:
        if self._pending:
            self._lines.put_nowait(self._pending.decode("utf-8", "replace"))
            self._pending = b""
        self._lines.put_nowait(None)

    async def readline(self, prompt: str) -> str | None:
        """The next line, or None at the end of the input."""
        print(prompt, end="", flush=True)
        return await self._lines.get()

    def close(self) -> None:
        if self._watching:
            self._loop.remove_reader(self._fd)
            self._watching = False


def fitness_from_votes(votes: tuple[int, ...], population: int) -> tuple[int, ...]:
    counts = Counter(votes)
    return tuple(counts.get(i, 0) for i in range(population))


class Session:
    """One local breed: sends jobs, waits for the worker, writes files, reads commands."""

    def __init__(
        self, store, out_dir: Path, params: BreedParams, interactive: bool, timeout_s: float = 300,
        worker: Child | None = None,
    ):
        self.store = store
        self.worker = worker
        self.out_dir = out_dir
        self.params = params
        self.interactive = interactive
        self.timeout_s = timeout_s
        self.breed: Breed | None = None
        self.last_fitness: tuple[int, ...] = ()

    async def start(self, seed_midi: bytes | None) -> int:
        breed_id = self.store.new_breed_id()
        self.breed = Breed(breed_id, owner_id=0, params=self.params, created_at=time.time())
        await self.store.create_breed(self.breed)
        token = await self.store.save_upload(seed_midi) if seed_midi else None
        self.out_dir = self.out_dir / breed_id
        strategy = f", {self.params.strategy} strategy" if self.params.strategy != "classic" else ""
        print(f"Breed {breed_id}: population {self.params.population}, sigma {self.params.sigma}{strategy}, "
              f"files in {self.out_dir}")
        await self.store.enqueue_job(Job("start", breed_id, -1, seed_midi_key=token))
        await self.wait_generation(0)
        return 0

    async def wait_generation(self, number: int) -> schemas.Generation:
        assert self.breed is not None
        generation = await self._wait(lambda: self.store.get_generation(self.breed.breed_id, number),
                                      f"generation {number + 1}")
        await self.show(generation)
        return generation

    async def _wait(self, probe, what: str):
        """Poll Redis for the worker's result, with a status line of how long it has taken."""
        started = time.monotonic()
        spinner = "|/-\\"
        tick = 0
        while True:
            result = await probe()
            if result is not None:
                if self.interactive:
                    print("\r" + " " * 60 + "\r", end="", flush=True)
                return result
            error = await self._worker_error()
            if error:
                raise RuntimeError(error)
            code = self.worker.poll() if self.worker else None
            if self.worker and code is not None:
                raise RuntimeError(f"the worker stopped (status {code}); its last lines "
                                   f"({self.worker.log_path}):\n{self.worker.log_tail()}")
            elapsed = time.monotonic() - started
            if elapsed > self.timeout_s:
                raise RuntimeError(f"no worker answered within {self.timeout_s:.0f} s: is `breeder worker` running?")
            if self.interactive:
                print(f"\r{spinner[tick % 4]} worker: making {what} ({elapsed:4.1f} s)", end="", flush=True)
            tick += 1
            await asyncio.sleep(0.1)

    async def _worker_error(self) -> str | None:
        assert self.breed is not None
        for letter in await self.store.dead_letters(limit=20):
            raw = str(letter.get("raw", ""))
            if self.breed.breed_id in raw and float(letter.get("time", 0)) >= self.breed.created_at:
                return f"the worker refused a job: {letter.get('reason')}"
        return None

    async def show(self, generation: schemas.Generation) -> None:
        from engine.pianoroll import terminal_roll

        assert self.breed is not None
        folder = self.out_dir / f"gen-{generation.number + 1:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in generation.artifacts:
            data = await self.store.get_artifact(self.breed.breed_id, generation.number, name)
            if data is not None:
                (folder / name).write_bytes(data)
        title = f"Generation {generation.number + 1}"
        if generation.rerolled:
            title += " (nobody voted: a fresh random generation)"
        print(f"\n{title}  -  piano roll: {folder / schemas.ROLL_PNG}")
        for candidate, melody in zip(generation.candidates, generation.melodies, strict=True):
            origin = "+".join(candidate.operators)
            print(f"  [{candidate.index + 1}] {folder / schemas.clip_name(candidate.index)}  ({origin})")
            for line in terminal_roll(melody).splitlines():
                print(f"      {line}")

    async def step(self, command: Command) -> bool:
        """Apply one command; False when the session is over."""
        assert self.breed is not None
        breed = await self.store.get_breed(self.breed.breed_id)
        assert breed is not None
        if command.kind == "quit":
            print("Bye. Your files stay in", self.out_dir)
            return False
        if command.kind == "sigma":
            self.breed = await self.store.update_breed(
                breed.breed_id, params=BreedParams(**{**breed.params.__dict__, "sigma": command.sigma})
            )
            print(f"mutation sigma is now {command.sigma}")
            return True
        if command.kind == "finish":
            return await self.finish(breed, command.candidate)
        fitness = fitness_from_votes(command.votes, breed.params.population)
        self.last_fitness = fitness
        if not any(fitness):
            print("No votes: the next generation is a fresh random one.")
        await self.store.enqueue_job(
            Job("evolve", breed.breed_id, breed.generation, fitness=fitness, sigma=breed.params.sigma)
        )
        await self.store.update_breed(breed.breed_id, status="evolving")
        await self.wait_generation(breed.generation + 1)
        await self.store.update_breed(breed.breed_id, status="voting")
        return True

    async def finish(self, breed: Breed, candidate: int | None) -> bool:
        """Write the winner's files: candidate `candidate` of the generation shown last, or else the
        most-voted candidate of the last round of votes (of the generation those votes were for)."""
        number = breed.generation
        if candidate is None:
            candidate = top_candidate(self.last_fitness)
            if candidate is None:
                raise CommandError("nobody has voted yet: type `finish N` with the number of the one you like")
            # Typed votes always breed a new generation: the favourite is in the one before.
            number -= 1
        await self.store.enqueue_job(Job("finish", breed.breed_id, number, candidate=candidate))
        await self._wait(lambda: self.store.get_artifact(breed.breed_id, number, schemas.WINNER_MID), "the winner")
        folder = self.out_dir / "winner"
        folder.mkdir(parents=True, exist_ok=True)
        for name in (schemas.WINNER_MID, schemas.WINNER_AUDIO, schemas.WINNER_PNG):
            data = await self.store.get_artifact(breed.breed_id, number, name)
            if data is not None:
                (folder / name).write_bytes(data)
        await self.store.update_breed(breed.breed_id, status="finished", winner=candidate)
        print(f"\nWinner: candidate {candidate + 1} of generation {number + 1}")
        print(f"  MIDI:  {folder / schemas.WINNER_MID}")
        print(f"  audio: {folder / schemas.WINNER_AUDIO}")
        print(f"  roll:  {folder / schemas.WINNER_PNG}")
        return False


async def run_session(store, args: argparse.Namespace, params: BreedParams, worker: Child | None = None) -> int:
    """Drive one breed from its first generation to `finish`, `quit` or the end of the input.

    `worker`: the worker process this session started, if any; its death ends the wait at once.
    """
    scripted = args.votes is not None
    session = Session(store, Path(args.out), params, interactive=not scripted and sys.stdin.isatty(), worker=worker)
    seed = Path(args.seed_midi).read_bytes() if args.seed_midi else None
    await session.start(seed)
    lines = [part.strip() for part in args.votes.split(";")] if scripted else None
    terminal = None if scripted else TerminalInput()
    try:
        while True:
            if terminal is None:
                if not lines:
                    return 0
                line: str | None = lines.pop(0)
                print(f"> {line}")
            else:
                print(f"\n{HELP}")
                line = await terminal.readline("> ")
                if line is None:
                    return 0
                if not session.interactive:  # a terminal echoes what is typed; a pipe or file does not
                    print(line)
            try:
                if not await session.step(parse_command(line, params.population)):
                    return 0
            except CommandError as error:
                print(f"  {error}")
                if scripted:
                    return 2
    finally:
        if terminal is not None:
            terminal.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--votes", default=None,
                        help='scripted rounds separated by ";", e.g. "1 3 3; 2; sigma 0.2; 4 4; finish 4"')
    parser.add_argument("--out", default=None, help="folder for clips and MIDI files (default: data/local)")
    parser.add_argument("--population", type=int, default=None, help="candidates per generation (2-10)")
    parser.add_argument("--sigma", type=float, default=None, help="mutation sigma (0-1)")
    parser.add_argument("--foreign", type=int, default=None, help="fresh random candidates per generation")
    parser.add_argument("--tempo", type=int, default=None, help="tempo in BPM")
    parser.add_argument("--instrument", type=int, default=None, help="General MIDI program (0-127)")
    parser.add_argument("--strategy", default=None, choices=schemas.STRATEGIES,
                        help="GA strategy: classic, or elitist (the favourite survives unchanged)")
    parser.add_argument("--seed-midi", default=None, help="start from the first 2 bars of this MIDI file")
    parser.add_argument("--no-worker", action="store_true",
                        help="do not start a worker process (one is already running on this Redis)")


def params_from(args: argparse.Namespace, settings) -> BreedParams:
    params = BreedParams(
        population=args.population if args.population is not None else settings.population,
        sigma=args.sigma if args.sigma is not None else settings.mutation_sigma,
        foreign=args.foreign if args.foreign is not None else settings.foreign,
        vote_minutes=settings.vote_minutes,
        tempo=args.tempo if args.tempo is not None else settings.tempo,
        instrument=args.instrument if args.instrument is not None else settings.instrument,
        strategy=args.strategy if args.strategy is not None else settings.strategy,
    )
    params.validate()
    return params


def run(args: argparse.Namespace) -> int:
    from breeder.logs import configure
    from breeder.settings import CommonSettings, load

    settings = load(CommonSettings)
    configure("WARNING")
    try:
        params = params_from(args, settings)
    except schemas.SchemaError as error:
        print(f"breeder local: {error}", file=sys.stderr)
        return 2
    if args.seed_midi:
        from engine.midi import MidiError, validate_upload

        try:
            validate_upload(Path(args.seed_midi).read_bytes())
        except (OSError, MidiError) as error:
            print(f"breeder local: cannot use {args.seed_midi}: {error}", file=sys.stderr)
            return 2
    args.out = args.out or str(settings.data_dir / "local")
    return asyncio.run(_main(args, settings, params))


async def _main(args: argparse.Namespace, settings, params: BreedParams) -> int:
    from breeder.redis_server import embedded_or_configured
    from storage import connect
    from storage.store import BreedStore

    with embedded_or_configured(settings) as url:
        worker = None
        if not args.no_worker:
            worker = Child("worker", [sys.executable, "-m", "breeder.cli", "worker"], {"REDIS_URL": url},
                           settings.data_dir / "logs" / "worker.log")
            worker.start()
            print(f"Worker log: {worker.log_path}")
        store = BreedStore(connect(url))
        try:
            await store.ensure_groups()
            return await run_session(store, args, params, worker)
        except RuntimeError as error:
            print(f"\nbreeder local: {error}", file=sys.stderr)
            return 1
        finally:
            await store.close()
            if worker:
                worker.stop()
