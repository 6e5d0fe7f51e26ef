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
        return int(self.basis.shape[0])

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
    the `beta` and `gamma` it was fitted with, and their (Laplace) log evidence.
    """

    mode: NDArray[np.float64]
    covariance: NDArray[np.float64]
    beta: float
    evidence: float
    gamma: float = 1.0

    @property
    def optimum(self) -> NDArray[np.float64]:
        """Where the group's utility peaks, by the posterior mode."""
        return self.mode / self.gamma


@dataclass(frozen=True)
class _Votes:
    """Every voted gallery laid end to end: points (n, k), their squared norms, votes (n,), the
    first row of each gallery, each row's gallery and each gallery's number of votes."""

    points: NDArray[np.float64]
    squares: NDArray[np.float64]
    votes: NDArray[np.float64]
    starts: NDArray[np.intp]
    gallery: NDArray[np.intp]
    totals: NDArray[np.float64]


def fit(galleries: Sequence[tuple[NDArray[np.float64], NDArray[np.int64]]], size: int,
        beta: float | None = None) -> Belief:
    """The posterior after `galleries`: (coordinates (n, k), votes (n,)) pairs, one per generation.

    beta None: each pair of BETAS and GAMMAS is tried and the one the votes make most likely
    (highest evidence) is kept, so a group that agrees on clear favourites gets a surer,
    narrower model than a group whose votes scatter, and a taste is told from a tune.
    All pairs are fitted at once, by Newton's method on a stack of modes, each pair stopping
    when its step is small, exactly as if each were fitted on its own.
    """
    pairs = [(beta, 1.0)] if beta is not None else [(b, g) for b in BETAS for g in GAMMAS]
    betas = np.array([b for b, _ in pairs])
    gammas = np.array([g for _, g in pairs])
    votes = _stack(galleries, size)
    modes = np.zeros((len(pairs), size))
    active = np.arange(len(pairs))
    for _ in range(NEWTON_STEPS):
        _, gradient, precision = _terms(votes, modes[active], betas[active], gammas[active])
        step = np.linalg.solve(precision, gradient[..., None])[..., 0]
        modes[active] += step
        # Each pair stops once its step is small, as when each was fitted on its own.
        active = active[np.abs(step).max(axis=1) >= 1e-6]
        if not len(active):
            break
    log_likelihood, _, precision = _terms(votes, modes, betas, gammas)
    _, log_det = np.linalg.slogdet(precision)
    evidence = log_likelihood - 0.5 * (modes**2).sum(axis=1) - 0.5 * log_det
    # argmax takes the first of equal maxima: the order of BETAS, then GAMMAS, breaks ties.
    best = int(np.argmax(evidence))
    return Belief(modes[best].copy(), np.linalg.inv(precision[best]), float(betas[best]), float(evidence[best]),
                  float(gammas[best]))


def _stack(galleries: Sequence[tuple[NDArray[np.float64], NDArray[np.int64]]], size: int) -> _Votes:
    """The galleries that got votes, laid end to end."""
    voted = [(np.asarray(points, np.float64), np.asarray(votes, np.float64))
             for points, votes in galleries if np.sum(votes) > 0]
    if not voted:
        return _Votes(np.empty((0, size)), np.empty(0), np.empty(0), np.empty(0, np.intp), np.empty(0, np.intp),
                      np.empty(0))
    points = np.concatenate([p for p, _ in voted])
    lengths = [len(v) for _, v in voted]
    return _Votes(
        points=points,
        squares=(points**2).sum(axis=1),
        votes=np.concatenate([v for _, v in voted]),
        starts=np.cumsum([0, *lengths[:-1]]).astype(np.intp),
        gallery=np.repeat(np.arange(len(voted)), lengths).astype(np.intp),
        totals=np.array([v.sum() for _, v in voted]),
    )


def _terms(votes: _Votes, modes: NDArray[np.float64], betas: NDArray[np.float64], gammas: NDArray[np.float64]
           ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """For each (beta, gamma) pair and its mode (pairs, k): the votes' log-likelihood (pairs,), the
    log-posterior's gradient (pairs, k) and its negative Hessian (pairs, k, k)."""
    pairs, size = modes.shape
    precision = np.broadcast_to(np.eye(size), (pairs, size, size)).copy()
    if not len(votes.votes):
        return np.zeros(pairs), -modes, precision
    points, starts, gallery = votes.points, votes.starts, votes.gallery
    utility = betas[:, None] * (modes @ points.T - 0.5 * gammas[:, None] * votes.squares)
    # A softmax within each gallery (its rows are contiguous: reduceat sums each one).
    shifted = utility - np.maximum.reduceat(utility, starts, axis=1)[:, gallery]
    chance = np.exp(shifted)
    sums = np.add.reduceat(chance, starts, axis=1)
    log_chance = shifted - np.log(sums)[:, gallery]
    chance /= sums[:, gallery]
    log_likelihood = log_chance @ votes.votes
    expected = chance * votes.totals[gallery]  # votes each candidate would get, by the model
    gradient = -modes + betas[:, None] * ((votes.votes - expected) @ points)
    # Each gallery's covariance of its points under `chance`, times its votes, summed over galleries.
    centres = np.add.reduceat(chance[:, :, None] * points, starts, axis=1)  # (pairs, galleries, k)
    centred = points - centres[:, gallery]
    precision += (betas**2)[:, None, None] * ((centred * expected[:, :, None]).transpose(0, 2, 1) @ centred)
    return log_likelihood, gradient, precision


def noise(belief: Belief, count: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """`count` draws (count, k) from N(0, covariance): how unsure the model is, direction by direction."""
    size = belief.mode.shape[0]
    factor = np.linalg.cholesky(belief.covariance + 1e-12 * np.eye(size))
    return rng.standard_normal((count, size)) @ factor.T
