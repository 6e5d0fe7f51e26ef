"""The genetic algorithm of Deep Interactive Evolution, over MusicVAE latent vectors.

Pure numpy: arrays in, arrays out, randomness only from the `np.random.Generator` passed in,
no I/O, inputs never mutated. The `classic` strategy (as in the paper), one generation of
population n:

1. Selection: candidates with at least one vote are kept. If more are voted for than there
   are slots (n - foreign), the most-voted are kept (ties: the lower index).
2. Crossover: the remaining slots get children of two kept parents, drawn in proportion to
   their votes; each latent component comes from either parent with probability 0.5.
3. Mutation: every kept and crossover vector mutates with probability 0.5; if it does, each
   component gets N(0, sigma^2) noise with probability 0.5.
4. Foreign: `foreign` fresh vectors from the prior N(0, I).

The `elitist` strategy is classic, except that the most-voted candidate (ties: the lower
index) is kept unmutated, bit for bit, so the group never loses its favourite; in classic it
mutates with probability 0.5 like any kept candidate, and may come back worse. With simulated
voters (`breeder bench ga`) elitist halves how often a generation's best melody is worse than
the previous generation's (about 18 % of steps -> 9 %), and converges on the voters' taste
about as fast as classic (paired difference under 1 %, within the noise of 3000 trials).

The `preference` strategy (the default) learns from every vote of the breed so far, the
`history` of earlier generations included, and searches where the melody lives:

1. Model: the votes of every generation are fitted by `engine.preference`: the group wants a
   point of the melody subspace (`subspace`, the few dozen latent directions the decoder
   listens to; without one, the whole latent space), or a direction in it (a taste), and each
   vote picks from its gallery with probability softmax(beta * utility). The posterior is a
   Gaussian; beta (how sure the votes are) and tune-or-taste are what the votes make most
   likely, so a group that agrees gets a surer model than one whose votes scatter.
2. Kept: the current generation's most-voted candidate (ties: the lower index), unchanged.
3. Preference: n - 1 - foreign new candidates. Each starts from a voted candidate of this
   generation (drawn in proportion to its votes), moves 30 % of the way towards the model's
   optimum (what all the votes so far point to), and strays from there by noise shaped like the
   posterior (wide where the votes left the model unsure, narrow where they agree), scaled by
   sigma: 0.6 * sigma posterior standard deviations; sigma 0 adds no noise. Outside the
   subspace they sit at its mean, where encoded melodies are. The parent is the voted
   candidate it started from.
4. Foreign: as in classic.

With simulated voters who hear the decoded melodies (`breeder bench converge`, figures in
docs/benchmarks.md), at generation 8 its best melody is about 1.2x as close to a tune five
voters have in mind as classic's or random search's, and groups with tastes rather than tunes
get melodies 0.6 standard deviations (of random melodies' utility) better than classic's.

Nudges: a generation's combined nudges ("fewer notes", "higher") arrive as one latent shift,
the sum of each attribute vector times its amount (`engine.attributes.AttributeVectors.shift`;
the vectors are the caller's, passed in as an array). A nudge moves NUDGED_SHARE (half) of the
new candidates, spread evenly; the others stay where the votes put them, so that the next votes
judge the nudge (moving every candidate scored lower in `breeder bench converge`, panel n). In
classic and elitist the moved ones are children (kept or crossover, never the foreign ones nor
elitist's unmutated favourite) shifted by it. In preference the nudge is evidence of where the
group wants to go: the optimum a moved candidate is pulled towards and the voted parent it starts
from both move by it, so the candidate moves by the whole shift (moving the optimum alone would
show only PULL_TO_OPTIMUM of it); the kept favourite stays as it was. Moved candidates record the
operator `nudged`. Steps of 2-4 x the shift, a line search along it, and nudges as lasting
evidence in the preference model (pseudo-votes) all scored no better there; the strategy
without nudges is already within 0.32 sd of the best the panel could give (docs/benchmarks.md).

Edge cases, in every strategy: no votes at all re-rolls a fresh random generation
(`Offspring.rerolled`); sigma = 0 adds no noise; foreign >= n is refused with ValueError. In
classic and elitist, with one kept candidate its children are copies of it, and those
copies always mutate (when sigma > 0) so that the generation explores around it instead of
repeating it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from domain import strategies
from engine import preference
from engine.preference import Subspace

KEPT = "kept"
CROSSOVER = "crossover"
MUTATED = "mutated"
FOREIGN = "foreign"
NUDGED = "nudged"

MUTATION_PROBABILITY = 0.5
COMPONENT_MUTATION_PROBABILITY = 0.5
# The names people choose from are the domain's; a test keeps them equal to the ones implemented here.
PREFERENCE = strategies.PREFERENCE
STRATEGIES = strategies.STRATEGIES
DEFAULT_STRATEGY = strategies.DEFAULT_STRATEGY
# preference: how far a new candidate's centre moves from its voted parent towards the model's
# optimum, and its spread around that centre in posterior standard deviations per unit of sigma.
# Chosen on `breeder bench converge` (docs/benchmarks.md): 0.3 and 0.6 (spread 0.3 at sigma 0.5)
# beat pulls of 0, 0.5, 0.7 and 1 and spreads of 0.5 and 0.8 on the tune panels.
PULL_TO_OPTIMUM = 0.3
SPREAD_PER_SIGMA = 0.6
# The share of new candidates a nudge moves; the others stay where the votes put them, so that the
# next votes can tell whether the nudge was a good idea.
NUDGED_SHARE = 0.5


@dataclass(frozen=True)
class Origin:
    """How a candidate was made: the operators applied in order, and its parents' ids."""

    operators: tuple[str, ...]
    parents: tuple[str, ...]

    @property
    def operator(self) -> str:
        """The operator that made the vector: kept, crossover or foreign."""
        return self.operators[0]

    @property
    def mutated(self) -> bool:
        return MUTATED in self.operators


