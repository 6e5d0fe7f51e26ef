"""A whole tune from a bred 2-bar melody: a form of phrases made in latent space, then a backing.

The winner's 2 bars are the theme (A). The other phrases are decoded from latents, in one batch,
and chosen by score (see docs/tune.md):
- A', A'': variations, small moves from the theme in the melody subspace, as alike as a
  variation should be (similarity near VARIATION_TARGET), in key, preferring not to end on the
  tonic (the tune is not over yet);
- B, B': contrast, toward the runner-up (spherical interpolation, a little past it too) and far
  moves in the subspace, at similarity near CONTRAST_TARGET, in key, in the theme's register;
  B' is a variation of B;
- C: the closing phrase, a variation near the theme with a tonic on a strong beat of its last
  bar, cut there and held to the end; else one whose last note is the tonic (held to the end);
  else the best one with its last note moved to the nearest tonic.
Forms: 8 bars A A' B A when the theme ends on the tonic (the theme closes the tune), else
A B A C; 16 bars A A' B A | B' A' A'' A, or A A' B A | B' A' A C. The theme therefore opens
the tune exactly and comes back as written at least once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numpy.typing import NDArray

from domain.model import Note
from domain.tune import BACKINGS, TUNE_BARS, Backing
from engine.arrange import CHORD_STEPS, Arrangement, arrange
from engine.harmony import Chord, Key, estimate_key, fit_chords
from engine.preference import Subspace
from engine.similarity import frames, similarities

if TYPE_CHECKING:
    from engine.sampling import LatentModel

log = logging.getLogger(__name__)

PHRASE_STEPS = 32
STEPS_PER_BAR = 16
NEAR_SIGMAS = (0.12, 0.2, 0.3, 0.45)  # standardised subspace units; 0.2 keeps ~0.7 similarity
FAR_SIGMAS = (0.8, 1.2)
PER_SIGMA = 16
INTERPOLATION_POINTS = (0.5, 0.65, 0.8, 1.0, 1.2)
VARIATION_TARGET = 0.65
CONTRAST_TARGET = 0.3
MIN_IN_KEY = 0.75
IDENTICAL = 0.97
MIN_PITCHES = 3  # a candidate this alike is the theme again, not a variation


class Section(NamedTuple):
    """A phrase of the tune: its label, its first bar (1-based) and how it was made."""

    label: str
    first_bar: int
    how: str


@dataclass(frozen=True)
class Tune:
    """A tune: the whole melody (steps from 0), its backing, its phrases and key."""

    melody: list[Note]
    arrangement: Arrangement
    sections: list[Section]
    phrases: list[list[Note]]  # each phrase's notes, from step 0
    key: Key
    bars: int

    @property
    def midi(self) -> bytes:
        return self.arrangement.midi

    @property
    def chords(self) -> list[Chord]:
        return self.arrangement.chords

    @property
    def steps(self) -> int:
        return self.bars * STEPS_PER_BAR


@dataclass(frozen=True)
class _Candidate:
    notes: list[Note]
    latent: NDArray[np.float32]
    how: str
    similarity: float = 0.0


def build_tune(
    model: LatentModel, theme: NDArray[np.floating], *, contrast: NDArray[np.floating] | None = None,
    bars: int = 8, backing: str = "chords", tempo: int = 120, instrument: int = 0,
    subspace: Subspace | None = None, rng: np.random.Generator, theme_notes: Sequence[Note] | None = None,
    temperature: float = 0.0,
) -> Tune:
    """A tune of `bars` bars on the theme latent (its notes: `theme_notes`, else decoded), with `backing`.

    `contrast`: a second latent (the runner-up) the contrasting phrase leans toward.
    """
    if bars not in TUNE_BARS:
        raise ValueError(f"a tune has {' or '.join(map(str, TUNE_BARS))} bars, not {bars}")
    if backing not in BACKINGS:
        raise ValueError(f"backing must be one of {', '.join(BACKINGS)}, not {backing!r}")
    theme = np.asarray(theme, np.float32).reshape(-1)
    if theme_notes is None:
        theme_notes = model.decode(theme[None], temperature)[0]
    theme_notes = _clip(theme_notes)
    key = estimate_key(theme_notes)
    near = _decode(model, _near(theme, subspace, NEAR_SIGMAS, rng), "near the theme", temperature, theme_notes)
    far_latents = _near(theme, subspace, FAR_SIGMAS, rng)
    if contrast is not None:
        path = _slerp(theme, np.asarray(contrast, np.float32).reshape(-1), INTERPOLATION_POINTS)
        nudged = path + _near(np.zeros_like(theme), subspace, (0.15,), rng)[: len(path)]
        far_latents = np.concatenate([path, nudged, far_latents])
    far = _decode(model, far_latents, "far from the theme", temperature, theme_notes)

    theme_closes = _ends_on_tonic(theme_notes, key)
    variation = _best(near, lambda c: _variation_score(c, key))
    contrast_phrase = _best(far, lambda c: _contrast_score(c, theme_notes, key))
    sections: list[tuple[str, list[Note], str]] = [("A", theme_notes, "the theme: the bred melody, as written")]
    if bars == 8 and theme_closes:
        sections += [_section("A'", variation), _section("B", contrast_phrase), _theme_return(theme_notes, True)]
    elif bars == 8:
        sections += [_section("B", contrast_phrase), _theme_return(theme_notes, False),
                     _closing(near, theme_notes, key)]
    else:
        around_b = _decode(model, _near(contrast_phrase.latent, subspace, NEAR_SIGMAS[1:3], rng),
                           "near the contrasting phrase", temperature, contrast_phrase.notes)
        contrast_variation = _best(around_b, lambda c: _variation_score(c, key))
        sections += [_section("A'", variation), _section("B", contrast_phrase), _theme_return(theme_notes, False),
                     _section("B'", contrast_variation, "B"), _section("A'", variation)]
        if theme_closes:
            others = [c for c in near if c.notes != variation.notes]
            sections += [_section("A''", _best(others, lambda c: _variation_score(c, key))),
                         _theme_return(theme_notes, True)]
        else:
            sections += [_theme_return(theme_notes, False), _closing(near, theme_notes, key)]

    phrases = [notes for _, notes, _ in sections]
    melody = [Note(n.pitch, n.start + i * PHRASE_STEPS, n.end + i * PHRASE_STEPS)
              for i, phrase in enumerate(phrases) for n in phrase]
    steps = bars * STEPS_PER_BAR
    chords = fit_chords(melody, key, steps, CHORD_STEPS) if backing != Backing.NONE else None
    arrangement = arrange(melody, backing, tempo, instrument, steps, chords=chords, key=key)
    labelled = [Section(label, 1 + index * PHRASE_STEPS // STEPS_PER_BAR, how)
                for index, (label, _, how) in enumerate(sections)]
    log.info("tune of %d bars in %s: %s", bars, key.name, " ".join(s.label for s in labelled))
    return Tune(melody, arrangement, labelled, phrases, key, bars)


def _section(label: str, candidate: _Candidate, reference: str = "the theme") -> tuple[str, list[Note], str]:
    return label, candidate.notes, f"{candidate.how}, similarity to {reference} {candidate.similarity:.2f}"


def _theme_return(theme_notes: list[Note], closing: bool) -> tuple[str, list[Note], str]:
    why = "the theme again, as written: it ends on the tonic" if closing else "the theme again, as written"
    return "A", theme_notes, why


def _closing(near: Sequence[_Candidate], theme_notes: list[Note], key: Key) -> tuple[str, list[Note], str]:
    """The closing phrase: a variation that lands on the tonic, its tonic held to the end.

    Best: one with a tonic on beat 1 or 3 of its last bar (cut there: the cadence rests on a
    strong beat); then one whose last note is a tonic; else the best with its last note moved.
    """
    variations = [c for c in near if c.similarity < IDENTICAL]
    landing = [(c, _cut_at_tonic(c.notes, key)) for c in variations]
    landing = [(c, notes) for c, notes in landing if notes is not None]
    if landing:
        chosen, notes = max(landing, key=lambda pair: _closing_score(pair[0], key))
        how = f"{chosen.how}, cut at its tonic on a strong beat of its last bar"
        assert notes is not None  # the None cuts were left out above
        return "C", notes, f"{how}, similarity to the theme {chosen.similarity:.2f}"
    ending = [c for c in variations if _ends_on_tonic(c.notes, key)]
    if ending:
        chosen = _best(ending, lambda c: _closing_score(c, key))
        how = f"{chosen.how}, ends on the tonic"
        return "C", _held_to_end(chosen.notes), f"{how}, similarity to the theme {chosen.similarity:.2f}"
    chosen = _best(variations or near, lambda c: _closing_score(c, key))
    notes = _held_to_end(_to_tonic(chosen.notes or theme_notes, key))
    return "C", notes, f"{chosen.how}, its last note moved to the tonic, similarity {chosen.similarity:.2f}"


def _cut_at_tonic(notes: Sequence[Note], key: Key) -> list[Note] | None:
    """The phrase up to its last tonic on beat 1 or 3 of bar 2, held to the end; None if it has none."""
    landing = [n for n in notes if n.start in (STEPS_PER_BAR, STEPS_PER_BAR + 8) and n.pitch % 12 == key.tonic]
    if not landing:
        return None
    last = landing[-1]
    kept = [n for n in notes if n.start < last.start]
    return [*kept, Note(last.pitch, last.start, PHRASE_STEPS)]


def _near(centre: NDArray[np.float32], subspace: Subspace | None, sigmas: Sequence[float],
          rng: np.random.Generator) -> NDArray[np.float32]:
    """PER_SIGMA latents per sigma around `centre`, moved in the melody subspace (all 256 dims without one)."""
    moves = []
    for sigma in sigmas:
        if subspace is None:
            moves.append(rng.standard_normal((PER_SIGMA, centre.size)) * sigma)
        else:
            steps = rng.standard_normal((PER_SIGMA, subspace.scales.size)) * sigma * subspace.scales
            moves.append(steps @ subspace.basis.T)
    return (centre[None] + np.concatenate(moves)).astype(np.float32)


def _slerp(a: NDArray[np.float32], b: NDArray[np.float32], points: Sequence[float]) -> NDArray[np.float32]:
    """Points of the great circle through a and b (t=1 is b; t>1 goes past it)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cosine = np.clip(a64 @ b64 / max(float(np.linalg.norm(a64) * np.linalg.norm(b64)), 1e-12), -1.0, 1.0)
    omega = np.arccos(cosine)
    t = np.asarray(points)[:, None]
    line: NDArray[np.float32]
    if np.sin(omega) < 1e-6:
        line = ((1 - t) * a64 + t * b64).astype(np.float32)
    else:
        line = ((np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)).astype(np.float32)
    return line


