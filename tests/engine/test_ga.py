"""The genetic algorithm's invariants, pinned down with hypothesis and fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import strategies
from engine import ga

LATENT = 16
every_strategy = pytest.mark.parametrize("strategy", ga.STRATEGIES)
# The strategies made of selection, crossover and mutation (preference has its own tests).
crossover_strategies = pytest.mark.parametrize("strategy", ("classic", "elitist"))


@st.composite
def steps(draw, min_votes: int = 0):
    population = draw(st.integers(2, 10))
    foreign = draw(st.integers(0, population - 1))
    fitness = draw(st.lists(st.integers(0, 6), min_size=population, max_size=population))
    if min_votes and sum(fitness) == 0:
        fitness[draw(st.integers(0, population - 1))] = 1
    sigma = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    latents = np.random.default_rng(seed).standard_normal((population, LATENT)).astype(np.float32)
    return latents, np.array(fitness), foreign, sigma, seed


def ids(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def run(latents, fitness, foreign, sigma, seed, strategy="classic"):
    return ga.evolve(
        latents, fitness, ids(len(latents)), sigma=sigma, foreign=foreign, rng=np.random.default_rng(seed),
        strategy=strategy,
    )


@every_strategy
@given(steps())
def test_population_shape_and_dtype_stay_constant(strategy, step):
    latents, fitness, foreign, sigma, seed = step
    out = run(latents, fitness, foreign, sigma, seed, strategy)
    assert out.latents.shape == latents.shape
    assert out.latents.dtype == np.float32
    assert len(out.origins) == len(latents)
    assert np.isfinite(out.latents).all()


@every_strategy
@given(steps())
def test_inputs_are_never_mutated(strategy, step):
    latents, fitness, foreign, sigma, seed = step
    latents_before, fitness_before = latents.copy(), fitness.copy()
    run(latents, fitness, foreign, sigma, seed, strategy)
    assert np.array_equal(latents, latents_before)
    assert np.array_equal(fitness, fitness_before)


@every_strategy
@given(steps())
def test_same_seed_gives_same_generation(strategy, step):
    a = run(*step, strategy)
    b = run(*step, strategy)
    assert np.array_equal(a.latents, b.latents)
    assert a.origins == b.origins


@every_strategy
@given(steps(min_votes=1))
def test_unmutated_crossover_components_each_come_from_a_parent(strategy, step):
    latents, fitness, foreign, sigma, seed = step
    out = run(latents, fitness, foreign, sigma, seed, strategy)
    by_id = dict(zip(ids(len(latents)), latents, strict=True))
    for row, origin in zip(out.latents, out.origins, strict=True):
        if origin.operator != ga.CROSSOVER or origin.mutated:
            continue
        parents = [by_id[p] for p in origin.parents]
        assert all(any(row[i] == p[i] for p in parents) for i in range(LATENT))


@every_strategy
@given(steps(min_votes=1))
def test_sigma_zero_adds_no_noise(strategy, step):
    latents, fitness, foreign, _, seed = step
    out = run(latents, fitness, foreign, 0.0, seed, strategy)
    by_id = dict(zip(ids(len(latents)), latents, strict=True))
    for row, origin in zip(out.latents, out.origins, strict=True):
        assert not origin.mutated
        if origin.operator == ga.KEPT:
            assert np.array_equal(row, by_id[origin.parents[0]])
        elif origin.operator == ga.CROSSOVER:
            parents = np.stack([by_id[p] for p in origin.parents])
            assert all(row[i] in parents[:, i] for i in range(LATENT))


@crossover_strategies
@given(steps(min_votes=1))
def test_lineage_counts_match_the_algorithm(strategy, step):
    latents, fitness, foreign, sigma, seed = step
    out = run(latents, fitness, foreign, sigma, seed, strategy)
    operators = [o.operator for o in out.origins]
    voted = int((fitness > 0).sum())
    kept = min(voted, len(latents) - foreign)
    assert operators.count(ga.KEPT) == kept
    assert operators.count(ga.FOREIGN) == foreign
    assert operators.count(ga.CROSSOVER) == len(latents) - kept - foreign
    for origin in out.origins:
        if origin.operator == ga.KEPT:
            assert fitness[int(origin.parents[0][1:])] > 0
        if origin.operator == ga.CROSSOVER:
            assert all(fitness[int(p[1:])] > 0 for p in origin.parents)
        if origin.operator == ga.FOREIGN:
            assert origin.parents == ()
    if strategy == "elitist":
        favourite = f"c{int(np.argmax(fitness))}"
        [elite] = [o for o in out.origins if o.parents == (favourite,) and o.operator == ga.KEPT]
        assert elite.operators == (ga.KEPT,)


@given(steps(min_votes=1))
def test_elitist_keeps_the_most_voted_vector_bit_for_bit(step):
    latents, fitness, foreign, sigma, seed = step
    out = run(latents, fitness, foreign, sigma, seed, "elitist")
    favourite = int(np.argmax(fitness))
    rows = [i for i, o in enumerate(out.origins) if o.operators == (ga.KEPT,) and o.parents == (f"c{favourite}",)]
    assert len(rows) == 1
    assert out.latents[rows[0]].tobytes() == latents[favourite].tobytes()


def test_elitist_breaks_ties_for_the_favourite_by_the_lower_index():
    latents = np.random.default_rng(0).standard_normal((6, LATENT)).astype(np.float32)
    fitness = np.array([0, 3, 1, 3, 0, 0])
    outs = [run(latents, fitness, 1, 1.0, seed, "elitist") for seed in range(20)]
    assert all(out.origins[0].operators == (ga.KEPT,) and out.origins[0].parents == ("c1",) for out in outs)
    assert np.array_equal(outs[0].latents[0], latents[1])
    # The other candidate with 3 votes is an ordinary kept one: it mutates, half the time.
    assert any(out.origins[2].parents == ("c3",) and out.origins[2].mutated for out in outs)


def test_elitist_differs_from_classic_only_in_sparing_the_favourite():
    latents = np.random.default_rng(1).standard_normal((8, LATENT)).astype(np.float32)
    fitness = np.array([1, 0, 4, 0, 2, 0, 0, 0])
    classic = [run(latents, fitness, 1, 0.5, seed) for seed in range(40)]
    elitist = [run(latents, fitness, 1, 0.5, seed, "elitist") for seed in range(40)]
    assert any(out.origins[1].mutated for out in classic)  # classic's favourite (c2) mutates at times
    assert not any(out.origins[1].mutated for out in elitist)
    for a, b in zip(classic, elitist, strict=True):
        assert [o.operator for o in a.origins] == [o.operator for o in b.origins]


def test_the_domain_knows_the_same_strategies_as_the_ga():
    assert strategies.STRATEGIES == ga.STRATEGIES == tuple(ga.BY_NAME)
    assert all(name == strategy.name for name, strategy in ga.BY_NAME.items())
    assert strategies.DEFAULT_STRATEGY == ga.DEFAULT_STRATEGY == "preference"
    assert ga.STRATEGIES[0] == "classic"
    assert ga.DEFAULT_STRATEGY in ga.STRATEGIES


@every_strategy
def test_no_votes_rerolls_a_fresh_random_generation(strategy):
    latents = np.ones((8, LATENT), np.float32)
    out = run(latents, np.zeros(8, int), 1, 0.5, 3, strategy)
    assert out.rerolled
    assert all(o.operators == (ga.FOREIGN,) for o in out.origins)
    assert not np.isclose(out.latents, 1.0).any()


def test_one_selected_candidate_is_kept_and_its_copies_all_mutate():
    latents = np.random.default_rng(0).standard_normal((8, LATENT)).astype(np.float32)
    fitness = np.array([0, 0, 3, 0, 0, 0, 0, 0])
    out = run(latents, fitness, 1, 0.5, 1)
    kept = out.origins[0]
    assert kept.operator == ga.KEPT and kept.parents == ("c2",)
    # The kept vector is its parent's exactly unless the origin says it mutated.
    assert np.array_equal(out.latents[0], latents[2]) is not kept.mutated
    children = [o for o in out.origins if o.operator == ga.CROSSOVER]
    assert len(children) == 6
    assert all(o.parents == ("c2",) and o.mutated for o in children)
    assert len({row.tobytes() for row in out.latents}) == 8


def test_a_kept_candidate_mutates_about_half_the_time():
    latents = np.random.default_rng(0).standard_normal((8, LATENT)).astype(np.float32)
    fitness = np.array([0, 0, 3, 0, 0, 0, 0, 0])
    kept = [run(latents, fitness, 1, 0.5, seed).origins[0] for seed in range(400)]
    mutated = sum(origin.mutated for origin in kept)
    # Binomial(400, 0.5): 200 +- 10; 160..240 is four standard deviations either side.
    assert all(origin.operator == ga.KEPT for origin in kept) and 160 <= mutated <= 240


def test_everyone_selected_keeps_the_most_voted_and_makes_room_for_foreign():
    latents = np.random.default_rng(0).standard_normal((4, LATENT)).astype(np.float32)
    fitness = np.array([2, 1, 5, 3])
    out = run(latents, fitness, 1, 0.0, 2)
    kept = [o.parents[0] for o in out.origins if o.operator == ga.KEPT]
    assert kept == ["c0", "c2", "c3"]
    assert [o.operator for o in out.origins].count(ga.FOREIGN) == 1


def test_votes_weight_the_choice_of_parents():
    latents = np.random.default_rng(0).standard_normal((10, LATENT)).astype(np.float32)
    fitness = np.array([20, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    rng = np.random.default_rng(5)
    pairs = []
    for _ in range(50):
        out = ga.evolve(latents, fitness, ids(10), sigma=0.2, foreign=0, rng=rng, strategy="classic")
        pairs += [o.parents for o in out.origins if o.operator == ga.CROSSOVER]
    # Uniform choice would put the most-voted candidate in 2/3 of the pairs.
    assert sum("c0" in pair for pair in pairs) / len(pairs) > 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"foreign": 8}, "foreign count"),
        ({"foreign": 9}, "foreign count"),
        ({"foreign": -1}, "foreign count"),
        ({"sigma": 1.5}, "sigma"),
        ({"sigma": -0.1}, "sigma"),
        ({"fitness": np.array([1, 2])}, "one value per candidate"),
        ({"fitness": np.array([-1] + [0] * 7)}, "non-negative"),
        ({"fitness": np.array([0.5] * 8)}, "integer"),
        ({"strategy": "nope"}, "unknown strategy"),
    ],
)
def test_invalid_steps_are_refused_with_a_clear_error(kwargs, message):
    arguments = {
        "fitness": np.ones(8, int),
        "sigma": 0.5,
        "foreign": 1,
        "rng": np.random.default_rng(0),
    } | kwargs
    fitness = arguments.pop("fitness")
    with pytest.raises(ValueError, match=message):
        ga.evolve(np.zeros((8, LATENT), np.float32), fitness, ids(8), **arguments)


@settings(max_examples=20)
@given(st.integers(1, 10), st.integers(1, 64), st.integers(0, 1000))
def test_random_population_follows_the_prior_shape(size, latent, seed):
    out = ga.random_population(size, latent, np.random.default_rng(seed))
    assert out.shape == (size, latent) and out.dtype == np.float32
