"""MusicVAE's melody encoder and decoder computed in numpy from the model's checkpoint: what a worker runs.

The same network as Magenta's `cat-mel_2bar` models (`training.decoder` builds it with TensorFlow,
for training and export): a bidirectional LSTM encoder whose final states give the posterior mean,
and an LSTM decoder whose initial states come from the latent (`z_to_initial_state`, tanh) and whose
input at each step is the previous token (one-hot) beside the latent. The cells are TensorFlow's
`LSTMBlockCell` (gates i, c, f, o; forget bias 1). Sampling is that of `training.decoder`: argmax of
logits + temperature x Gumbel noise fixed by the latent's bytes, so a latent gives the same melody
here as there (tests/engine/test_musicvae.py compares them token for token).

Loading reads the checkpoint's tensors (`engine.checkpoint`), without importing TensorFlow: a worker
is ready in about a second instead of seven.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from engine import melody
from engine.checkpoint import CHECKPOINT_HINT, CheckpointError, read, resolve_checkpoint
from engine.errors import ModelError
from engine.sampling import LatentModel, gumbel_noise, pad

log = logging.getLogger(__name__)

FORGET_BIAS = 1.0
# Rows are computed in blocks of this many, zero-padded: every product then has the same shape, so a
# latent gives bit for bit the same result whatever else shares its call (BLAS sums differently by shape).
BLOCK = 8
DECODER_CELL = re.compile(r"decoder/multi_rnn_cell/cell_(\d+)/lstm_cell/kernel")
ENCODER = "encoder/cell_0/bidirectional_rnn/{}/multi_rnn_cell/cell_0/lstm_cell/{}"


def _sigmoid(x: NDArray[np.floating]) -> NDArray[np.float32]:
    result: NDArray[np.float32] = 0.5 * (np.tanh(0.5 * x) + 1.0)
    return result


class _Cell:
    """One LSTMBlockCell: the kernel over [input, h] and the bias, gates in the order i, c, f, o."""

    def __init__(self, kernel: NDArray[np.float32], bias: NDArray[np.float32]) -> None:
        self.kernel, self.bias = kernel, bias
        self.size = bias.shape[0] // 4
        self.input_size = kernel.shape[0] - self.size

    def step(self, gates_in: NDArray[np.float32], c: NDArray[np.float32], h: NDArray[np.float32],
             ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """The next (c, h); `gates_in` is the input's share of the gates (input @ kernel[:input] + bias)."""
        gates = gates_in + h @ self.kernel[self.input_size :]
        i, g, f, o = np.split(gates, 4, axis=-1)
        c = _sigmoid(f + FORGET_BIAS) * c + _sigmoid(i) * np.tanh(g)
        return c, _sigmoid(o) * np.tanh(c)