@dataclass(frozen=True)
class Offspring:
    """A new generation: latents (n, z) float32 and one Origin per row."""

    latents: NDArray[np.float32]
    origins: tuple[Origin, ...]
    rerolled: bool = False


def random_population(size: int, latent_size: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """`size` vectors from the prior N(0, I)."""
    if size < 1 or latent_size < 1:
        raise ValueError("population and latent size must be positive")
    return rng.standard_normal((size, latent_size)).astype(np.float32)


def validate(
    latents: NDArray[np.floating],
    fitness: NDArray[np.integer] | Sequence[int],
    candidate_ids: Sequence[str],
    sigma: float,
    foreign: int,
) -> NDArray[np.int64]:
    """Check the inputs of a step; return the fitness as an int64 array."""
    if latents.ndim != 2 or latents.shape[0] < 1:
        raise ValueError(f"latents must be a (population, latent size) matrix, got shape {latents.shape}")
    population = latents.shape[0]
    fitness_array = np.asarray(fitness)
    if fitness_array.shape != (population,):
        raise ValueError(f"fitness needs one value per candidate ({population}), got {fitness_array.shape}")
    if fitness_array.size and not np.issubdtype(fitness_array.dtype, np.integer):
        raise ValueError("fitness must be integer vote counts")
    if (fitness_array < 0).any():
        raise ValueError("fitness must be non-negative vote counts")
    if len(candidate_ids) != population:
        raise ValueError(f"need one candidate id per candidate ({population}), got {len(candidate_ids)}")
    if not 0.0 <= sigma <= 1.0:
        raise ValueError(f"mutation sigma must be within [0, 1], got {sigma}")
    if not 0 <= foreign < population:
        raise ValueError(f"foreign count must be at least 0 and below the population ({population}), got {foreign}")
    return fitness_array.astype(np.int64)


def select(fitness: NDArray[np.int64], slots: int) -> NDArray[np.int64]:
    """Indices of the kept candidates: voted for, most votes first, at most `slots`."""
    voted = np.flatnonzero(fitness > 0)
    order = voted[np.argsort(-fitness[voted], kind="stable")]
    return np.sort(order[:slots])


def crossover(
    parent_a: NDArray[np.float32], parent_b: NDArray[np.float32], rng: np.random.Generator
) -> NDArray[np.float32]:
    """Uniform crossover: each component from either parent with probability 0.5."""
    from_a = rng.random(parent_a.shape[0]) < 0.5
    return np.where(from_a, parent_a, parent_b).astype(np.float32)


def mutate(vector: NDArray[np.float32], sigma: float, rng: np.random.Generator) -> NDArray[np.float32]:
    """Add N(0, sigma^2) noise to each component with probability 0.5."""
    mask = rng.random(vector.shape[0]) < COMPONENT_MUTATION_PROBABILITY
    noise = rng.normal(0.0, sigma, vector.shape[0]) if sigma > 0 else np.zeros(vector.shape[0])
    return (vector + mask * noise).astype(np.float32)


@dataclass(frozen=True)
class Step:
    """What a strategy breeds from: a generation's latents (float32) and votes, checked, with the options."""

    source: NDArray[np.float32]
    votes: NDArray[np.int64]
    candidate_ids: Sequence[str]
    earlier: list[tuple[NDArray[np.float64], NDArray[np.int64]]]
    sigma: float
    foreign: int
    rng: np.random.Generator
    subspace: Subspace | None
    shift: NDArray[np.float64] | None

    def foreigners(self, rows: list[NDArray[np.float32]], origins: list[Origin]) -> Offspring:
        """The offspring: `rows` and `origins`, then the `foreign` fresh vectors from the prior."""
        if self.foreign:
            rows.extend(random_population(self.foreign, self.source.shape[1], self.rng))
            origins.extend(Origin((FOREIGN,), ()) for _ in range(self.foreign))
        return Offspring(np.stack(rows).astype(np.float32), tuple(origins))


class Strategy(Protocol):
    """One way to make the next generation from a voted one (the names are domain.strategies')."""

    name: str

    def breed(self, step: Step) -> Offspring: ...


class Classic:
    """As in the paper: keep the voted, fill with crossover children of them, mutate, add foreign ones."""

    name: str = strategies.CLASSIC
    keeps_favourite = False  # elitist: the most-voted candidate survives unchanged (never mutated or nudged)

    def breed(self, step: Step) -> Offspring:
        source, votes, ids, rng = step.source, step.votes, step.candidate_ids, step.rng
        population = source.shape[0]
        kept = select(votes, population - step.foreign)
        # np.argmax returns the first of equal maxima: ties go to the lower index.
        elite = int(np.argmax(votes)) if self.keeps_favourite else None
        rows: list[NDArray[np.float32]] = []
        origins: list[Origin] = []
        for index in kept:
            rows.append(source[index].copy())
            origins.append(Origin((KEPT,), (ids[index],)))

        weights = votes[kept] / votes[kept].sum()
        for _ in range(population - len(kept) - step.foreign):
            if len(kept) == 1:
                a = b = int(kept[0])
            else:
                a, b = (int(i) for i in rng.choice(kept, size=2, replace=False, p=weights))
            rows.append(crossover(source[a], source[b], rng))
            parents = (ids[a],) if a == b else (ids[a], ids[b])
            origins.append(Origin((CROSSOVER,), parents))

        for slot, origin in enumerate(origins):
            if slot < len(kept) and kept[slot] == elite:
                continue
            copy_of_lone_parent = origin.operator == CROSSOVER and len(origin.parents) == 1
            if copy_of_lone_parent or rng.random() < MUTATION_PROBABILITY:
                rows[slot] = mutate(rows[slot], step.sigma, rng)
                if step.sigma > 0:
                    origins[slot] = Origin(origin.operators + (MUTATED,), origin.parents)
        if step.shift is not None:
            movable = [slot for slot in range(len(origins)) if not (slot < len(kept) and kept[slot] == elite)]
            for slot in nudged_share(movable):
                rows[slot] = (rows[slot] + step.shift).astype(np.float32)
                origins[slot] = Origin(origins[slot].operators + (NUDGED,), origins[slot].parents)
        return step.foreigners(rows, origins)


class Elitist(Classic):
    """Classic, but the most-voted melody always survives unchanged."""

    name: str = strategies.ELITIST
    keeps_favourite = True


class Preference:
    """Learns what the group likes from every vote so far (engine.preference) and samples near it."""

    name: str = strategies.PREFERENCE

    def breed(self, step: Step) -> Offspring:
        source, votes, rng, subspace, shift = step.source, step.votes, step.rng, step.subspace, step.shift
        population, latent_size = source.shape
        galleries = [*step.earlier, (source.astype(np.float64), votes)]
        if subspace is None:
            size = latent_size
            belief = preference.fit(galleries, size)
        else:
            size = subspace.basis.shape[1]
            belief = preference.fit([(subspace.coordinates(x), v) for x, v in galleries], size)
        # np.argmax returns the first of equal maxima: ties go to the lower index.
        favourite = int(np.argmax(votes))
        rows = [source[favourite].copy()]
        origins = [Origin((KEPT,), (step.candidate_ids[favourite],))]
        count = population - 1 - step.foreign
        coordinates = source.astype(np.float64) if subspace is None else subspace.coordinates(source)
        chosen = rng.choice(population, size=count, p=votes / votes.sum())
        centres = coordinates[chosen] + PULL_TO_OPTIMUM * (belief.optimum - coordinates[chosen])
        moved = nudged_share(range(count)) if shift is not None else []
        if shift is not None and moved:
            # Start and optimum both move by the nudge: the centre moves by all of it.
            centres[moved] += shift if subspace is None else (shift @ subspace.basis) / subspace.scales
        guesses = centres + step.sigma * SPREAD_PER_SIGMA * preference.noise(belief, count, rng)
        operators = (PREFERENCE, MUTATED) if step.sigma > 0 else (PREFERENCE,)
        for row, (point, parent) in enumerate(zip(guesses, chosen, strict=True)):
            latent = point if subspace is None else subspace.latents(point)
            rows.append(latent.astype(np.float32))
            origins.append(Origin(operators + ((NUDGED,) if row in moved else ()), (step.candidate_ids[parent],)))
        return step.foreigners(rows, origins)


# name -> the strategy: a new one is a class above and a line here (and its name and words in domain.strategies).
BY_NAME: dict[str, Strategy] = {strategy.name: strategy for strategy in (Classic(), Elitist(), Preference())}


def evolve(
    latents: NDArray[np.floating],
    fitness: NDArray[np.integer] | Sequence[int],
    candidate_ids: Sequence[str],
    *,
    sigma: float,
    foreign: int,
    rng: np.random.Generator,
    strategy: str = DEFAULT_STRATEGY,
    history: Sequence[tuple[NDArray[np.floating], NDArray[np.integer] | Sequence[int]]] = (),
    subspace: Subspace | None = None,
    nudge: NDArray[np.floating] | None = None,
) -> Offspring:
    """One generation step of `strategy` (see the module docstring).

    history: the breed's earlier generations as (latents, fitness) pairs, oldest first; only
    `preference` reads it. subspace: where melodies live (`engine.subspace.load()`); only
    `preference` uses it, and without one it models the whole latent space. nudge: the latent
    shift (z,) the generation's combined nudges ask for; None (or zeros) for none.
    """
    breeder = BY_NAME.get(strategy)
    if breeder is None:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    votes = validate(latents, fitness, candidate_ids, sigma, foreign)
    population, latent_size = latents.shape
    earlier = validate_history(history, latent_size)
    if subspace is not None and subspace.latent_size != latent_size:
        raise ValueError(f"the subspace is of latent size {subspace.latent_size}, the latents of {latent_size}")
    shift = validate_nudge(nudge, latent_size)
    if not votes.any():
        fresh = random_population(population, latent_size, rng)
        return Offspring(fresh, tuple(Origin((FOREIGN,), ()) for _ in range(population)), rerolled=True)
    step = Step(np.asarray(latents, dtype=np.float32), votes, candidate_ids, earlier, sigma, foreign, rng, subspace,
                shift)
    return breeder.breed(step)


def validate_history(
    history: Sequence[tuple[NDArray[np.floating], NDArray[np.integer] | Sequence[int]]], latent_size: int
) -> list[tuple[NDArray[np.float64], NDArray[np.int64]]]:
    """Check a breed's earlier generations; return them as (float64 latents, int64 votes) copies."""
    checked = []
    for generation, (latents, fitness) in enumerate(history):
        latents_array = np.asarray(latents)
        if latents_array.ndim != 2 or latents_array.shape[1] != latent_size:
            raise ValueError(f"history generation {generation}: latents must be (population, {latent_size}), "
                             f"got shape {latents_array.shape}")
        fitness_array = np.asarray(fitness)
        if fitness_array.shape != (latents_array.shape[0],):
            raise ValueError(f"history generation {generation}: fitness needs one value per candidate")
        if fitness_array.size and (not np.issubdtype(fitness_array.dtype, np.integer) or (fitness_array < 0).any()):
            raise ValueError(f"history generation {generation}: fitness must be non-negative vote counts")
        checked.append((latents_array.astype(np.float64), fitness_array.astype(np.int64)))
    return checked


def nudged_share(slots: Sequence[int] | range) -> list[int]:
    """The slots a nudge moves: NUDGED_SHARE of them, spread evenly (every one at share 1)."""
    return [slot for i, slot in enumerate(slots) if int((i + 1) * NUDGED_SHARE) > int(i * NUDGED_SHARE)]


def validate_nudge(nudge: NDArray[np.floating] | None, latent_size: int) -> NDArray[np.float64] | None:
    """Check a nudge's latent shift; None when there is none to apply (None or all zeros)."""
    if nudge is None:
        return None
    shift = np.asarray(nudge, dtype=np.float64)
    if shift.shape != (latent_size,) or not np.isfinite(shift).all():
        raise ValueError(f"a nudge must be a finite latent shift of shape ({latent_size},), got shape {shift.shape}")
    return shift if shift.any() else None
