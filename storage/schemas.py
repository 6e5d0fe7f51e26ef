"""Versioned JSON schemas of everything stored in Redis or sent over its streams.

Each payload carries `"v": SCHEMA_VERSION`; readers refuse other versions with SchemaError.
Never pickle: a payload is plain JSON that any process (or a person with redis-cli) can read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal

SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """A payload that does not match its schema."""


BreedStatus = Literal["starting", "voting", "evolving", "finished", "stopped", "failed"]
OPEN_STATUSES: tuple[str, ...] = ("starting", "voting", "evolving")
# The GA strategies of engine.ga (a test keeps the two equal), so that the bot refuses an unknown
# one when a breed starts instead of a worker failing on it a generation later.
STRATEGIES: tuple[str, ...] = ("classic", "elitist")


@dataclass(frozen=True)
class BreedParams:
    """What the starter chose; sigma changes between steps through `/breed mutation`."""

    population: int = 8
    sigma: float = 0.5
    foreign: int = 1
    vote_minutes: float = 3.0
    tempo: int = 120
    instrument: int = 0
    strategy: str = "classic"

    def validate(self) -> None:
        if not 2 <= self.population <= 10:
            raise SchemaError("population must be between 2 and 10")
        if not 0.0 <= self.sigma <= 1.0:
            raise SchemaError("mutation sigma must be between 0 and 1")
        if not 0 <= self.foreign < self.population:
            raise SchemaError("foreign count must be at least 0 and below the population")
        if not 0 < self.vote_minutes <= 1440:
            raise SchemaError("vote window must be between 0 and 1440 minutes")
        if not 40 <= self.tempo <= 240:
            raise SchemaError("tempo must be between 40 and 240 BPM")
        if not 0 <= self.instrument <= 127:
            raise SchemaError("instrument must be a General MIDI program 0-127")
        if self.strategy not in STRATEGIES:
            raise SchemaError(f"strategy must be one of {', '.join(STRATEGIES)}")


@dataclass(frozen=True)
class Breed:
    """One breeding session. `generation` is the newest written generation (-1 before the first)."""

    breed_id: str
    owner_id: int
    params: BreedParams
    guild_id: int | None = None
    channel_id: int | None = None
    thread_id: int | None = None
    status: str = "starting"
    generation: int = -1
    vote_deadline: float | None = None
    created_at: float = 0.0
    progress_message_id: int | None = None
    winner: int | None = None


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


# --- stream messages -------------------------------------------------------------------------

JobType = Literal["start", "evolve", "finish", "morph"]
EventType = Literal["generation_ready", "finished", "morph_ready", "progress", "error"]


# A morph's number of melodies, both ends included: a job's 0 means the default.
MORPH_MIN_STEPS = 2
MORPH_MAX_STEPS = 8
MORPH_DEFAULT_STEPS = 5


@dataclass(frozen=True)
class Job:
    """Bot -> worker. `generation` is the generation the job reads (start: -1).

    finish: `candidate` is the winner. morph: from `candidate` to `other` (0-based) in `steps`
    melodies, clamped to MORPH_MIN_STEPS..MORPH_MAX_STEPS; 0 means MORPH_DEFAULT_STEPS.
    """

    type: str
    breed_id: str
    generation: int = -1
    fitness: tuple[int, ...] = ()
    sigma: float | None = None
    candidate: int | None = None
    other: int | None = None
    steps: int = 0
    seed_midi_key: str | None = None

    TYPES: ClassVar[tuple[str, ...]] = ("start", "evolve", "finish", "morph")


@dataclass(frozen=True)
class Event:
    """Worker -> bot. `generation` is the generation the event is about.

    morph_ready: the morph from `candidate` to `other` (0-based) in `steps` melodies. error: `job`
    is the type of the job that failed (None from older workers), and a failed morph names its pair.
    """

    type: str
    breed_id: str
    generation: int = -1
    stage: str | None = None
    message: str | None = None
    candidate: int | None = None
    other: int | None = None
    steps: int | None = None
    job: str | None = None

    TYPES: ClassVar[tuple[str, ...]] = ("generation_ready", "finished", "morph_ready", "progress", "error")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def dump(obj: Any) -> str:
    """A dataclass as versioned JSON."""
    payload = {key: _plain(val) for key, val in asdict(obj).items()}
    payload["v"] = SCHEMA_VERSION
    return json.dumps(payload, separators=(",", ":"))


def _load_dict(raw: str | bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SchemaError(f"not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise SchemaError("payload must be a JSON object")
    if payload.get("v") != SCHEMA_VERSION:
        raise SchemaError(f"unsupported schema version {payload.get('v')!r}")
    payload.pop("v")
    return payload


def _build(cls: type, payload: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = set(payload) - known
    if unknown:
        raise SchemaError(f"unknown fields for {cls.__name__}: {sorted(unknown)}")
    try:
        return cls(**payload)
    except TypeError as error:
        raise SchemaError(str(error)) from None


def load_breed(raw: str | bytes) -> Breed:
    payload = _load_dict(raw)
    payload["params"] = _build(BreedParams, payload.get("params") or {})
    return _build(Breed, payload)


def load_generation(raw: str | bytes) -> Generation:
    payload = _load_dict(raw)
    try:
        payload["candidates"] = tuple(
            Candidate(c["candidate_id"], int(c["index"]), tuple(c["operators"]), tuple(c["parents"]))
            for c in payload["candidates"]
        )
        payload["melodies"] = tuple(
            tuple(Note(int(n["pitch"]), int(n["start"]), int(n["end"])) for n in melody)
            for melody in payload["melodies"]
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SchemaError(f"bad generation: {error}") from None
    payload["artifacts"] = tuple(payload.get("artifacts", ()))
    payload["fitness"] = tuple(payload.get("fitness", ()))
    return _build(Generation, payload)


def load_job(raw: str | bytes) -> Job:
    payload = _load_dict(raw)
    if payload.get("type") not in Job.TYPES:
        raise SchemaError(f"unknown job type {payload.get('type')!r}")
    if not isinstance(payload.get("breed_id"), str) or not payload["breed_id"]:
        raise SchemaError("job needs a breed_id")
    payload["fitness"] = tuple(payload.get("fitness", ()))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in payload["fitness"]):
        raise SchemaError("fitness must be non-negative integers")
    return _build(Job, payload)


def load_event(raw: str | bytes) -> Event:
    payload = _load_dict(raw)
    if payload.get("type") not in Event.TYPES:
        raise SchemaError(f"unknown event type {payload.get('type')!r}")
    return _build(Event, payload)


__all__ = [
    "SCHEMA_VERSION", "SchemaError", "BreedParams", "Breed", "Candidate", "Note", "Generation", "Job", "Event",
    "OPEN_STATUSES", "dump", "load_breed", "load_generation", "load_job", "load_event",
]


# --- artifact names (per generation) --------------------------------------------------------

ROLL_PNG = "roll.png"
WINNER_MID = "winner.mid"
WINNER_AUDIO = "winner.ogg"
WINNER_PNG = "winner.png"


def clip_name(index: int, extension: str = "ogg") -> str:
    """The audio artifact of candidate `index` (0-based), named as people number it."""
    return f"clip-{index + 1}.{extension}"


def midi_name(index: int) -> str:
    """The MIDI artifact of candidate `index` (0-based)."""
    return f"clip-{index + 1}.mid"


def morph_name(start: int, end: int, extension: str) -> str:
    """A file of the morph from candidate `start` to `end` (0-based): one name per pair, as people number them."""
    return f"morph-{start + 1}-{end + 1}.{extension}"
