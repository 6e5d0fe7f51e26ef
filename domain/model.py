"""What a breed is: its options, its state, its generations and their melodies."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum

from domain import limits
from domain.errors import ParamsError
from domain.strategies import DEFAULT_STRATEGY, STRATEGIES
from domain.tune import BACKINGS, DEFAULT_BACKING, DEFAULT_TUNE_BARS, TUNE_BARS


class Status(StrEnum):
    """Where a breed is: being started, open for votes, being evolved, or ended (three ways)."""

    STARTING = "starting"
    VOTING = "voting"
    EVOLVING = "evolving"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


OPEN_STATUSES: tuple[str, ...] = (Status.STARTING, Status.VOTING, Status.EVOLVING)


class Front(StrEnum):
    """The front ends a breed can live on. Breeds stored before the field existed are Discord's."""

    DISCORD = "discord"
    TERMINAL = "terminal"
    WEB = "web"


FRONTS: tuple[str, ...] = tuple(Front)


@dataclass(frozen=True)
class BreedParams:
    """What the starter chose; sigma changes between steps through `/breed mutation`.

    `max_idle_rounds` and `max_generations` come from the settings (BREED_MAX_IDLE_ROUNDS,
    BREED_MAX_GENERATIONS), not from people: a breed keeps those it was started with.
    """

    population: int = 8
    sigma: float = 0.5
    foreign: int = 1
    vote_minutes: float = 3.0
    tempo: int = 120
    instrument: int = 0
    strategy: str = DEFAULT_STRATEGY
    bars: int = DEFAULT_TUNE_BARS  # the length of the tune made at the finish
    backing: str = DEFAULT_BACKING  # what plays under every clip and the tune
    max_idle_rounds: int = 3  # vote closes in a row without a vote, after which the breed ends by itself
    max_generations: int = 100  # the breed ends by itself when the vote on this generation closes

    def validate(self) -> None:
        """ParamsError naming the first option outside its limits."""
        if self.population not in limits.POPULATION:
            raise ParamsError(f"population must be {limits.POPULATION.describe()}")
        if self.sigma not in limits.SIGMA:
            raise ParamsError(f"mutation sigma must be {limits.SIGMA.describe()}")
        if self.foreign not in limits.FOREIGN or self.foreign >= self.population:
            raise ParamsError("foreign count must be at least 0 and below the population")
        if self.vote_minutes not in limits.VOTE_MINUTES:
            raise ParamsError(f"vote window must be {limits.VOTE_MINUTES.describe()} minutes")
        if self.tempo not in limits.TEMPO:
            raise ParamsError(f"tempo must be {limits.TEMPO.describe()} BPM")
        if self.instrument not in limits.INSTRUMENT:
            raise ParamsError("instrument must be a General MIDI program 0-127")
        if self.strategy not in STRATEGIES:
            raise ParamsError(f"strategy must be one of {', '.join(STRATEGIES)}")
        check_tune(self.bars, self.backing)
        if not _whole(self.max_idle_rounds) or self.max_idle_rounds not in limits.MAX_IDLE_ROUNDS:
            raise ParamsError(f"rounds without a vote before a breed ends must be a whole number "
                              f"{limits.MAX_IDLE_ROUNDS.describe()}")
        if not _whole(self.max_generations) or self.max_generations not in limits.MAX_GENERATIONS:
            raise ParamsError(f"generations before a breed ends must be a whole number "
                              f"{limits.MAX_GENERATIONS.describe()}")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_tune(bars: object, backing: object) -> None:
    """ParamsError unless `bars` is a tune's length and `backing` one of the backings."""
    if isinstance(bars, bool) or bars not in TUNE_BARS:
        raise ParamsError(f"bars must be {' or '.join(str(b) for b in TUNE_BARS)}, not {bars}")
    if backing not in BACKINGS:
        raise ParamsError(f"backing must be one of {', '.join(BACKINGS)}, not `{backing}`")


