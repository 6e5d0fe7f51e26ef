"""The codec: versioned JSON of everything stored in Redis or sent over its streams.

The domain types (breeds, generations) are written as they are; the stream messages (jobs,
events) are defined here, since only the worker and the breeding service exchange them.

Each payload carries `"v": SCHEMA_VERSION`; readers refuse other versions with SchemaError.
Never pickle: a payload is plain JSON that any process (or a person with redis-cli) can read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal

from domain.model import Breed, BreedParams, Candidate, Composition, Generation, Note, TuneRequest, Winner

SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """A payload that does not match its schema."""


# --- stream messages -------------------------------------------------------------------------

JobType = Literal["start", "evolve", "finish", "morph", "tree", "compose", "tune"]
EventType = Literal[
    "generation_ready", "finished", "morph_ready", "tree_ready", "composed", "tune_ready", "progress", "error",
]


@dataclass(frozen=True)
class Job:
    """Bot -> worker. `generation` is the generation the job reads (start: -1).

    start: from the seed MIDI upload `seed_midi_key`, or from the melody id `source` (a branch).
    finish: `candidate` is the winner. morph: from `candidate` to `other` (0-based) in `steps`
    melodies, clamped to domain.limits.MORPH_STEPS; 0 means its default. tree: the family tree of
    `candidate`. compose: `breed_id` is the composition's id, `melodies` its phrases' melody ids,
    `smooth` asks for short interpolated joins. tune: `breed_id` is the tune's id, `source` the melody
    id it is made from, `bars` and `backing` its options.
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
    source: str | None = None
    melodies: tuple[str, ...] = ()
    smooth: bool = False
    bars: int = 0
    backing: str | None = None
    nudges: tuple[tuple[str, float], ...] = ()  # evolve: the combined nudges, (attribute, amount) pairs

    TYPES: ClassVar[tuple[str, ...]] = ("start", "evolve", "finish", "morph", "tree", "compose", "tune")

    @property
    def composition_id(self) -> str:
        """A compose job's composition (every job is keyed on one id, the `breed_id` field)."""
        if self.type != "compose":
            raise ValueError(f"a {self.type} job is about a breed, not a composition")
        return self.breed_id


@dataclass(frozen=True)
class Event:
    """Worker -> bot. `generation` is the generation the event is about.

    morph_ready: the morph from `candidate` to `other` (0-based) in `steps` melodies. tree_ready:
    the family tree of `candidate`. composed: `breed_id` is the composition's id; tune_ready: the
    tune's. error: `job` is the type of the job that failed (None from older workers); a failed
    morph names its pair, a failed tree its candidate.
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

    TYPES: ClassVar[tuple[str, ...]] = (
        "generation_ready", "finished", "morph_ready", "tree_ready", "composed", "tune_ready", "progress", "error",
    )

    @property
    def composition_id(self) -> str:
        """The composition a composed event (or a compose job's error) is about, keyed like every event."""
        if self.type != "composed" and self.job != "compose":
            raise ValueError(f"a {self.type} event is about a breed, not a composition")
        return self.breed_id


@dataclass(frozen=True)
class Nudge:
    """One member's nudge on a generation: an attribute (domain.nudges) and an amount, -2..2."""

    user_id: int
    attribute: str
    amount: float


def load_nudge(raw: str | bytes) -> Nudge:
    payload = _load_dict(raw)
    nudge = _build(Nudge, payload)
    if not isinstance(nudge.user_id, int) or not isinstance(nudge.attribute, str) \
            or not isinstance(nudge.amount, int | float):
        raise SchemaError("a nudge needs an integer user_id, an attribute name and a numeric amount")
    return nudge


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
    payload["nudges"] = _nudge_pairs(payload.get("nudges", ()))
    return _build(Generation, payload)


def _nudge_pairs(raw: Any) -> tuple[tuple[str, float], ...]:
    """Combined nudges as (attribute, amount) pairs, from their JSON lists."""
    try:
        pairs = tuple((str(name), float(amount)) for name, amount in raw)
    except (TypeError, ValueError) as error:
        raise SchemaError(f"nudges must be (attribute, amount) pairs: {error}") from None
    return pairs


def load_winner(raw: str | bytes) -> Winner:
    payload = _load_dict(raw)
    payload["people"] = tuple(payload.get("people", ()))
    return _build(Winner, payload)


def load_composition(raw: str | bytes) -> Composition:
    payload = _load_dict(raw)
    payload["melodies"] = tuple(payload.get("melodies", ()))
    return _build(Composition, payload)


def load_tune(raw: str | bytes) -> TuneRequest:
    return _build(TuneRequest, _load_dict(raw))


def load_job(raw: str | bytes) -> Job:
    payload = _load_dict(raw)
    if payload.get("type") not in Job.TYPES:
        raise SchemaError(f"unknown job type {payload.get('type')!r}")
    if not isinstance(payload.get("breed_id"), str) or not payload["breed_id"]:
        raise SchemaError("job needs a breed_id")
    payload["fitness"] = tuple(payload.get("fitness", ()))
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in payload["fitness"]):
        raise SchemaError("fitness must be non-negative integers")
    payload["melodies"] = tuple(payload.get("melodies", ()))
    if not all(isinstance(v, str) for v in payload["melodies"]):
        raise SchemaError("melodies must be melody ids")
    payload["nudges"] = _nudge_pairs(payload.get("nudges", ()))
    return _build(Job, payload)


def load_event(raw: str | bytes) -> Event:
    payload = _load_dict(raw)
    if payload.get("type") not in Event.TYPES:
        raise SchemaError(f"unknown event type {payload.get('type')!r}")
    return _build(Event, payload)


__all__ = [
    "SCHEMA_VERSION", "SchemaError", "Job", "Event", "dump", "load_breed", "load_generation", "load_job", "load_event",
    "load_winner", "load_composition", "load_tune", "Nudge", "load_nudge",
]
