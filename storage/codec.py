"""The codec: versioned JSON of everything stored in Redis or sent over its streams.

The domain types (breeds, generations, jobs: domain.jobs) are written as they are; a job is read into
the type of its kind here, once. The events are defined here, since only the worker and the breeding
service exchange them.

Each payload carries `"v": SCHEMA_VERSION`; readers refuse other versions with SchemaError.
Never pickle: a payload is plain JSON that any process (or a person with redis-cli) can read.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import MISSING, asdict, dataclass, fields
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from domain.jobs import (
    JOB_TYPES,
    ComposeJob,
    EvolveJob,
    FinishJob,
    Job,
    JobKind,
    MediaOwner,
    MorphJob,
    RenderJob,
    StartJob,
    TreeJob,
    TuneJob,
)
from domain.model import (
    Breed,
    BreedParams,
    Candidate,
    Composition,
    Front,
    Generation,
    Note,
    Status,
    TuneRequest,
    Winner,
)
from domain.tune import BACKINGS, Backing


class DataclassInstance(Protocol):
    """Any dataclass instance (what `dataclasses.asdict` and `fields` take)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """A payload that does not match its schema."""


# --- stream messages -------------------------------------------------------------------------

EventType = Literal[
    "generation_ready", "finished", "morph_ready", "tree_ready", "composed", "tune_ready", "progress", "error",
]


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


def dump(obj: DataclassInstance) -> str:
    """A dataclass as versioned JSON (a job as `dump_job` writes it)."""
    if isinstance(obj, Job):
        return dump_job(obj)
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


D = TypeVar("D", bound="DataclassInstance")


def _build(cls: type[D], payload: dict[str, Any]) -> D:
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
    payload["front"] = _member(Front, payload.get("front", Front.DISCORD))  # stored before fronts: Discord's
    payload["status"] = _member(Status, payload.get("status", Status.STARTING))
    return _build(Breed, payload)


E = TypeVar("E", bound=StrEnum)


def _member(kind: type[E], value: object) -> E:
    """`value` as a member of the StrEnum `kind`; SchemaError naming the value otherwise."""
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    raise SchemaError(f"unknown {kind.__name__.lower()} {value!r}")


# A packed generation starts with zlib's header byte; plain JSON with "{".
_ZLIB_HEADER = 0x78


def pack_generation(generation: Generation) -> bytes:
    """A generation as Redis keeps it: its JSON with each melody a flat list (pitch, start, end, pitch, ...),
    compressed (zlib): about a tenth of `dump`'s size. `load_generation` reads both."""
    payload = {key: _plain(val) for key, val in asdict(generation).items()}
    payload["melodies"] = [[value for note in melody for value in (note.pitch, note.start, note.end)]
                           for melody in generation.melodies]
    payload["v"] = SCHEMA_VERSION
    return zlib.compress(json.dumps(payload, separators=(",", ":")).encode(), 9)


def _notes(melody: Any) -> tuple[Note, ...]:
    """A melody's notes, from a list of {"pitch", "start", "end"} objects or a flat (packed) list of numbers."""
    if melody and not isinstance(melody[0], dict):
        if len(melody) % 3:
            raise ValueError("a packed melody has three numbers a note")
        return tuple(Note(int(melody[i]), int(melody[i + 1]), int(melody[i + 2])) for i in range(0, len(melody), 3))
    return tuple(Note(int(n["pitch"]), int(n["start"]), int(n["end"])) for n in melody)


def load_generation(raw: str | bytes) -> Generation:
    if isinstance(raw, bytes | bytearray) and raw[:1] == bytes([_ZLIB_HEADER]):
        try:
            raw = zlib.decompress(raw)
        except zlib.error as error:
            raise SchemaError(f"bad packed generation: {error}") from None
    payload = _load_dict(raw)
    try:
        payload["candidates"] = tuple(
            Candidate(c["candidate_id"], int(c["index"]), tuple(c["operators"]), tuple(c["parents"]))
            for c in payload["candidates"]
        )
        payload["melodies"] = tuple(_notes(melody) for melody in payload["melodies"])
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
    payload = _load_dict(raw)
    payload["front"] = _member(Front, payload.get("front", Front.DISCORD))  # asked for before fronts: Discord's
    return _build(TuneRequest, payload)


# The field a job's subject id travels in: every job's is `breed_id` on the stream (its key), whatever it names.
_SUBJECT_FIELD = {ComposeJob: "composition_id", TuneJob: "tune_id", RenderJob: "subject"}
# What a job of an older worker wrote for the fields its kind has not: such a field at this value is no field.
_UNSET: dict[str, Any] = {
    "generation": -1, "fitness": [], "sigma": None, "candidate": None, "other": None, "steps": 0,
    "seed_midi_key": None, "source": None, "melodies": [], "smooth": False, "bars": 0, "backing": None, "nudges": [],
}