def choose(defaults: BreedParams, **choices: object) -> BreedParams:
    """`defaults` with the options people gave (None: not given), validated (ParamsError)."""
    given = {name: value for name, value in choices.items() if value is not None}
    unknown = set(given) - {field.name for field in fields(BreedParams)}
    if unknown:
        raise ParamsError(f"unknown option {sorted(unknown)[0]}")
    params = replace(defaults, **given)  # type: ignore[arg-type]  # each value is checked by validate() below
    params.validate()
    return params


@dataclass(frozen=True)
class Breed:
    """One breeding session. `generation` is the newest written generation (-1 before the first).

    `source`: the melody id (domain.ids) of the candidate it was branched from, if any.
    `front`: the front end that shows it (one of FRONTS); only that front end handles its worker events.
    `opened`: the newest generation whose vote was opened (-1: none yet); a late, repeated "generation
    ready" of a generation voted on already must not open its vote again.
    `idle_rounds`: vote closes in a row without a vote (a vote with votes sets it back to 0).
    `ended`: why the breed ended by itself (domain.rules.EndReason), None while people lead it.
    `winner_generation`: the generation of `winner` (an earlier one than `generation` when a finish named it).
    """

    breed_id: str
    owner_id: int
    params: BreedParams
    front: Front
    guild_id: int | None = None
    channel_id: int | None = None
    thread_id: int | None = None
    status: Status = Status.STARTING
    generation: int = -1
    vote_deadline: float | None = None
    created_at: float = 0.0
    progress_message_id: int | None = None
    winner: int | None = None
    source: str | None = None
    opened: int = -1
    idle_rounds: int = 0
    ended: str | None = None
    winner_generation: int | None = None


@dataclass(frozen=True)
class Candidate:
    """One member of a generation. `index` is 0-based; people see index + 1."""

    candidate_id: str
    index: int
    operators: tuple[str, ...]
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Note:
    """A note of a decoded melody, in sixteenth-note steps."""

    pitch: int
    start: int
    end: int


PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
STEPS_PER_BEAT = 4  # sixteenth notes


def pitch_name(pitch: int) -> str:
    """Scientific pitch name: 60 is C4."""
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


@dataclass(frozen=True)
class Generation:
    """A written generation. Latents travel separately as float32 bytes."""

    breed_id: str
    number: int
    candidates: tuple[Candidate, ...]
    melodies: tuple[tuple[Note, ...], ...]
    artifacts: tuple[str, ...] = ()
    rerolled: bool = False
    fitness: tuple[int, ...] = ()  # the votes of the previous generation that made this one
    sigma: float | None = None
    nudges: tuple[tuple[str, float], ...] = ()  # the previous generation's combined nudges that moved this one


def candidate_id(generation: int, index: int) -> str:
    """The id of candidate `index` (0-based) of a generation, unique within its breed."""
    return f"g{generation}-{index + 1}"


@dataclass(frozen=True)
class Winner:
    """A finished breed's winner as the gallery keeps it. `melody_id` is its domain.ids melody id.

    `people`: who took part (the starter first, then everyone who voted, by id).
    """

    melody_id: str
    breed_id: str
    guild_id: int | None
    owner_id: int
    generation: int
    index: int
    finished_at: float
    people: tuple[int, ...] = ()
    source: str | None = None
    tempo: int = 120
    instrument: int = 0


@dataclass(frozen=True)
class Composition:
    """A piece joined from bred phrases (melody ids, in order), asked for in a channel."""

    composition_id: str
    guild_id: int | None
    channel_id: int | None
    requester_id: int
    melodies: tuple[str, ...]
    smooth: bool = False
    created_at: float = 0.0


@dataclass(frozen=True)
class TuneRequest:
    """A whole tune asked for from one melody id (`melody`), shown on the front end `front` that asked.

    `breed_id` is the breed of that melody (the web page shows the tune on its page).
    """

    tune_id: str
    melody: str
    breed_id: str
    bars: int
    backing: str
    front: Front
    guild_id: int | None = None
    channel_id: int | None = None
    requester_id: int = 0
    created_at: float = 0.0
