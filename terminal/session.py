"""The terminal session: breed melodies in the terminal, on the breeding service like the bot.

Each generation's clips, MIDI files and piano roll are written to a folder and listed with their
paths; a compact piano roll is drawn in the terminal. Votes are typed as candidate numbers
(`1 3 3 5` gives candidate 3 two votes; an empty line, no votes, re-rolls, and BREED_MAX_IDLE_ROUNDS of them
in a row, or the votes on generation BREED_MAX_GENERATIONS, end the breed with its best melody so far, as the
bot's deadlines do), `sigma 0.3` changes the
mutation, `finish n` writes the MIDI of candidate n of the generation shown (and the tune made from
it), `finish` alone that of the favourite of the last votes; then `tune` makes another tune from the
winner, `tune <melody id> [8|16] [none|chords|band]` from any melody. `--votes "1 3; 2 2; finish 2"`
runs the same commands without a terminal.

Every change goes through the breeding service: the same checks, vote rule and refusals as the
bot; the person at the terminal is the breed's starter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from domain import artifacts
from domain.errors import BreedError
from domain.ids import MelodyRef
from domain.model import Breed, BreedParams, Composition, Front, Generation, TuneRequest
from domain.rules import Actor, refusal
from domain.strategies import DEFAULT_STRATEGY
from runtime.exits import CONFIG_ERROR
from runtime.signals import sleep_or_stop
from service.breeding import BreedingService, Transition
from service.errors import STORAGE_FULL, STORAGE_FULL_TEXT
from service.events import SESSION_BEAT_S
from service.results import Files
from service.router import EventRouter, Morph, Tree
from service.tasks import BackgroundTasks
from terminal.commands import FINISHED_HELP, HELP, Command, CommandError, TerminalInput, parse_command
from terminal.roll import terminal_roll

log = logging.getLogger(__name__)

# The person at the terminal: the starter of the session's breed.
LOCAL_USER = 0
LOCAL_ACTOR = Actor(LOCAL_USER)
# How long the events loop's read blocks: ending a session waits for it.
EVENTS_BLOCK_MS = 500
# How often the status line is redrawn (and the worker process checked) while the worker works.
REDRAW_S = 0.1


class Worker(Protocol):
    """The worker process a session started, if any: its death ends a wait at once."""

    log_path: Path | None

    def poll(self) -> int | None: ...

    def log_tail(self, lines: int = 5) -> str: ...


class Session:
    """One local breed: asks the service, shows what the worker made, writes files, reads commands.

    The session is a front end of the event router (service.router): the worker's results come
    through the same events consumer as the bot's and the page's, in a group of the session's own.
    """

    def __init__(
        self, service: BreedingService, out_dir: Path, params: BreedParams, interactive: bool,
        timeout_s: float = 300, worker: Worker | None = None,
    ) -> None:
        self.service = service
        self.worker = worker
        self.out_dir = out_dir
        self.params = params
        self.interactive = interactive
        self.timeout_s = timeout_s
        self.breed_id = ""
        # The generation the last typed votes were for: `finish` alone takes its favourite.
        self.voted_generation: int | None = None
        self.winner: MelodyRef | None = None  # once finished: `tune` alone makes a tune from it
        # Tunes asked for in this session, and those shown (None, or why the worker could not make it).
        self._asked_tunes: set[str] = set()
        self._shown_tunes: dict[str, str | None] = {}
        self.tasks = BackgroundTasks()
        self._router: EventRouter | None = None
        self._events: asyncio.Task[None] | None = None
        self._beating: asyncio.Task[None] | None = None
        self._ending = asyncio.Event()
        # What the worker's results have done so far, and a wake-up for the wait on them.
        self._open_generation = -1
        self._finished = False
        self._failure: str | None = None
        self._stage = "queued"
        self._changed = asyncio.Event()

    async def start(self, seed_midi: bytes | None, source: MelodyRef | None = None) -> Breed:
        """Start the breed: from a MIDI file, around a melody of an earlier breed (`source`), or at random."""
        self.breed_id = self.service.new_breed_id()
        # Reading events starts before the breed does, so that none of its events is missed.
        reader = await self.service.sessions.open(self.breed_id)
        self._router = EventRouter(self.service, self, self.tasks, "terminal", reader=reader, deadlines=False,
                                   block_ms=EVENTS_BLOCK_MS)
        self._events = self.tasks.spawn(self._router.run(), name=f"events of breed {self.breed_id}")
        self._beating = self.tasks.spawn(self._beat(), name=f"session of breed {self.breed_id} alive")
        breed = await self.service.start(breed_id=self.breed_id, owner_id=LOCAL_USER, params=self.params,
                                         seed=seed_midi, source=source, front=Front.TERMINAL)
        self.out_dir = self.out_dir / self.breed_id
        strategy = f", {self.params.strategy} strategy" if self.params.strategy != DEFAULT_STRATEGY else ""
        print(f"Breed {self.breed_id}: population {self.params.population}, sigma {self.params.sigma}{strategy}, "
              f"files in {self.out_dir}")
        if source is not None:
            print(f"Branched from {source}: candidate 1 is that melody, the others are variations of it.")
        await self._wait(lambda: self._open_generation >= 0, "generation 1")
        return breed

    async def close(self) -> None:
        """Stop reading events and remove the session's group (also after a failed start)."""
        if self._router is None:
            return
        self._router.stop()
        self._ending.set()  # both loops end by themselves: a task cancelled inside redis-py can hang
        running = {task for task in (self._events, self._beating) if task is not None}
        if running:
            await asyncio.wait(running, timeout=self._router.stop_within_s)
        await self.tasks.cancel_all()
        await self.service.sessions.close(self.breed_id)
        self._router = None

    async def breed(self) -> Breed:
        return await self.service.get(self.breed_id)

    async def _beat(self) -> None:
        """Say that the session runs until it ends: a breed whose session was killed is stopped by the next."""
        while not self._ending.is_set():
            await sleep_or_stop(self._ending, SESSION_BEAT_S)
            if self._ending.is_set():
                return
            try:
                await self.service.sessions.beat(self.breed_id)
            except Exception as error:  # noqa: BLE001 - Redis away: the next beat tries again
                log.info("breed %s: the session's beat was not stored (%s)", self.breed_id, error)

    async def _wait(self, done: Callable[[], bool], what: str) -> None:
        """Wait until the worker's results make `done()` true, with a status line of how long it takes.

        A failed step, a worker process that died or no answer within timeout_s end the wait with
        RuntimeError. The events come through the router; the loop only wakes to redraw the line.
        """
        started = time.monotonic()
        spinner = "|/-\\"
        tick = 0
        while not done():
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise RuntimeError(f"the worker failed: {failure}")
            code = self.worker.poll() if self.worker else None
            if self.worker and code is not None:
                raise RuntimeError(f"the worker stopped (status {code}); its last lines "
                                   f"({self.worker.log_path}):\n{self.worker.log_tail()}")
            elapsed = time.monotonic() - started
            if elapsed > self.timeout_s:
                raise RuntimeError(f"no worker answered within {self.timeout_s:.0f} s: is `breeder worker` running?")
            if self.interactive:
                print(f"\r{spinner[tick % 4]} worker: {self._stage}, making {what} ({elapsed:4.1f} s)  ", end="",
                      flush=True)
            tick += 1
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), REDRAW_S)
        if self.interactive:
            print("\r" + " " * 70 + "\r", end="", flush=True)

    # --- worker events (service.router calls these) ------------------------------------------

    def shows(self, subject: Breed | Composition | TuneRequest) -> bool:
        """This session's breed and tunes only: other sessions' are theirs."""
        if isinstance(subject, TuneRequest):
            return subject.tune_id in self._asked_tunes
        return isinstance(subject, Breed) and subject.breed_id == self.breed_id

    async def show_progress(self, breed: Breed, generation: int, stage: str) -> None:
        self._stage = stage
        self._changed.set()

    async def show_generation(self, breed: Breed, generation: Generation, deadline: float) -> None:
        await self.show(generation)

    async def voting_opened(self, breed: Breed) -> None:
        self._open_generation = breed.generation
        self._stage = "queued"
        self._changed.set()

    async def show_winner(self, breed: Breed, generation: int, winner: int) -> None:
        folder = self.out_dir / "winner"
        await self._write(folder, generation, list(artifacts.WINNER_FILES))
        print(f"\nWinner: candidate {winner + 1} of generation {generation + 1}")
        print(f"  MIDI:  {folder / artifacts.WINNER_MID}")
        print(f"  audio: {folder / artifacts.WINNER_AUDIO}")
        print(f"  roll:  {folder / artifacts.WINNER_PNG}")
        print(f"  tree:  {folder / artifacts.LINEAGE_PNG}")
        self._print_tune(folder, breed.params.bars, breed.params.backing)
        print(f"  id:    {MelodyRef(breed.breed_id, generation, winner)} (breeder local --from it breeds on from it)")

    def _print_tune(self, folder: Path, bars: int, backing: str) -> None:
        if not (folder / artifacts.TUNE_MID).exists():
            print("  tune:  could not be made (the worker's log says why)")
            return
        print(f"  tune:  {folder / artifacts.TUNE_AUDIO}  ({bars} bars, backing: {backing})")
        print(f"         {folder / artifacts.TUNE_MID}, {folder / artifacts.TUNE_PNG}")

    async def winner_shown(self, breed: Breed) -> None:
        self._finished = True
        self._changed.set()

    async def show_morph(self, breed: Breed, morph: Morph) -> None:
        """The terminal asks for no morphs."""

    async def show_tree(self, breed: Breed, tree: Tree) -> None:
        """The winner's tree comes with its files; the terminal asks for no others."""

    async def show_composition(
        self, composition: Composition, files: tuple[tuple[str, bytes], ...], failure: str | None,
    ) -> None:
        """The terminal asks for no compositions (`shows` refuses them)."""

    async def show_tune(self, tune: TuneRequest, files: Files, failure: str | None) -> None:
        if failure is not None:
            print(f"\n  The tune from {tune.melody} could not be made: {failure}")
        else:
            folder = self.out_dir / f"tune-{tune.melody}-{tune.bars}-{tune.backing}"
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in files.found:
                (folder / name).write_bytes(data)
            print(f"\nTune from {tune.melody}:")
            self._print_tune(folder, tune.bars, tune.backing)
        self._shown_tunes[tune.tune_id] = failure
        self._changed.set()

    async def show_failure(self, before: Breed, after: Breed, message: str) -> None:
        self._failure = message
        self._changed.set()

    async def close_at_deadline(self, breed_id: str, generation: int) -> None:
        """Never called: the terminal keeps no deadlines (its router has none), typing closes each vote."""

    # --- files and commands --------------------------------------------------------------------

    async def show(self, generation: Generation) -> None:
        folder = self.out_dir / f"gen-{generation.number + 1:02d}"
        await self._write(folder, generation.number, generation.artifacts)
        title = f"Generation {generation.number + 1}"
        if generation.rerolled:
            title += " (nobody voted: a fresh random generation)"
        print(f"\n{title}  -  piano roll: {folder / artifacts.ROLL_PNG}")
        for candidate, melody in zip(generation.candidates, generation.melodies, strict=True):
            origin = "+".join(candidate.operators)
            print(f"  [{candidate.index + 1}] {folder / artifacts.clip_name(candidate.index)}  ({origin})")
            for line in terminal_roll(melody).splitlines():
                print(f"      {line}")

    async def _write(self, folder: Path, number: int, names: tuple[str, ...] | list[str]) -> None:
        files = await self.service.results.files(self.breed_id, number, names)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.found:
            (folder / name).write_bytes(data)

    async def leave(self) -> None:
        """Stop the breed if it is still open (quit, the end of the input): nobody can come back to a
        terminal breed, and an open one would never expire."""
        try:
            breed = await self.service.get(self.breed_id)
            if refusal(breed, "stop") is None:
                await self.service.stop(self.breed_id, LOCAL_ACTOR)
                log.info("breed %s gen %d: left open in the terminal; stopped", self.breed_id, breed.generation)
        except Exception as error:  # noqa: BLE001 - the session is ending anyway; its outcome must not change
            log.warning("breed %s: could not close it (%s)", self.breed_id, error)

    async def step(self, command: Command) -> bool:
        """Apply one command; False when the session is over. BreedError: refused, nothing changed."""
        if command.kind == "quit":
            print("Bye. Your files stay in", self.out_dir)
            return False
        if command.kind == "sigma":
            assert command.sigma is not None
            await self.service.set_sigma(self.breed_id, LOCAL_ACTOR, command.sigma)
            print(f"mutation sigma is now {command.sigma:g}")
            return True
        if command.kind == "finish":
            return await self.finish(command.candidate)
        if command.kind == "tune":
            await self.tune(command.melody, command.bars, command.backing)
            return True
        if command.kind == "nudge":
            assert command.attribute is not None and command.amount is not None
            nudged = await self.service.nudges.add(self.breed_id, LOCAL_USER, command.attribute, command.amount)
            print(f"nudged: {nudged.words}; the next generation moves that way ({nudged.summary})")
            return True
        breed = await self.breed()
        fitness = await self.service.votes.cast_ballot(self.breed_id, breed.generation, LOCAL_USER, command.votes)
        closed = await self.service.close_voting(self.breed_id, LOCAL_ACTOR)
        self.voted_generation = breed.generation
        if closed.ended:
            return await self._ended(closed)
        if closed.rerolled:
            print("No votes: the next generation is a fresh random one.")
        elif closed.nudges:
            print(f"Nudges: {closed.nudges}")
        log.debug("breed %s gen %d: fitness %s", self.breed_id, breed.generation, fitness)
        following = breed.generation + 1
        await self._wait(lambda: self._open_generation >= following, f"generation {following + 1}")
        return True

    async def _ended(self, closed: Transition) -> bool:
        """The breed ended by itself as its vote closed (too many rounds without a vote, or its last
        generation): say why, and write its best melody so far as `finish` would."""
        number, winner = closed.breed.winner_generation, closed.winner
        assert number is not None and winner is not None
        print(f"{closed.ended} Its best melody so far wins: candidate {winner + 1} of generation {number + 1}.")
        await self._wait(lambda: self._finished, "the winner")
        self.winner = MelodyRef(self.breed_id, number, winner)
        return True

    async def finish(self, candidate: int | None) -> bool:
        """Write the winner's files: candidate `candidate` (1-based) of the generation shown, or else the
        favourite of the last round of votes (of the generation those votes were for)."""
        if candidate is None and self.voted_generation is None:
            raise CommandError("nobody has voted yet: type `finish N` with the number of the one you like")
        # Typed votes always breed a new generation: their favourite is in the generation before.
        generation = None if candidate is not None else self.voted_generation
        done = await self.service.finish(self.breed_id, LOCAL_ACTOR, candidate, generation=generation)
        await self._wait(lambda: self._finished, "the winner")
        assert done.winner is not None
        number = done.before.generation if generation is None else generation
        self.winner = MelodyRef(self.breed_id, number, done.winner)
        return True

    async def tune(self, melody: str | None, bars: int | None, backing: str | None) -> None:
        """Make a tune from a melody id (None: this breed's winner); show_tune writes its files."""
        if melody is None and self.winner is None:
            raise CommandError("finish first, or name a melody: `tune ab12cd34-g3-5`")
        tune = await self.service.tunes.request(melody or str(self.winner), None, None, LOCAL_USER, bars=bars,
                                               backing=backing, front=Front.TERMINAL)
        self._asked_tunes.add(tune.tune_id)
        await self._wait(lambda: tune.tune_id in self._shown_tunes, "the tune")


