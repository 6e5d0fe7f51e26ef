"""Simulated voter panels for `breeder bench converge`: who votes, for what, and how.

Each panel scores the decoded melodies of a generation twice: per voter (what each voter
prefers, before their judgement noise) and for the group (what the benchmark measures). Every
voter then votes as the bot counts reactions: for their `votes_each` best candidates (by
their score plus fresh Gaussian noise), one vote per candidate.

Panels:
  a  1 voter with a tune in mind: scores a melody by its similarity to the tune
     (`engine.similarity`), with judgement noise of sd 0.05 (similarity units).
  b  5 voters with the same tune, independent noise of sd 0.05 each.
  c  5 voters with related but different tunes: each has a variant of one tune (a quarter of
     its notes, at least one, moved by 1 to 3 semitones up or down, and with probability 0.5
     one note merged into the note before it); noise sd 0.05. The group's score is the mean
     similarity to the 5 variants.
  n  5 voters who want a profile of the nudgeable attributes and nudge as well as vote
     (NudgingPanel, below): the profile of a typical melody of the prior, 0.5 sd apart.
  f  as n, but the group wants fewer notes than the model makes: the profile of a melody of the
     prior with at most FOLK_DENSITY notes a bar (about 1 in 12 of them), and its voters agree
     within 0.2 sd.
  d  5 voters with tastes rather than tunes: a voter's utility is a weighted sum of melodic
     features (stepwise motion, register, syncopation, minor mode, density, range; see
     `engine.similarity.melodic_features`), each standardised by its mean and sd over melodies
     decoded from the prior. The weights are a taste shared by the panel plus the voter's own
     (half as strong), scaled to unit length; noise sd 0.3. A silent melody gets utility -3.
     The group's score is the mean utility, in standard deviations of the group utility of
     random candidates (0 = a typical random melody).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from domain.model import Note
from domain.nudges import ATTRIBUTES
from engine import similarity
from engine.attributes import measure_all

SIMILARITY_NOISE = 0.05
TASTE_NOISE = 0.3
SILENT_UTILITY = -3.0
PANELS = {
    "a": "1 voter, a tune in mind",
    "b": "5 voters, the same tune",
    "c": "5 voters, variants of one tune",
    "d": "5 voters, tastes (melodic features)",
    "n": "5 voters, wanted attribute profiles; they also nudge",
    "f": "5 voters who want fewer notes (a sparse melody's profile), close together; they also nudge",
}
# Panel f's notes a bar: about 8 notes in 2 bars, as in a large folk song collection, against about 15
# in the model's melodies (and its training corpus).
FOLK_DENSITY = 4.0
CLOSE_VOTERS = 0.2  # panel f: each voter's own variation around the shared profile, in sd


@dataclass(frozen=True)
class Scores:
    """Per voter (voters, n) and for the group (n,): how much they like each candidate."""

    voters: NDArray[np.float64]
    group: NDArray[np.float64]


class TunePanel:
    """Voters each with a tune in mind (panels a, b, c); the group's score is the mean similarity."""

    noise = SIMILARITY_NOISE

    def __init__(self, tunes: Sequence[Sequence[Note]]) -> None:
        self.tunes = [similarity.frames(tune) for tune in tunes]

    def score(self, melodies: Sequence[Sequence[Note]]) -> Scores:
        candidate_frames = [similarity.frames(melody) for melody in melodies]
        voters = np.stack([similarity.similarities(tune, candidate_frames) for tune in self.tunes])
        return Scores(voters, voters.mean(axis=0))


class TastePanel:
    """Voters with tastes over melodic features (panel d)."""

    noise = TASTE_NOISE

    def __init__(self, weights: NDArray[np.float64], feature_mean: NDArray[np.float64],
                 feature_sd: NDArray[np.float64], group_mean: float, group_sd: float) -> None:
        self.weights = weights  # (voters, features)
        self.feature_mean, self.feature_sd = feature_mean, feature_sd
        self.group_mean, self.group_sd = group_mean, group_sd

    def utilities(self, melodies: Sequence[Sequence[Note]]) -> NDArray[np.float64]:
        """Each voter's utility (voters, n) of each melody, before noise."""
        features = np.stack([similarity.melodic_features(melody) for melody in melodies])
        standard = (features - self.feature_mean) / self.feature_sd
        utilities = self.weights @ np.nan_to_num(standard).T
        silent = np.isnan(features).any(axis=1)
        utilities[:, silent] = SILENT_UTILITY
        return utilities

    def score(self, melodies: Sequence[Sequence[Note]]) -> Scores:
        voters = self.utilities(melodies)
        return Scores(voters, (voters.mean(axis=0) - self.group_mean) / self.group_sd)


