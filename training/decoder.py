"""MusicVAE (Magenta): latent vectors to 2-bar melodies and back.

The only module that imports TensorFlow and Magenta: Magenta's own graph of the model, for
training, export and the attribute vectors; loading builds a TF1 graph and restores a checkpoint
(seconds). A worker runs the same network in numpy (`engine.musicvae`), with the same results.

Decoding is deterministic per latent. The graph has a fixed batch size, so a call of any size
is padded and chunked; each row is computed on its own, so a latent gives the same melody
whatever else shares its call. At temperature 0 each step takes the most likely token (argmax).
At temperature t > 0 each step samples from softmax(logits / t) by the Gumbel-max trick, with
Gumbel noise drawn from a generator seeded by the latent's own bytes: the same latent at the
same temperature always gives the same melody, and since every temperature scales the same
noise, a small temperature only changes the steps where the model hesitates, while t >= 1 gives
Magenta's full sampling randomness (looser rhythm, more leaps, notes outside the key).
"""

from __future__ import annotations

import os

# Magenta's RNN cells are Keras 2 (tf-keras) code: the switch must be set before TensorFlow loads.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from engine import melody  # noqa: E402
from engine.checkpoint import DEFAULT_CONFIG, resolve_checkpoint  # noqa: E402
from engine.errors import ModelError  # noqa: E402
from engine.sampling import LatentModel, gumbel_noise, pad  # noqa: E402


@contextlib.contextmanager
def _muted_stderr() -> Iterator[None]:
    """Drop what native code writes to stderr meanwhile: TF's C++ start-up lines ignore its log level."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a daemon): nothing to mute
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _muted_stderr():
    import tensorflow.compat.v1 as tf

log = logging.getLogger(__name__)

GRAPH_BATCH = 8  # a generation is up to 10 candidates: 8 wastes little padding and chunks rarely



@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence TF's and Magenta's INFO logs and deprecation warnings while building a graph."""
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        tf_logger.setLevel(level)