async def run_session(
    session: Session, seed: bytes | None, lines: list[str] | None, interactive_input: bool = True,
    source: MelodyRef | None = None,
) -> int:
    """Drive one breed from its first generation to `finish`, `quit` or the end of the input.

    `lines`: scripted commands (a refused one ends the session with status 2); None reads the terminal.
    `source`: the melody to branch from, if any.
    """
    terminal: TerminalInput | None = None
    try:
        await session.start(seed, source)
        if lines is None:
            terminal = TerminalInput()
        status = await _drive(session, lines, terminal)
        await session.leave()  # a breed left with quit or at the end of the input
        return status
    except asyncio.CancelledError:
        # Ctrl-C: asyncio cancels the session and runs the loop on until it ends, so the breed is stopped too.
        if session.breed_id:
            await session.leave()
        raise
    finally:
        if terminal is not None:
            terminal.close()
        await session.close()


async def _drive(session: Session, lines: list[str] | None, terminal: TerminalInput | None) -> int:
    """Read and apply commands until the session is over; its exit status."""
    while True:
        if terminal is None:
            assert lines is not None
            if not lines:
                return 0
            line: str | None = lines.pop(0)
            print(f"> {line}")
        else:
            print(f"\n{HELP if session.winner is None else FINISHED_HELP}")
            line = await terminal.readline("> ")
            if line is None:
                return 0
            if not session.interactive:  # a terminal echoes what is typed; a pipe or file does not
                print(line)
        try:
            if not await session.step(parse_command(line)):
                return 0
        except (CommandError, BreedError, *STORAGE_FULL) as error:
            print(f"  {STORAGE_FULL_TEXT if isinstance(error, STORAGE_FULL) else error}")
            if lines is not None:
                return CONFIG_ERROR