def variant(tune: Sequence[Note], rng: np.random.Generator) -> list[Note]:
    """A related tune: some pitches moved by 1-3 semitones, maybe one note merged into the one before."""
    notes = sorted(tune, key=lambda n: n.start)
    if not notes:
        return []
    edits = rng.choice(len(notes), size=max(1, len(notes) // 4), replace=False)
    moved = [
        Note(n.pitch + int(rng.choice([-3, -2, -1, 1, 2, 3])), n.start, n.end) if i in edits else n
        for i, n in enumerate(notes)
    ]
    if len(moved) >= 2 and rng.random() < 0.5:
        index = int(rng.integers(1, len(moved)))
        before, merged = moved[index - 1], moved[index]
        moved[index - 1] = Note(before.pitch, before.start, merged.end)
        del moved[index]
    return moved


def taste_weights(voters: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """(voters, features) unit-length weights: a shared taste plus each voter's own, half as strong."""
    shared = rng.standard_normal(len(similarity.FEATURES))
    own = rng.standard_normal((voters, len(similarity.FEATURES)))
    weights = shared[None] + 0.5 * own
    return weights / np.linalg.norm(weights, axis=1, keepdims=True)


def vote(scores: NDArray[np.float64], votes_each: int, noise: float, rng: np.random.Generator) -> NDArray[np.int64]:
    """Vote counts: each voter votes for their `votes_each` best candidates (score + noise), one vote each."""
    voters, candidates = scores.shape
    noisy = scores + rng.normal(0.0, noise, (voters, candidates))
    chosen = np.argsort(-noisy, axis=1, kind="stable")[:, :votes_each]
    return np.bincount(chosen.ravel(), minlength=candidates).astype(np.int64)


# Panel n: voters who want an attribute profile and say so with nudges as well as votes.
NUDGE_AT_LEAST = 0.5  # a voter nudges only when the best melody misses what they want by this many sd
# A voter nudges by a small step towards what they want: this share of the distance, at most NUDGE_AT_MOST.
# Whole distances (up to 2) lowered the score by 0.1-0.35 sd at generation 8; steps of 0.3, at most 0.5,
# raised it (docs/benchmarks.md): a vector moves one melody more or less than its average.
NUDGE_STEP = 0.3
NUDGE_AT_MOST = 0.5
WEISZFELD_STEPS = 200
UNREADABLE_GAP = 3.0  # an attribute a melody lacks (no notes to measure) counts as 3 sd off


class NudgingPanel:
    """Voters each wanting a profile of the nudgeable attributes (panels n and f), who also nudge.

    `wanted` (voters, attributes) are standardised attribute values (by `mean` and `sd` over
    melodies of the prior); a voter's utility is minus the root mean square distance of a melody's
    standardised attributes from what they want (squared distances would let a few far-off
    random melodies set the scale). The group's score is the mean utility in
    standard deviations of the group utility of random candidates. After voting, each voter
    nudges the attribute on which the most-voted melody is furthest from what they want, by
    NUDGE_STEP of that distance (at most NUDGE_AT_MOST), or not at all when it is within NUDGE_AT_LEAST.
    """

    noise = TASTE_NOISE

    def __init__(self, wanted: NDArray[np.float64], mean: NDArray[np.float64], sd: NDArray[np.float64],
                 group_mean: float = 0.0, group_sd: float = 1.0) -> None:
        self.wanted, self.mean, self.sd = wanted, mean, sd
        self.group_mean, self.group_sd = group_mean, group_sd

    def gaps(self, melodies: Sequence[Sequence[Note]]) -> NDArray[np.float64]:
        """(voters, n, attributes): what each voter wants minus what each melody has, in sd."""
        standard = (measure_all(melodies) - self.mean) / self.sd
        gaps = self.wanted[:, None, :] - standard[None]
        return np.where(np.isnan(gaps), UNREADABLE_GAP, gaps)

    def utilities(self, melodies: Sequence[Sequence[Note]]) -> NDArray[np.float64]:
        return -np.sqrt((self.gaps(melodies) ** 2).mean(axis=2))

    def score(self, melodies: Sequence[Sequence[Note]]) -> Scores:
        voters = self.utilities(melodies)
        return Scores(voters, (voters.mean(axis=0) - self.group_mean) / self.group_sd)

    def best_possible(self) -> float:
        """The group score of a melody with the best profile there is: the ceiling no breed can pass.

        The mean of the voters' RMS distances is least at the geometric median of what they want
        (Weiszfeld's iteration); no melody need have it, so real breeds stay below.
        """
        profile = self.wanted.mean(axis=0)
        for _ in range(WEISZFELD_STEPS):
            distances = np.maximum(np.linalg.norm(self.wanted - profile, axis=1), 1e-12)
            profile = (self.wanted / distances[:, None]).sum(axis=0) / (1.0 / distances).sum()
        utility = -np.sqrt(((self.wanted - profile) ** 2).mean(axis=1)).mean()
        return float((utility - self.group_mean) / self.group_sd)

    def nudges(self, melodies: Sequence[Sequence[Note]], fitness: NDArray[np.int64],
               names: Sequence[str]) -> list[tuple[str, str, float]]:
        """Each voter's nudge on the generation: (voter, attribute, amount), at most one each."""
        best = int(np.argmax(fitness))
        given = []
        for voter, gap in enumerate(self.gaps([melodies[best]])[:, 0, :]):
            attribute = int(np.argmax(np.abs(gap)))
            if abs(gap[attribute]) >= NUDGE_AT_LEAST:
                amount = np.clip(NUDGE_STEP * gap[attribute], -NUDGE_AT_MOST, NUDGE_AT_MOST)
                given.append((str(voter), names[attribute], float(amount)))
        return given


def wanted_profiles(voters: int, melody: NDArray[np.float64], rng: np.random.Generator,
                    spread: float = 0.5) -> NDArray[np.float64]:
    """(voters, attributes) wanted standardised values: those of a melody (so that they go together as in
    melodies the model makes), shared by the panel, plus each voter's own variation of `spread` sd."""
    return melody[None] + spread * rng.standard_normal((voters, len(melody)))


def first_sparse(values: NDArray[np.float64], density: float = FOLK_DENSITY) -> int | None:
    """The index of the first melody (by its attributes (n, attributes)) with every attribute
    measurable and at most `density` notes a bar; None when there is none."""
    sparse = np.isfinite(values).all(axis=1) & (values[:, ATTRIBUTES.index("density")] <= density)
    return int(np.argmax(sparse)) if sparse.any() else None
