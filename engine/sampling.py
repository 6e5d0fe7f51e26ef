"""What both implementations of the model share (engine.musicvae in numpy, engine.decoder in TensorFlow):
their interface, latent paths and sampling noise."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from domain.model import Note
from engine import melody


class LatentModel(Protocol):
    """A MusicVAE melody model: latents to melodies and back."""

    config_name: str
    checkpoint: Path | None
    latent_size: int
    steps: int

    def decode_tokens(self, latents: NDArray[np.floating], temperature: float = 0.0) -> NDArray[np.int64]: ...

    def decode(self, latents: NDArray[np.floating], temperature: float = 0.0) -> list[list[Note]]: ...

    def encode_tokens(self, tokens: NDArray[np.integer]) -> NDArray[np.float32]: ...

    def encode(self, melodies: Sequence[Sequence[Note]]) -> NDArray[np.float32]: ...

    def encode_midi(self, data: bytes) -> NDArray[np.float32]: ...

    def interpolate(self, a: NDArray[np.floating], b: NDArray[np.floating], steps: int) -> NDArray[np.float32]: ...

    def close(self) -> None: ...


def slerp(a: NDArray[np.floating], b: NDArray[np.floating], steps: int) -> NDArray[np.float32]:
    """`steps` latents from `a` to `b` (both included) along the great circle, as Magenta interpolates."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, not {steps}")
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    norms = np.linalg.norm(a64) * np.linalg.norm(b64)
    cosine = np.clip(np.dot(a64, b64) / norms, -1.0, 1.0) if norms > 0 else 1.0
    omega = np.arccos(cosine)
    if np.sin(omega) < 1e-6:  # (anti)parallel: the circle is undefined, a straight line is the limit
        path = (1 - t) * a64 + t * b64
    else:
        path = (np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)
    return path.astype(np.float32)


def gumbel_noise(latent: NDArray[np.float32], steps: int) -> NDArray[np.float32]:
    """The sampling noise of one candidate: fixed by the latent's bytes, so sampling is repeatable."""
    digest = hashlib.sha256(np.ascontiguousarray(latent, dtype=np.float32).tobytes()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "little"))
    uniform = rng.uniform(np.finfo(np.float32).tiny, 1.0, size=(steps, melody.TOKEN_COUNT))
    return (-np.log(-np.log(uniform))).astype(np.float32)
