"""The vectorised preference fit against the fit before it was vectorised, on recorded breeds.

`recorded/preference_histories.npz` was written by the earlier implementation (one (beta, gamma)
pair at a time): three breeds of 11 generations in the shipped melody subspace (48 dimensions),
with voters who have a tune in mind (`tune`), voters with a taste (`taste`) and votes at random
(`scatter`). For every prefix of each history it holds the chosen beta and gamma, the evidence,
the mode and the posterior variances, and the full covariance after the last generation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import preference

RECORDED = Path(__file__).parent / "recorded" / "preference_histories.npz"
# Float64 sums taken in another order; the recorded values themselves differ from a re-run in the 15th digit.
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def recorded() -> dict[str, np.ndarray]:
    with np.load(RECORDED) as stored:
        return dict(stored)


@pytest.mark.parametrize("case", ["tune", "taste", "scatter"])
def test_fit_gives_the_recorded_belief_after_every_generation(recorded, case):
    coordinates, votes = recorded[f"{case}_coordinates"], recorded[f"{case}_votes"]
    size = coordinates.shape[2]
    for generations in range(1, len(votes) + 1):
        galleries = [(coordinates[g].astype(np.float64), votes[g]) for g in range(generations)]
        belief = preference.fit(galleries, size)
        at = generations - 1
        assert (belief.beta, belief.gamma) == (recorded[f"{case}_betas"][at], recorded[f"{case}_gammas"][at])
        assert belief.evidence == pytest.approx(recorded[f"{case}_evidence"][at], abs=TOLERANCE)
        np.testing.assert_allclose(belief.mode, recorded[f"{case}_modes"][at], atol=TOLERANCE)
        np.testing.assert_allclose(np.diag(belief.covariance), recorded[f"{case}_variances"][at], atol=TOLERANCE)
    np.testing.assert_allclose(belief.covariance, recorded[f"{case}_covariance"], atol=TOLERANCE)


def test_fit_with_a_given_beta_matches_the_search_at_that_beta(recorded):
    coordinates, votes = recorded["tune_coordinates"], recorded["tune_votes"]
    galleries = [(coordinates[g].astype(np.float64), votes[g]) for g in range(len(votes))]
    searched = preference.fit(galleries, coordinates.shape[2])
    fixed = preference.fit(galleries, coordinates.shape[2], beta=searched.beta)
    assert searched.gamma == 1.0 and fixed.beta == searched.beta
    np.testing.assert_allclose(fixed.mode, searched.mode, atol=TOLERANCE)


def test_galleries_without_votes_leave_the_prior():
    points = np.random.default_rng(0).standard_normal((8, 4))
    belief = preference.fit([(points, np.zeros(8, np.int64))], 4)
    np.testing.assert_array_equal(belief.mode, np.zeros(4))
    np.testing.assert_allclose(belief.covariance, np.eye(4))
