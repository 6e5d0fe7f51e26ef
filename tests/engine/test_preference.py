"""The preference strategy and its vote model: invariants with hypothesis, behaviour with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import ga, preference
from engine.preference import Subspace

LATENT = 16


def ids(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def evolve(latents, fitness, *, history=(), sigma=0.5, foreign=1, seed=0, subspace=None):
    return ga.evolve(latents, fitness, ids(len(latents)), sigma=sigma, foreign=foreign,
                     rng=np.random.default_rng(seed), strategy="preference", history=history, subspace=subspace)


def closest_votes(latents: np.ndarray, target: np.ndarray, voters: int = 5, each: int = 2) -> np.ndarray:
    """Votes of voters who all pick the `each` candidates nearest `target`."""
    nearest = np.argsort(np.linalg.norm(latents - target, axis=1))[:each]
    return np.bincount(np.repeat(nearest, voters), minlength=len(latents)).astype(np.int64)


def breed_history(target: np.ndarray, generations: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(generations):
        latents = rng.standard_normal((8, LATENT)).astype(np.float32)
        history.append((latents, closest_votes(latents, target)))
    return history


def small_subspace(seed: int = 0, dimensions: int = 4) -> Subspace:
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((LATENT, dimensions)))
    return Subspace(rng.standard_normal(LATENT) * 0.1, basis, np.linspace(1.5, 0.5, dimensions))


@st.composite
def steps_with_history(draw):
    population = draw(st.integers(2, 10))
    foreign = draw(st.integers(0, population - 1))
    fitness = draw(st.lists(st.integers(0, 6), min_size=population, max_size=population))
    if sum(fitness) == 0:
        fitness[draw(st.integers(0, population - 1))] = 1
    sigma = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    history = []
    for size in draw(st.lists(st.integers(1, 10), max_size=4)):
        votes = draw(st.lists(st.integers(0, 6), min_size=size, max_size=size))
        history.append((rng.standard_normal((size, LATENT)).astype(np.float32), np.array(votes)))
    latents = rng.standard_normal((population, LATENT)).astype(np.float32)
    use_subspace = draw(st.booleans())
    return latents, np.array(fitness), history, foreign, sigma, seed, small_subspace(seed) if use_subspace else None


@given(steps_with_history())
def test_shape_dtype_and_lineage_of_a_preference_generation(step):
    latents, fitness, history, foreign, sigma, seed, subspace = step
    out = evolve(latents, fitness, history=history, sigma=sigma, foreign=foreign, seed=seed, subspace=subspace)
    assert out.latents.shape == latents.shape and out.latents.dtype == np.float32
    assert np.isfinite(out.latents).all() and not out.rerolled
    favourite = int(np.argmax(fitness))
    assert out.origins[0] == ga.Origin((ga.KEPT,), (f"c{favourite}",))
    assert out.latents[0].tobytes() == latents[favourite].tobytes()
    voted = {f"c{i}" for i in np.flatnonzero(fitness)}
    guessed = out.origins[1 : len(latents) - foreign]
    expected = (ga.PREFERENCE, ga.MUTATED) if sigma > 0 else (ga.PREFERENCE,)
    assert all(o.operators == expected and len(o.parents) == 1 and o.parents[0] in voted for o in guessed)
    assert all(o.operators == (ga.FOREIGN,) and o.parents == () for o in out.origins[len(latents) - foreign :])


@given(steps_with_history())
def test_preference_never_mutates_its_inputs_and_repeats_with_a_seed(step):
    latents, fitness, history, foreign, sigma, seed, subspace = step
    before = (latents.copy(), fitness.copy(), [(x.copy(), v.copy()) for x, v in history])
    a = evolve(latents, fitness, history=history, sigma=sigma, foreign=foreign, seed=seed, subspace=subspace)
    b = evolve(latents, fitness, history=history, sigma=sigma, foreign=foreign, seed=seed, subspace=subspace)
    assert np.array_equal(a.latents, b.latents) and a.origins == b.origins
    assert np.array_equal(latents, before[0]) and np.array_equal(fitness, before[1])
    for (x, v), (x0, v0) in zip(history, before[2], strict=True):
        assert np.array_equal(x, x0) and np.array_equal(v, v0)


def test_sigma_zero_adds_no_noise_guesses_of_one_parent_coincide():
    latents = np.random.default_rng(0).standard_normal((8, LATENT)).astype(np.float32)
    out = evolve(latents, np.array([3, 0, 2, 0, 0, 1, 0, 0]), sigma=0.0)
    assert not any(o.mutated for o in out.origins)
    by_parent: dict[str, list[np.ndarray]] = {}
    for row, origin in zip(out.latents[1:7], out.origins[1:7], strict=True):
        by_parent.setdefault(origin.parents[0], []).append(row)
    assert all((np.stack(rows) == rows[0]).all() for rows in by_parent.values())


def test_guesses_start_between_their_parent_and_the_model_optimum():
    latents = np.random.default_rng(0).standard_normal((8, LATENT)).astype(np.float32)
    fitness = np.array([0, 0, 4, 0, 0, 0, 0, 0])
    out = evolve(latents, fitness, sigma=0.0, foreign=0)
    belief = preference.fit([(latents.astype(np.float64), fitness)], LATENT)
    expected = latents[2] + ga.PULL_TO_OPTIMUM * (belief.optimum - latents[2])
    assert np.allclose(out.latents[1:], expected, atol=1e-5)


def test_a_larger_sigma_spreads_the_guesses_further():
    latents = np.random.default_rng(0).standard_normal((8, LATENT)).astype(np.float32)
    fitness = np.array([0, 0, 4, 0, 0, 0, 0, 0])  # one parent: all spread is noise
    spreads = [evolve(latents, fitness, sigma=sigma, foreign=0).latents[1:].std(axis=0).mean() for sigma in (0.1, 1.0)]
    assert spreads[1] > 5 * spreads[0]


def test_a_different_history_gives_a_different_generation():
    latents = np.random.default_rng(0).standard_normal((8, LATENT)).astype(np.float32)
    fitness = np.array([3, 0, 2, 0, 0, 1, 0, 4])
    target = np.ones(LATENT)
    without = evolve(latents, fitness)
    with_one = evolve(latents, fitness, history=breed_history(target, 3, seed=1))
    with_other = evolve(latents, fitness, history=breed_history(-target, 3, seed=1))
    assert not np.array_equal(without.latents, with_one.latents)
    assert not np.array_equal(with_one.latents, with_other.latents)


@pytest.mark.parametrize("use_subspace", [False, True])
def test_the_votes_of_the_history_steer_the_search_towards_what_the_voters_want(use_subspace):
    subspace = small_subspace() if use_subspace else None
    rng = np.random.default_rng(7)
    target = rng.standard_normal(LATENT) * 1.5
    if subspace is not None:  # a wish the subspace can express
        target = subspace.latents(subspace.coordinates(target[None]))[0]
    latents = rng.standard_normal((8, LATENT)).astype(np.float32)
    fitness = closest_votes(latents, target)

    def distance(history) -> float:
        """How far from the wish the generation aims: where its guesses head from their parents."""
        out = evolve(latents, fitness, history=history, sigma=0.0, foreign=0, seed=3, subspace=subspace)
        by_id = dict(zip(ids(8), latents.astype(np.float64), strict=True))
        parent = by_id[out.origins[1].parents[0]]
        aim = parent + (out.latents[1] - parent) / ga.PULL_TO_OPTIMUM
        return float(np.linalg.norm(aim - target))

    informed = distance(breed_history(target, 12, seed=2))
    misled = distance(breed_history(-target, 12, seed=2))
    uninformed = distance(())
    assert informed < uninformed and informed < misled


def test_guesses_lie_in_the_subspace_when_one_is_given():
    subspace = small_subspace()
    latents = np.random.default_rng(0).standard_normal((8, LATENT)).astype(np.float32)
    out = evolve(latents, np.array([3, 0, 2, 0, 0, 1, 0, 0]), subspace=subspace)
    offsets = out.latents[1:7].astype(np.float64) - subspace.mean
    residual = offsets - offsets @ subspace.basis @ subspace.basis.T
    assert np.abs(residual).max() < 1e-5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"history": [(np.zeros((8, LATENT + 1), np.float32), np.ones(8, int))]}, "history generation 0"),
        ({"history": [(np.zeros((8, LATENT), np.float32), np.ones(7, int))]}, "one value per candidate"),
        ({"history": [(np.zeros((8, LATENT), np.float32), -np.ones(8, int))]}, "non-negative"),
        ({"subspace": Subspace(np.zeros(LATENT + 1), np.eye(LATENT + 1)[:, :2], np.ones(2))}, "subspace"),
        ({"foreign": 8}, "foreign count"),
    ],
)
def test_a_bad_history_or_subspace_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        evolve(np.zeros((8, LATENT), np.float32), np.ones(8, int), **kwargs)


def test_no_votes_rerolls_even_with_a_history():
    out = evolve(np.ones((8, LATENT), np.float32), np.zeros(8, int), history=breed_history(np.ones(LATENT), 2, 0))
    assert out.rerolled and all(o.operators == (ga.FOREIGN,) for o in out.origins)


def test_agreeing_votes_make_a_surer_model_than_scattered_ones():
    rng = np.random.default_rng(0)
    target = rng.standard_normal(LATENT)
    galleries_agreeing, galleries_scattered = [], []
    for _ in range(10):
        points = rng.standard_normal((8, LATENT))
        galleries_agreeing.append((points, closest_votes(points, target)))
        galleries_scattered.append((points, np.bincount(rng.choice(8, 10), minlength=8)))
    agreeing = preference.fit(galleries_agreeing, LATENT)
    scattered = preference.fit(galleries_scattered, LATENT)
    assert agreeing.beta > scattered.beta
    assert np.trace(agreeing.covariance) < np.trace(scattered.covariance)
    # The optimum points towards the target.
    assert agreeing.optimum @ target / (np.linalg.norm(agreeing.mode) * np.linalg.norm(target)) > 0.5


def test_subspace_coordinates_and_latents_round_trip():
    subspace = small_subspace()
    coordinates = np.random.default_rng(1).standard_normal((5, 4))
    assert np.allclose(subspace.coordinates(subspace.latents(coordinates)), coordinates)
