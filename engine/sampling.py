"""What both implementations of the model share (engine.musicvae in numpy, training.decoder in TensorFlow):
their interface, latent paths and sampling noise."""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from domain.model import Note
from engine import melody


class LatentModel(abc.ABC):
    """A MusicVAE melody model: latents to melodies and back. Subclasses compute the token rows."""

    config_name: str
    checkpoint: Path | None
    latent_size: int
    steps: int

    @abc.abstractmethod
    def decode_tokens(self, latents: NDArray[np.floating], temperature: float = 0.0) -> NDArray[np.int64]:
        """Token rows (n, steps) of the melodies of `latents` (n, latent_size)."""

    @abc.abstractmethod
    def encode_tokens(self, tokens: NDArray[np.integer]) -> NDArray[np.float32]:
        """The posterior means (n, latent_size) of token rows (n, steps): deterministic, no sampling."""

    def close(self) -> None:  # noqa: B027 (a model with nothing to release need not override it)
        """Release what the model holds (nothing by default)."""

    def decode(self, latents: NDArray[np.floating], temperature: float = 0.0) -> list[list[Note]]:
        """The melody (notes in steps, within `steps`) of each latent; see training.decoder on temperature."""
        return [melody.tokens_to_notes(row) for row in self.decode_tokens(latents, temperature)]

    def encode(self, melodies: Sequence[Sequence[Note]]) -> NDArray[np.float32]:
        """The latents (n, latent_size) of 2-bar melodies: notes past `steps` are ignored."""
        return self.encode_tokens(
            np.stack([melody.notes_to_tokens(notes, self.steps) for notes in melodies])
            if melodies
            else np.empty((0, self.steps), np.int64)
        )

    def encode_midi(self, data: bytes) -> NDArray[np.float32]:
        """The latent (1, latent_size) of the first 2 bars of a MIDI file's melody; MelodyError if it has none."""
        from engine.midi import midi_to_notes

        notes = melody.first_bars(midi_to_notes(data), self.steps // melody.STEPS_PER_BAR)
        if not notes:
            raise melody.MelodyError("the MIDI file has no melody to start from (no notes outside drum tracks)")
        return self.encode([notes])

    def interpolate(self, a: NDArray[np.floating], b: NDArray[np.floating], steps: int) -> NDArray[np.float32]:
        """`steps` latents from `a` to `b` by spherical interpolation (both ends included)."""
        return slerp(a, b, steps)

    def _latent_rows(self, latents: NDArray[np.floating]) -> NDArray[np.float32]:
        rows = np.asarray(latents, dtype=np.float32)
        if rows.ndim == 1:
            rows = rows[None]
        if rows.ndim != 2 or rows.shape[1] != self.latent_size:
            raise ValueError(f"latents must have shape (n, {self.latent_size}), not {np.shape(latents)}")
        if not np.all(np.isfinite(rows)):
            raise ValueError("latents must be finite")
        return rows

    def _token_rows(self, tokens: NDArray[np.integer]) -> NDArray[np.integer]:
        tokens = np.asarray(tokens)
        if tokens.ndim != 2 or tokens.shape[1] != self.steps:
            raise ValueError(f"token rows must have shape (n, {self.steps}), not {tokens.shape}")
        return tokens


def pad(rows: NDArray[Any], size: int) -> NDArray[Any]:
    """`rows` filled up with zero rows to `size`: a block of fixed shape, so that a row's result does not
    depend on what shares its call (a graph's fixed batch; BLAS, which sums differently by shape)."""
    if len(rows) == size:
        return rows
    return np.concatenate([rows, np.zeros((size - len(rows), *rows.shape[1:]), dtype=rows.dtype)])


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
