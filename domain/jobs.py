"""The jobs the breeding service asks of the workers: one small frozen type per kind.

`Job` is their union, tagged by `kind`. The codec (storage.codec) reads a job from its stream once, at
the edge, into one of these types, refusing an unknown kind or field in one line; past it no code asks
which fields a job has. Every job is about one subject, the id its results and events are keyed on:
a breed, a composition (compose) or a tune request (tune); a render job's is any of them. `generation` is
the generation the job reads (-1 where it reads none).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from domain.tune import Backing


class JobKind(StrEnum):
    """What a job asks for; its value is the job's `type` on the stream."""

    START = "start"
    EVOLVE = "evolve"
    FINISH = "finish"
    MORPH = "morph"
    TREE = "tree"
    COMPOSE = "compose"
    TUNE = "tune"
    RENDER = "render"


class MediaOwner(StrEnum):
    """Whose rendered files a render job makes again: a breed's generation, a tune request or a piece."""

    BREED = "breed"
    TUNE = "tune"
    COMPOSITION = "composition"


class _AboutABreed:
    """A job whose subject is a breed."""

    breed_id: str

    @property
    def subject_id(self) -> str:
        return self.breed_id


@dataclass(frozen=True)
class StartJob(_AboutABreed):
    """Generation 1 of a breed: at random, from the uploaded seed MIDI `seed_midi_key`, or around the melody
    id `source` (a branch)."""

    breed_id: str
    seed_midi_key: str | None = None
    source: str | None = None

    kind: ClassVar[JobKind] = JobKind.START
    generation: ClassVar[int] = -1


@dataclass(frozen=True)
class EvolveJob(_AboutABreed):
    """The generation after `generation`, from its votes (`fitness`, one count per candidate), the mutation
    `sigma` (None: the breed's) and the combined nudges, (attribute, amount) pairs."""

    breed_id: str
    generation: int
    fitness: tuple[int, ...]
    sigma: float | None = None
    nudges: tuple[tuple[str, float], ...] = ()

    kind: ClassVar[JobKind] = JobKind.EVOLVE


@dataclass(frozen=True)
class FinishJob(_AboutABreed):
    """The winner's files (MIDI, audio, piano roll, family tree, tune): `candidate` (0-based) of `generation`."""

    breed_id: str
    generation: int
    candidate: int

    kind: ClassVar[JobKind] = JobKind.FINISH


@dataclass(frozen=True)
class MorphJob(_AboutABreed):
    """The melodies on the way from `candidate` to `other` (0-based) of `generation`, in `steps` melodies
    (domain.limits.MORPH_STEPS; 0: the default)."""

    breed_id: str
    generation: int
    candidate: int
    other: int
    steps: int = 0

    kind: ClassVar[JobKind] = JobKind.MORPH


@dataclass(frozen=True)
class TreeJob(_AboutABreed):
    """The family tree of `candidate` (0-based) of `generation`."""

    breed_id: str
    generation: int
    candidate: int

    kind: ClassVar[JobKind] = JobKind.TREE


@dataclass(frozen=True)
class ComposeJob:
    """A composition: the melody ids `melodies` one after the other, with short interpolated joins if `smooth`."""

    composition_id: str
    melodies: tuple[str, ...]
    smooth: bool = False

    kind: ClassVar[JobKind] = JobKind.COMPOSE
    generation: ClassVar[int] = -1

    @property
    def subject_id(self) -> str:
        return self.composition_id


@dataclass(frozen=True)
class TuneJob:
    """A tune of `bars` bars with `backing`, made from the melody id `source`."""

    tune_id: str
    source: str
    bars: int
    backing: Backing

    kind: ClassVar[JobKind] = JobKind.TUNE
    generation: ClassVar[int] = -1

    @property
    def subject_id(self) -> str:
        return self.tune_id


@dataclass(frozen=True)
class RenderJob:
    """Rendered files (audio, images) made again from what Redis keeps, after the media store let them go:
    `names` of `generation` of the breed `subject`, or of the tune or piece `subject` (`owner`). `candidate`
    (0-based): the melody a winner's files are of, for a gallery winner whose breed is no longer kept."""

    subject: str
    names: tuple[str, ...]
    owner: MediaOwner = MediaOwner.BREED
    generation: int = -1
    candidate: int | None = None

    kind: ClassVar[JobKind] = JobKind.RENDER

    @property
    def subject_id(self) -> str:
        return self.subject


Job = StartJob | EvolveJob | FinishJob | MorphJob | TreeJob | ComposeJob | TuneJob | RenderJob

# kind -> its type: what the codec reads a job's `type` into.
JOB_TYPES: dict[JobKind, type[Job]] = {
    cls.kind: cls for cls in (StartJob, EvolveJob, FinishJob, MorphJob, TreeJob, ComposeJob, TuneJob, RenderJob)
}
# The jobs that name candidates of a generation: their failure names the pair or the candidate.
CANDIDATE_JOBS: tuple[JobKind, ...] = (JobKind.MORPH, JobKind.TREE)