def melody_config(config_name: str) -> Any:
    """A private copy of a Magenta melody config (building its model mutates it); ModelError if none."""
    import copy

    from magenta.models.music_vae import configs, data, lstm_models

    config = configs.CONFIG_MAP.get(config_name)
    if config is None:
        melody_names = sorted(name for name in configs.CONFIG_MAP if name.startswith("cat-mel_2bar"))
        raise ModelError(f"unknown MusicVAE config {config_name!r}; melody configs: {', '.join(melody_names)}")
    converter = config.data_converter
    fits = (
        isinstance(converter, data.OneHotMelodyConverter)
        and isinstance(config.model.decoder, lstm_models.CategoricalLstmDecoder)
        and isinstance(config.model.encoder, lstm_models.BidirectionalLstmEncoder)
        and converter.output_depth == melody.TOKEN_COUNT
        and converter.control_depth == 0
    )
    if not fits:
        raise ModelError(f"MusicVAE config {config_name!r} is not a melody model with {melody.TOKEN_COUNT} tokens")
    config = copy.deepcopy(config)
    config.data_converter.set_mode("infer")
    return config


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Make the initial weights of a graph built meanwhile depend on `seed` only (None: leave all be).

    TF ops take the graph seed, but Keras layers draw theirs from Python's global `random`:
    that is seeded too, and given back its state afterwards.
    """
    if seed is None:
        yield
        return
    import random

    state = random.getstate()
    random.seed(seed)
    tf.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


class _Graph:
    """The TF1 graph of one model: a decoder with controllable sampling noise and the encoder's mean."""

    def __init__(self, config: Any, batch_size: int, seed: int | None = None) -> None:
        import magenta.contrib.seq2seq as contrib_seq2seq

        hparams = config.hparams
        depth = config.data_converter.output_depth
        self.steps = int(hparams.max_seq_len)
        self.latent_size = int(hparams.z_size)
        self.batch_size = batch_size
        self.graph = tf.Graph()
        # _muted_stderr: the first device look-up logs "failed call to cuInit" on machines without a GPU.
        with self.graph.as_default(), _quiet(), _muted_stderr(), _seeded(seed):
            model = config.model
            model.build(hparams, depth, is_training=False)
            self.latents = tf.placeholder(tf.float32, [batch_size, self.latent_size], name="latents")
            self.noise = tf.placeholder(tf.float32, [batch_size, self.steps, depth], name="noise")
            self.temperature = tf.placeholder_with_default(0.0, [], name="temperature")
            start_inputs = tf.concat([tf.zeros([batch_size, depth]), self.latents], axis=-1)

            # Magenta's own sampler draws from a TF random op, which no seed ties to a row; this
            # one takes argmax(logits + t * gumbel), the same distribution with noise we choose.
            def sample_fn(time, outputs, state):
                scores = outputs + self.temperature * self.noise[:, time]
                return tf.one_hot(tf.argmax(scores, axis=-1), depth)

            def next_inputs_fn(time, outputs, state, sample_ids):
                return tf.zeros([batch_size], tf.bool), tf.concat([sample_ids, self.latents], axis=-1), state

            helper = contrib_seq2seq.CustomHelper(
                initialize_fn=lambda: (tf.zeros([batch_size], tf.bool), start_inputs),
                sample_fn=sample_fn,
                next_inputs_fn=next_inputs_fn,
                sample_ids_shape=[depth],
                sample_ids_dtype=tf.float32,
            )
            # _decode is private, but the public sample() always uses Magenta's sampler.
            results = model.decoder._decode(
                self.latents, helper=helper, input_shape=start_inputs.shape[1:], max_length=self.steps
            )
            self.tokens = tf.argmax(results.samples, axis=-1)
            self.inputs = tf.placeholder(tf.float32, [batch_size, self.steps, depth], name="inputs")
            self.lengths = tf.placeholder(tf.int32, [batch_size], name="lengths")
            self.mean = model.encode(self.inputs, self.lengths).loc
            # Restoring needs the weights only, so checkpoints without a global step load too. Saving
            # writes the global step as well: Magenta's TrainedModel and music_vae_generate restore it.
            self.variables = [v for v in tf.global_variables() if v is not model.global_step]
            self.saver = tf.train.Saver(self.variables, sharded=False)
            self.step_value = tf.placeholder(tf.int64, [], name="step_value")
            self.set_step = tf.assign(model.global_step, self.step_value)
            self.export_saver = tf.train.Saver([*self.variables, model.global_step], sharded=False)
            self.initializer = tf.variables_initializer(self.variables)
        self.graph.finalize()
        self.session = tf.Session(graph=self.graph)

    def check(self, prefix: Path, config_name: str) -> None:
        """ModelError unless the checkpoint holds every variable of the graph with the same shape."""
        try:
            shapes = tf.train.load_checkpoint(str(prefix)).get_variable_to_shape_map()
        except (tf.errors.OpError, ValueError) as error:
            message = " ".join(str(error).split())[:200]
            raise ModelError(f"cannot read the MusicVAE checkpoint {prefix}: {message}") from None
        wrong = []
        for variable in self.variables:
            name = variable.op.name
            wanted = variable.shape.as_list()
            found = shapes.get(name)
            if found != wanted:
                wrong.append(f"{name}: checkpoint {found or 'none'}, model {wanted}")
        if wrong:
            raise ModelError(
                f"the checkpoint {prefix} does not match MusicVAE config {config_name!r} "
                f"({len(wrong)} of {len(self.variables)} variables differ, e.g. {wrong[0]}); "
                "set MUSICVAE_CONFIG to the config it was trained with"
            )


