"""What people type in the terminal session: the commands, their form, and the lines read from the terminal.

Only the form is checked here; whether a number is a candidate, a σ in range or a tune's length
one there is, is the breeding service's to say, as for the bot.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from domain import nudges

HELP = ("votes: candidate numbers, e.g. `1 3 3 5`  |  `nudge density -1`  |  `sigma 0.3`  |  `finish [n]`  |  "
        "`tune <melody id>`  |  `quit`")
FINISHED_HELP = "`tune` (from the winner), `tune <melody id> [8|16] [none|chords|band]`  |  `quit`"


@dataclass(frozen=True)
class Command:
    """One typed line: votes, a new sigma, a nudge, finish (with an optional candidate), a tune, or quit."""

    kind: str  # "votes" | "sigma" | "nudge" | "finish" | "tune" | "quit"
    votes: tuple[int, ...] = ()
    sigma: float | None = None
    candidate: int | None = None
    melody: str | None = None  # tune: the melody id (None: the winner)
    bars: int | None = None
    backing: str | None = None
    attribute: str | None = None  # nudge: the attribute and the amount as typed ("-2", "+1.5")
    amount: str | None = None


class CommandError(ValueError):
    """A line that means nothing; the message says what to type."""


def parse_command(line: str) -> Command:
    """Parse one line of input; candidate numbers are 1-based as people see them.

    Only the form is checked here; whether a number is a candidate or a σ is in range is the
    breeding service's to say, as for the bot.
    """
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
        return Command("sigma", sigma=sigma)
    if head == "nudge":
        if len(words) != 3:
            raise CommandError(f"type `nudge`, an attribute ({', '.join(nudges.ATTRIBUTES)}) and an amount "
                               "from -2 to 2, e.g. `nudge density -1`")
        return Command("nudge", attribute=words[1], amount=words[2])
    if head == "finish":
        if len(words) > 2:
            raise CommandError("type `finish` or `finish N` with one candidate number")
        candidate = _number(words[1]) if len(words) == 2 else None
        return Command("finish", candidate=candidate)
    if head == "tune":
        return _tune_command(words[1:])
    return Command("votes", tuple(_number(word) - 1 for word in words))


def _tune_command(words: list[str]) -> Command:
    """`tune [melody id] [bars] [backing]`, in any order: a number is the bars, an id has `-g` in it."""
    melody = bars = backing = None
    for word in words:
        if word.isdigit() and bars is None:
            bars = int(word)
        elif "-g" in word and melody is None:
            melody = word
        elif backing is None and not word.isdigit():
            backing = word
        else:
            raise CommandError("type `tune`, or `tune <melody id> [8|16] [none|chords|band]`")
    return Command("tune", melody=melody, bars=bars, backing=backing)


def _number(word: str) -> int:
    if not word.isdigit():
        raise CommandError(f"`{word}` is not a candidate: type candidate numbers, e.g. `1 3`")
    return int(word)


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
