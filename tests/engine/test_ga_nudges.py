"""Nudges in the genetic algorithm: every strategy moves NUDGED_SHARE of its new candidates by the shift."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import ga
from engine.preference import Subspace

LATENT = 16


def step(strategy: str, seed: int, nudge=None, subspace=None, sigma: float = 0.5, foreign: int = 1):
    rng = np.random.default_rng(seed)
    latents = rng.standard_normal((6, LATENT)).astype(np.float32)
    fitness = np.array([3, 0, 1, 2, 0, 1])
    return ga.evolve(latents, fitness, [f"c{i}" for i in range(6)], sigma=sigma, foreign=foreign,
                     rng=np.random.default_rng(seed + 1), strategy=strategy, subspace=subspace, nudge=nudge)


def shift_of(seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 7).standard_normal(LATENT)


@pytest.mark.parametrize("strategy", ("classic", "elitist"))
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_classic_and_elitist_move_a_share_of_the_bred_children_by_the_shift(strategy, seed):
    shift = shift_of(seed)
    plain, nudged = step(strategy, seed), step(strategy, seed, shift)
    elite = "c0"  # the most-voted candidate
    movable = [row for row, origin in enumerate(plain.origins) if not (
        origin.operator == ga.FOREIGN
        or (strategy == "elitist" and origin.operators == (ga.KEPT,) and origin.parents == (elite,)))]
    moved = ga.nudged_share(movable)
    assert len(moved) == int(len(movable) * ga.NUDGED_SHARE)
    for row, (before, after) in enumerate(zip(plain.origins, nudged.origins, strict=True)):
        if row not in moved:
            assert after == before
            assert np.array_equal(nudged.latents[row], plain.latents[row])
        else:
            assert after.operators == before.operators + (ga.NUDGED,)
            np.testing.assert_allclose(nudged.latents[row], plain.latents[row] + shift, atol=1e-5)


def test_preference_moves_a_share_of_its_new_candidates_by_the_whole_shift_and_keeps_the_favourite():
    shift = shift_of(3)
    plain, nudged = step("preference", 3), step("preference", 3, shift)
    assert np.array_equal(nudged.latents[0], plain.latents[0])
    assert nudged.origins[0].operators == (ga.KEPT,)
    bred = [i for i, origin in enumerate(plain.origins) if origin.operator == ga.PREFERENCE]
    moved = ga.nudged_share(bred)
    assert bred and moved and len(moved) < len(bred)
    for row in bred:
        if row in moved:
            np.testing.assert_allclose(nudged.latents[row], plain.latents[row] + shift, atol=1e-4)
            assert ga.NUDGED in nudged.origins[row].operators
        else:
            np.testing.assert_allclose(nudged.latents[row], plain.latents[row], atol=1e-5)
            assert ga.NUDGED not in nudged.origins[row].operators


def test_preference_in_a_subspace_moves_candidates_by_the_part_of_the_shift_it_holds():
    basis, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((LATENT, 4)))
    subspace = Subspace(np.zeros(LATENT), basis, np.array([2.0, 1.5, 1.0, 0.5]))
    shift = shift_of(5)
    plain = step("preference", 5, subspace=subspace)
    nudged = step("preference", 5, shift, subspace=subspace)
    held = basis @ (basis.T @ shift)
    for row in ga.nudged_share(range(1, 5)):
        np.testing.assert_allclose(nudged.latents[row], plain.latents[row] + held, atol=1e-4)


@pytest.mark.parametrize("strategy", ga.STRATEGIES)
def test_a_zero_nudge_changes_nothing(strategy):
    plain, zero = step(strategy, 11), step(strategy, 11, np.zeros(LATENT))
    assert np.array_equal(plain.latents, zero.latents)
    assert plain.origins == zero.origins


@pytest.mark.parametrize("nudge", [np.ones(LATENT + 1), np.full(LATENT, np.nan), np.ones((2, LATENT))])
def test_a_nudge_of_the_wrong_shape_or_not_finite_is_refused(nudge):
    with pytest.raises(ValueError, match="nudge must be a finite latent shift"):
        step("classic", 0, nudge)


@pytest.mark.parametrize(("count", "share", "moved"), [(6, 0.5, [1, 3, 5]), (3, 1.0, [0, 1, 2]), (6, 1 / 3, [2, 5])])
def test_the_nudged_share_is_spread_evenly(monkeypatch, count, share, moved):
    monkeypatch.setattr(ga, "NUDGED_SHARE", share)
    assert ga.nudged_share(range(count)) == moved


def test_nudging_never_mutates_the_shift_passed_in():
    shift = shift_of(2)
    before = shift.copy()
    for strategy in ga.STRATEGIES:
        step(strategy, 2, shift)
    assert np.array_equal(shift, before)
