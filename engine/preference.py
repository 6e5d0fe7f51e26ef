"""A model of what a group wants, learned from every vote of a breed: the `preference` strategy's core.

Pure numpy. Candidates are points c of a `Subspace` (the directions that carry the melody, each
scaled to unit spread; without one, the latent space itself). A candidate is worth
u(c) = t . c - gamma |c|^2 / 2 to the group: for gamma 1 that is -|c - t|^2 / 2 up to a term
that is the same for every candidate (a tune in mind at t: closer is better); for a small gamma
it is nearly linear (a taste: the further towards t the better). Either way the best point, the
`optimum`, is t / gamma. Each vote is a choice from its generation's gallery, made with
probability softmax(beta * u) over the gallery (a multinomial logit, as in "pick the best of a
gallery" preference learning); the prior is t ~ N(0, I), where melodies are. The posterior over
t after every generation's votes is approximated by a Gaussian at its mode (Laplace's method;
the log-likelihood is concave in t, so a few Newton steps find it). beta (how sure the votes
are) and gamma (tune or taste) are the pair the votes make most likely (Laplace evidence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

BETAS = (0.02, 0.05, 0.1, 0.2, 0.5)  # how sure a vote is: the candidates `fit` chooses from
# How strongly the group prefers the middle of melody space: 1, a tune at t (the optimum t / gamma
# is t); small, a taste (the further towards t the better). Adding 0.3 and 0.1 to 1 raised the
# taste panel by about 0.6 sd in `breeder bench converge` and left the tune panels as they were.
GAMMAS = (1.0, 0.3, 0.1)
NEWTON_STEPS = 12


@dataclass(frozen=True)
class Subspace:
    """Where melodies live in the latent space: mean (z,), an orthonormal basis (z, k), spreads (k,)."""

    mean: NDArray[np.float64]
    basis: NDArray[np.float64]
    scales: NDArray[np.float64]

    def __post_init__(self) -> None:
        z, k = self.basis.shape
        if self.mean.shape != (z,) or self.scales.shape != (k,) or not (self.scales > 0).all():
            raise ValueError(f"a subspace needs mean (z,), basis (z, k) and positive scales (k,); "
                             f"got {self.mean.shape}, {self.basis.shape}, {self.scales.shape}")

    @property
    def latent_size(self) -> int:
        return self.basis.shape[0]

    def coordinates(self, latents: NDArray[np.floating]) -> NDArray[np.float64]:
        """The standardised coordinates (n, k) of latents (n, z)."""
        return ((np.asarray(latents, np.float64) - self.mean) @ self.basis) / self.scales

    def latents(self, coordinates: NDArray[np.float64]) -> NDArray[np.float64]:
        """The latents (n, z) at standardised coordinates (n, k); outside the subspace, at the mean.

        Encoded melodies sit near the mean outside the subspace; candidates put there came
        slightly closer to the voters' tunes in `breeder bench converge` than candidates that
        keep the favourite's values there.
        """
        return self.mean + (np.asarray(coordinates, np.float64) * self.scales) @ self.basis.T


@dataclass(frozen=True)
class Belief:
    """The Gaussian posterior over what the group wants: mode (k,) and covariance (k, k) of t,
    the `beta` and `gamma` it was fitted with, and their (Laplace) log evidence."""

    mode: NDArray[np.float64]
    covariance: NDArray[np.float64]
    beta: float
    evidence: float
    gamma: float = 1.0

    @property
    def optimum(self) -> NDArray[np.float64]:
        """Where the group's utility peaks, by the posterior mode."""
        return self.mode / self.gamma


def fit(galleries: Sequence[tuple[NDArray[np.float64], NDArray[np.int64]]], size: int,
        beta: float | None = None) -> Belief:
    """The posterior after `galleries`: (coordinates (n, k), votes (n,)) pairs, one per generation.

    beta None: each pair of BETAS and GAMMAS is tried and the one the votes make most likely
    (highest evidence) is kept, so a group that agrees on clear favourites gets a surer,
    narrower model than a group whose votes scatter, and a taste is told from a tune.
    """
    if beta is not None:
        return _fit(galleries, size, beta, 1.0)
    return max((_fit(galleries, size, candidate, gamma) for candidate in BETAS for gamma in GAMMAS),
               key=lambda belief: belief.evidence)


def _fit(galleries: Sequence[tuple[NDArray[np.float64], NDArray[np.int64]]], size: int, beta: float,
         gamma: float) -> Belief:
    mode = np.zeros(size)
    for _ in range(NEWTON_STEPS):
        log_likelihood, gradient, precision = _terms(galleries, mode, beta, gamma)
        step = np.linalg.solve(precision, gradient)
        mode = mode + step
        if np.abs(step).max() < 1e-6:
            break
    log_likelihood, _, precision = _terms(galleries, mode, beta, gamma)
    _, log_det = np.linalg.slogdet(precision)
    evidence = log_likelihood - 0.5 * float(mode @ mode) - 0.5 * log_det
    return Belief(mode, np.linalg.inv(precision), beta, evidence, gamma)


def _terms(galleries: Sequence[tuple[NDArray[np.float64], NDArray[np.int64]]], mode: NDArray[np.float64],
           beta: float, gamma: float) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """The votes' log-likelihood at `mode`, the log-posterior's gradient and its negative Hessian."""
    size = mode.shape[0]
    log_likelihood = 0.0
    gradient = -mode
    precision = np.eye(size)
    for points, votes in galleries:
        total = votes.sum()
        if total == 0:
            continue
        utility = beta * (points @ mode - 0.5 * gamma * (points**2).sum(axis=1))
        shifted = utility - utility.max()
        chance = np.exp(shifted)
        log_chance = shifted - np.log(chance.sum())
        chance /= chance.sum()
        log_likelihood += float(votes @ log_chance)
        gradient = gradient + beta * points.T @ (votes - total * chance)
        centred = points - chance @ points
        precision = precision + beta**2 * total * (centred.T * chance) @ centred
    return log_likelihood, gradient, precision


def noise(belief: Belief, count: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """`count` draws (count, k) from N(0, covariance): how unsure the model is, direction by direction."""
    size = belief.mode.shape[0]
    factor = np.linalg.cholesky(belief.covariance + 1e-12 * np.eye(size))
    return rng.standard_normal((count, size)) @ factor.T