class MelodyVAE(LatentModel):
    """A MusicVAE melody model read from a checkpoint: the same results as `training.decoder.MelodyModel`."""

    def __init__(self, weights: dict[str, NDArray[np.generic]], config_name: str, checkpoint: Path) -> None:
        def tensor(name: str) -> NDArray[np.float32]:
            if name not in weights:
                raise ModelError(f"the checkpoint {checkpoint} has no {name}: it is not a MusicVAE melody model; "
                                 f"{CHECKPOINT_HINT}")
            return np.asarray(weights[name], np.float32)

        self.config_name = config_name
        self.checkpoint = checkpoint
        self.steps = 2 * melody.STEPS_PER_BAR
        layers = sorted(int(found.group(1)) for name in weights if (found := DECODER_CELL.fullmatch(name)))
        if not layers:
            raise ModelError(f"the checkpoint {checkpoint} has no decoder LSTM: it is not a MusicVAE melody model; "
                             f"{CHECKPOINT_HINT}")
        self.decoder = [_Cell(tensor(f"decoder/multi_rnn_cell/cell_{i}/lstm_cell/kernel"),
                              tensor(f"decoder/multi_rnn_cell/cell_{i}/lstm_cell/bias")) for i in layers]
        self.initial = (tensor("decoder/z_to_initial_state/kernel"), tensor("decoder/z_to_initial_state/bias"))
        self.output = (tensor("decoder/output_projection/kernel"), tensor("decoder/output_projection/bias"))
        self.latent_size = self.initial[0].shape[0]
        self.depth = self.output[1].shape[0]
        if self.depth != melody.TOKEN_COUNT or self.decoder[0].input_size != self.depth + self.latent_size:
            raise ModelError(f"the checkpoint {checkpoint} is not a melody model with {melody.TOKEN_COUNT} tokens "
                             f"(config {config_name!r}); set MUSICVAE_CONFIG to the config it was trained with")
        self.forward = _Cell(tensor(ENCODER.format("fw", "kernel")), tensor(ENCODER.format("fw", "bias")))
        self.backward = _Cell(tensor(ENCODER.format("bw", "kernel")), tensor(ENCODER.format("bw", "bias")))
        self.mu = (tensor("encoder/mu/kernel"), tensor("encoder/mu/bias"))

    @classmethod
    def load(cls, config_name: str, checkpoint: Path | str | None = None) -> MelodyVAE:
        """Read a checkpoint: a prefix or a folder; None: the shipped model. ModelError when it cannot be used."""
        if not config_name.startswith("cat-mel_2bar"):
            raise ModelError(f"MusicVAE config {config_name!r} is not a 2-bar melody model (cat-mel_2bar_*)")
        prefix = resolve_checkpoint(checkpoint)
        try:
            weights = read(prefix)
        except (CheckpointError, OSError) as error:
            raise ModelError(f"cannot read the MusicVAE checkpoint {prefix}: {error}") from None
        model = cls(weights, config_name, prefix)
        log.info("MusicVAE %s read from %s", config_name, prefix)
        return model

    # --- latents to melodies -------------------------------------------------------------------

    def decode_tokens(self, latents: NDArray[np.floating], temperature: float = 0.0) -> NDArray[np.int64]:
        """Token rows (n, steps) of the melodies of `latents` (n, latent_size)."""
        z = self._latent_rows(latents)
        if temperature < 0:
            raise ValueError(f"temperature must be 0 or more, not {temperature}")
        out = np.empty((len(z), self.steps), np.int64)
        for begin in range(0, len(z), BLOCK):
            rows = z[begin : begin + BLOCK]
            noise = pad(np.stack([gumbel_noise(row, self.steps) for row in rows]), BLOCK) if temperature > 0 else None
            out[begin : begin + len(rows)] = self._decode_block(pad(rows, BLOCK), temperature, noise)[: len(rows)]
        return out

    def _decode_block(self, z: NDArray[np.float32], temperature: float,
                      noise: NDArray[np.float32] | None) -> NDArray[np.int64]:
        n = len(z)
        state = np.tanh(z @ self.initial[0] + self.initial[1])
        sizes = [size for cell in self.decoder for size in (cell.size, cell.size)]
        parts = np.split(state, np.cumsum(sizes)[:-1], axis=1)
        cs, hs = parts[0::2], parts[1::2]
        first = self.decoder[0]
        # The latent's share of the first layer's gates is the same at every step.
        from_latent = z @ first.kernel[self.depth : first.input_size] + first.bias
        token_rows = first.kernel[: self.depth]
        out = np.empty((n, self.steps), np.int64)
        previous: NDArray[np.int64] | None = None
        for t in range(self.steps):
            gates_in = from_latent if previous is None else from_latent + token_rows[previous]
            for layer, cell in enumerate(self.decoder):
                if layer:
                    gates_in = hs[layer - 1] @ cell.kernel[: cell.input_size] + cell.bias
                cs[layer], hs[layer] = cell.step(gates_in, cs[layer], hs[layer])
            logits = hs[-1] @ self.output[0] + self.output[1]
            if noise is not None:
                logits = logits + np.float32(temperature) * noise[:, t]
            previous = np.argmax(logits, axis=-1)
            out[:, t] = previous
        return out

    # --- melodies to latents -------------------------------------------------------------------

    def encode_tokens(self, tokens: NDArray[np.integer]) -> NDArray[np.float32]:
        """The posterior means (n, latent_size) of token rows (n, steps): deterministic, no sampling."""
        tokens = self._token_rows(tokens)
        out = np.empty((len(tokens), self.latent_size), np.float32)
        for begin in range(0, len(tokens), BLOCK):
            rows = tokens[begin : begin + BLOCK]
            out[begin : begin + len(rows)] = self._encode_block(pad(rows, BLOCK))[: len(rows)]
        return out

    def _encode_block(self, tokens: NDArray[np.integer]) -> NDArray[np.float32]:
        n = len(tokens)
        finals = []
        for cell, order in ((self.forward, range(self.steps)), (self.backward, reversed(range(self.steps)))):
            c = h = np.zeros((n, cell.size), np.float32)
            for t in order:
                c, h = cell.step(cell.kernel[tokens[:, t]] + cell.bias, c, h)
            finals.append(h)
        return (np.concatenate(finals, axis=1) @ self.mu[0] + self.mu[1]).astype(np.float32)


def for_worker(config_name: str, checkpoint: Path | str | None = None) -> MelodyVAE:
    """The model as a worker runs it, with BLAS on one thread for the whole process: the model's
    matrices are small, and a worker's cores are busy rendering audio and running other jobs, where
    BLAS threads waiting for each other cost more than they save. ModelError when it cannot be loaded."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")
    return MelodyVAE.load(config_name, checkpoint)