class MelodyModel(LatentModel):
    """A loaded MusicVAE melody model. Create it with `load()` (or `random()`), once per process."""

    def __init__(self, graph: _Graph, config_name: str, checkpoint: Path | None) -> None:
        self._graph = graph
        self.config_name = config_name
        self.checkpoint = checkpoint  # None: random weights
        self.latent_size = graph.latent_size
        self.steps = graph.steps

    @classmethod
    def load(
        cls, config_name: str = DEFAULT_CONFIG, checkpoint: Path | str | None = None, *, batch_size: int = GRAPH_BATCH
    ) -> MelodyModel:
        """Build the model and restore a checkpoint: a prefix or a folder; None: the shipped model."""
        config = melody_config(config_name)
        prefix = resolve_checkpoint(checkpoint)
        graph = _Graph(config, batch_size)
        graph.check(prefix, config_name)
        try:
            with graph.graph.as_default():  # outside its graph the Saver would take the eager path
                graph.saver.restore(graph.session, str(prefix))
        except tf.errors.OpError as error:
            message = " ".join(str(error).split())[:200]
            raise ModelError(f"cannot restore the MusicVAE checkpoint {prefix}: {message}") from None
        log.info("MusicVAE %s loaded from %s", config_name, prefix)
        return cls(graph, config_name, prefix)

    @classmethod
    def random(cls, config_name: str = DEFAULT_CONFIG, seed: int = 0, *, batch_size: int = GRAPH_BATCH) -> MelodyModel:
        """The model with freshly initialised weights (as training starts): a baseline, and for timing."""
        graph = _Graph(melody_config(config_name), batch_size, seed=seed)
        graph.session.run(graph.initializer)
        return cls(graph, config_name, None)

    def save(self, prefix: Path, global_step: int = 0) -> Path:
        """Write the weights and the global step (nothing of the optimiser) as a checkpoint
        `prefix`.index/.data-*, as Magenta's own tools load it; returns the prefix."""
        prefix.parent.mkdir(parents=True, exist_ok=True)
        graph = self._graph
        with graph.graph.as_default():
            graph.session.run(graph.set_step, {graph.step_value: global_step})
            graph.export_saver.save(graph.session, str(prefix), write_meta_graph=False, write_state=False)
        return prefix

    @staticmethod
    def training_step(prefix: Path | str) -> int | None:
        """The global step stored in a checkpoint, or None when it has none."""
        try:
            return int(tf.train.load_checkpoint(str(resolve_checkpoint(prefix))).get_tensor("global_step"))
        except (tf.errors.OpError, ValueError, KeyError, ModelError):
            return None

    def close(self) -> None:
        self._graph.session.close()

    # --- latents to melodies -------------------------------------------------------------------

    def decode_tokens(self, latents: NDArray[np.floating], temperature: float = 0.0) -> NDArray[np.int64]:
        """Token rows (n, steps) of the melodies of `latents` (n, latent_size)."""
        rows = self._latent_rows(latents)
        if temperature < 0:
            raise ValueError(f"temperature must be 0 or more, not {temperature}")
        graph = self._graph
        out = np.empty((len(rows), self.steps), dtype=np.int64)
        for begin in range(0, len(rows), graph.batch_size):
            chunk = rows[begin : begin + graph.batch_size]
            feed: dict[Any, Any] = {graph.latents: pad(chunk, graph.batch_size), graph.temperature: temperature}
            if temperature > 0:
                noise = np.stack([gumbel_noise(row, self.steps) for row in chunk])
                feed[graph.noise] = pad(noise, graph.batch_size)
            else:
                feed[graph.noise] = np.zeros(graph.noise.shape.as_list(), np.float32)
            out[begin : begin + len(chunk)] = graph.session.run(graph.tokens, feed)[: len(chunk)]
        return out

    # --- melodies to latents -------------------------------------------------------------------

    def encode_tokens(self, tokens: NDArray[np.integer]) -> NDArray[np.float32]:
        """The posterior means (n, latent_size) of token rows (n, steps): deterministic, no sampling."""
        tokens = self._token_rows(tokens)
        graph = self._graph
        out = np.empty((len(tokens), self.latent_size), dtype=np.float32)
        lengths = np.full(graph.batch_size, self.steps, dtype=np.int32)
        for begin in range(0, len(tokens), graph.batch_size):
            chunk = melody.one_hot(tokens[begin : begin + graph.batch_size])
            feed = {graph.inputs: pad(chunk, graph.batch_size), graph.lengths: lengths}
            out[begin : begin + len(chunk)] = graph.session.run(graph.mean, feed)[: len(chunk)]
        return out