def _decode(model: LatentModel, latents: NDArray[np.float32], how: str, temperature: float,
            reference: Sequence[Note]) -> list[_Candidate]:
    """The latents' melodies, each moved by octaves into the reference's register, with its similarity."""
    melodies = model.decode(latents, temperature)
    centre = float(np.mean([n.pitch for n in reference])) if reference else 67.0
    shifted = [_into_register(_clip(m), centre) for m in melodies]
    scores = similarities(frames(reference, PHRASE_STEPS), [frames(m, PHRASE_STEPS) for m in shifted])
    return [_Candidate(m, latent, how, float(s)) for m, latent, s in zip(shifted, latents, scores, strict=True)]


def _best(candidates: Sequence[_Candidate], score: Callable[[_Candidate], float]) -> _Candidate:
    voiced = [c for c in candidates if len(c.notes) >= 2] or list(candidates)
    return max(voiced, key=score)


def _variation_score(candidate: _Candidate, key: Key) -> float:
    if candidate.similarity >= IDENTICAL:
        return -10.0
    score = -2.0 * abs(candidate.similarity - VARIATION_TARGET) + _in_key_score(candidate.notes, key)
    return score - 0.3 * _ends_on_tonic(candidate.notes, key)


def _contrast_score(candidate: _Candidate, theme_notes: Sequence[Note], key: Key) -> float:
    notes = candidate.notes
    density = abs(float(np.log((len(notes) + 1) / (len(theme_notes) + 1))))
    score = -2.0 * abs(candidate.similarity - CONTRAST_TARGET) + 1.5 * _in_key_score(notes, key) - 0.5 * density
    return score - 0.3 * _ends_on_tonic(notes, key)