def dump_job(job: Job) -> str:
    """A job as versioned JSON: its kind as `type`, its subject as `breed_id`, and its own fields."""
    payload: dict[str, Any] = {"type": str(job.kind), "breed_id": job.subject_id, "generation": job.generation}
    subject = _SUBJECT_FIELD.get(type(job), "breed_id")
    for field in fields(job):
        if field.name not in (subject, "generation"):
            payload[field.name] = _plain(getattr(job, field.name))
    payload["v"] = SCHEMA_VERSION
    return json.dumps(payload, separators=(",", ":"))


def load_job(raw: str | bytes) -> Job:
    """The job of a stream entry, of the type its kind names; SchemaError in one line for anything else."""
    payload = _load_dict(raw)
    kind = payload.pop("type", None)
    try:
        cls = JOB_TYPES[JobKind(kind)]
    except ValueError:
        raise SchemaError(f"unknown job kind {kind!r}") from None
    subject = payload.pop("breed_id", None)
    if not isinstance(subject, str) or not subject:
        raise SchemaError(f"a {cls.kind} job needs a breed_id")
    own = {field.name for field in fields(cls)}
    if "generation" not in own:
        payload.pop("generation", None)
    for name in set(payload) - own:
        if name in _UNSET and payload[name] == _UNSET[name]:
            del payload[name]
    payload[_SUBJECT_FIELD.get(cls, "breed_id")] = subject
    for name in ("fitness", "melodies", "names"):
        if name in payload:
            payload[name] = _tuple(payload[name], name)
    if "nudges" in payload:
        payload["nudges"] = _nudge_pairs(payload["nudges"])
    if cls is TuneJob and payload.get("backing") in BACKINGS:
        payload["backing"] = Backing(payload["backing"])
    if cls is RenderJob and payload.get("owner") in tuple(MediaOwner):
        payload["owner"] = MediaOwner(payload["owner"])
    missing = [field.name for field in fields(cls) if field.name not in payload
               and field.default is MISSING and field.default_factory is MISSING]
    if missing:
        raise SchemaError(f"a {cls.kind} job needs {' and '.join(missing)}")
    job = _build(cls, payload)
    _check_job(job)
    return job


def _tuple(value: Any, name: str) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise SchemaError(f"{name} must be a list")
    return tuple(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_job(job: Job) -> None:
    """SchemaError naming the first field of the wrong type (the worker checks the values' meaning)."""
    if not _count(job.generation):
        raise SchemaError("generation must be an integer")
    match job:
        case StartJob(seed_midi_key=key, source=source):
            if not (key is None or isinstance(key, str)) or not (source is None or isinstance(source, str)):
                raise SchemaError("seed_midi_key and source must be text")
        case EvolveJob(fitness=fitness, sigma=sigma):
            if not all(_count(v) and v >= 0 for v in fitness):
                raise SchemaError("fitness must be non-negative integers")
            if sigma is not None and not (isinstance(sigma, int | float) and not isinstance(sigma, bool)):
                raise SchemaError("sigma must be a number")
        case FinishJob(candidate=candidate) | TreeJob(candidate=candidate):
            if not _count(candidate):
                raise SchemaError(f"a {job.kind} job needs a candidate number")
        case MorphJob(candidate=candidate, other=other, steps=steps):
            if not (_count(candidate) and _count(other) and _count(steps)):
                raise SchemaError("a morph job needs two candidate numbers and a number of steps")
        case ComposeJob(melodies=melodies, smooth=smooth):
            if not all(isinstance(v, str) for v in melodies) or not isinstance(smooth, bool):
                raise SchemaError("melodies must be melody ids")
        case TuneJob(source=source, bars=bars, backing=backing):
            if not isinstance(source, str) or not _count(bars) or backing not in BACKINGS:
                raise SchemaError("a tune job needs a source melody id, a number of bars and a backing")
        case RenderJob(names=names, owner=owner, candidate=candidate):
            if not names or not all(isinstance(name, str) for name in names) or not isinstance(owner, MediaOwner) \
                    or not (candidate is None or _count(candidate)):
                raise SchemaError("a render job needs file names, whose files they are (breed, tune or composition) "
                                  "and at most a candidate number")


def load_event(raw: str | bytes) -> Event:
    payload = _load_dict(raw)
    if payload.get("type") not in Event.TYPES:
        raise SchemaError(f"unknown event type {payload.get('type')!r}")
    return _build(Event, payload)


__all__ = [
    "SCHEMA_VERSION", "SchemaError", "Event", "dump", "dump_job", "load_breed", "load_generation", "load_job",
    "pack_generation",
    "load_event",
    "load_winner", "load_composition", "load_tune", "Nudge", "load_nudge",
]
