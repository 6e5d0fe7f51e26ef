"""The melody subspace of the shipped model: the few latent directions that carry the melody.

MusicVAE's decoder listens to only a few dozen of its 256 latent dimensions (moving along the
others changes nothing audible). Where it listens is found once, offline: draw latents from
the prior, decode them, encode the melodies again (posterior means) and keep the principal
components of those re-encoded latents, with the spread of each. The result is shipped beside
the model as `subspace.npz` (mean, basis, scales) and passed to `engine.ga.evolve(...,
subspace=...)` by the caller; the GA itself reads no file.

    python -m training.subspace          # rewrite engine/model/cat-mel_2bar_small/subspace.npz
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.preference import Subspace

if TYPE_CHECKING:
    from engine.sampling import LatentModel

SHIPPED_SUBSPACE = Path(__file__).resolve().parent / "model" / "cat-mel_2bar_small" / "subspace.npz"
DIMENSIONS = 48  # hold 99.5 % of the variance of re-encoded prior samples
SAMPLES = 4096


def compute(model: LatentModel, dimensions: int = DIMENSIONS, samples: int = SAMPLES, seed: int = 0) -> Subspace:
    """The principal `dimensions` of re-encoded prior samples of `model`."""
    latents = np.random.default_rng(seed).standard_normal((samples, model.latent_size)).astype(np.float32)
    means = model.encode_tokens(model.decode_tokens(latents)).astype(np.float64)
    centre = means.mean(axis=0)
    _, singular, directions = np.linalg.svd(means - centre, full_matrices=False)
    scales = singular[:dimensions] / np.sqrt(samples - 1)
    return Subspace(centre, directions[:dimensions].T.copy(), scales)


def save(subspace: Subspace, path: Path = SHIPPED_SUBSPACE) -> Path:
    np.savez(path, mean=subspace.mean, basis=subspace.basis, scales=subspace.scales)
    return path


def load(path: Path = SHIPPED_SUBSPACE) -> Subspace:
    """The subspace stored at `path` (default: the shipped model's)."""
    with np.load(path) as stored:
        return Subspace(stored["mean"], stored["basis"], stored["scales"])