def _closing_score(candidate: _Candidate, key: Key) -> float:
    last = max(candidate.notes, key=lambda n: n.start) if candidate.notes else None
    on_beat = last is not None and last.start % 4 == 0
    late = last is not None and last.start >= PHRASE_STEPS - STEPS_PER_BAR
    triad = {key.tonic, (key.tonic + (3 if key.mode == "minor" else 4)) % 12, (key.tonic + 7) % 12}
    # Notes on the last bar's strong beats that belong to the tonic triad let the final chord settle.
    settled = sum(n.pitch % 12 in triad for n in candidate.notes if n.start in (STEPS_PER_BAR, STEPS_PER_BAR + 8))
    score = -1.5 * abs(candidate.similarity - VARIATION_TARGET) + _in_key_score(candidate.notes, key)
    return score + 0.3 * on_beat + 0.5 * late + 0.4 * settled


def _in_key_score(notes: Sequence[Note], key: Key) -> float:
    """0 when the whole phrase is in key, falling fast below MIN_IN_KEY; a phrase of one or two
    pitches (a drone, not a tune) loses too."""
    if not notes:
        return -5.0
    share = float(np.mean([n.pitch % 12 in key.scale for n in notes]))
    monotony = 0.5 * max(MIN_PITCHES - len({n.pitch for n in notes}), 0)
    return -3.0 * max(MIN_IN_KEY - share, 0.0) - (1.0 - share) - monotony


def _ends_on_tonic(notes: Sequence[Note], key: Key) -> bool:
    return bool(notes) and max(notes, key=lambda n: (n.start, n.pitch)).pitch % 12 == key.tonic


def _to_tonic(notes: Sequence[Note], key: Key) -> list[Note]:
    """The phrase with its last note moved to the nearest tonic (a step or two, at most a tritone)."""
    ordered = sorted(notes, key=lambda n: n.start)
    last = ordered[-1]
    shift = (key.tonic - last.pitch) % 12
    shift = shift - 12 if shift > 6 else shift
    return [*ordered[:-1], Note(last.pitch + shift, last.start, last.end)]


def _held_to_end(notes: Sequence[Note]) -> list[Note]:
    """The last note lengthened to the end of the phrase when it starts in the second bar: a cadence rests."""
    ordered = sorted(notes, key=lambda n: n.start)
    if not ordered or ordered[-1].start < PHRASE_STEPS - STEPS_PER_BAR:
        return ordered
    last = ordered[-1]
    return [*ordered[:-1], Note(last.pitch, last.start, PHRASE_STEPS)]


def _clip(notes: Sequence[Note]) -> list[Note]:
    return [Note(n.pitch, n.start, min(n.end, PHRASE_STEPS)) for n in sorted(notes, key=lambda n: n.start)
            if 0 <= n.start < PHRASE_STEPS]


def _into_register(notes: list[Note], centre: float) -> list[Note]:
    if not notes:
        return notes
    shift = 12 * round((centre - np.mean([n.pitch for n in notes])) / 12)
    if not shift or not all(0 <= n.pitch + shift <= 127 for n in notes):
        return notes
    return [Note(n.pitch + shift, n.start, n.end) for n in notes]
