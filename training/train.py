"""`breeder train`: build the corpus dataset and train MusicVAE with Magenta's training code.

Like the decoder, this module imports TensorFlow and Magenta; nothing at run time imports it.
Training checkpoints to `<run_dir>/train` every minute and resumes from the newest one.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from training.corpus import Tune, iter_tunes, split  # noqa: E402

log = logging.getLogger(__name__)

# Transpositions written for each training tune (semitones); the held-out split stays as written.
TRANSPOSITIONS = (-5, -3, -2, 0, 2, 4)

# The shipped variant of Magenta's cat-mel_2bar_small: same network, a smaller batch and a
# faster KL / scheduled-sampling ramp, so that a CPU run of hours (not days) gets there.
SMALL_VARIANT_HPARAMS = "batch_size=128,beta_rate=0.9995,sampling_rate=500"


@dataclass(frozen=True)
class DatasetPaths:
    train: Path
    held_out: Path


def transpose(sequence, semitones: int):
    from note_seq.protobuf import music_pb2

    shifted = music_pb2.NoteSequence()
    shifted.CopyFrom(sequence)
    for note in shifted.notes:
        note.pitch += semitones
    return shifted


def build_dataset(data_dir: Path, include_essen: bool = False, force: bool = False) -> DatasetPaths:
    """Write train and held-out TFRecords of NoteSequences, split by tune; reuse them if present.

    See `corpus.split` for how tunes are split.
    """
    import tensorflow as tf

    data_dir.mkdir(parents=True, exist_ok=True)
    suffix = "-essen" if include_essen else ""
    paths = DatasetPaths(data_dir / f"train{suffix}.tfrecord", data_dir / f"heldout{suffix}.tfrecord")
    if paths.train.exists() and paths.held_out.exists() and not force:
        log.info("dataset already built: %s, %s", paths.train, paths.held_out)
        return paths
    started = time.monotonic()
    tunes: list[Tune] = []
    for tune in iter_tunes(include_essen):
        tunes.append(tune)
        if len(tunes) % 500 == 0:
            log.info("parsed %d tunes (%.0f s)", len(tunes), time.monotonic() - started)
    training, held_out = split(tunes)
    duplicates = len(tunes) - len(held_out) - len(training)
    held_tmp = paths.held_out.with_suffix(".tmp")
    with tf.io.TFRecordWriter(str(held_tmp)) as writer:
        for tune in held_out:
            writer.write(tune.sequence.SerializeToString())
    train_records = [
        transpose(tune.sequence, semitones).SerializeToString() for tune in training for semitones in TRANSPOSITIONS
    ]
    random.Random(0).shuffle(train_records)  # interleave tunes and keys for the shuffle buffer
    train_tmp = paths.train.with_suffix(".tmp")
    with tf.io.TFRecordWriter(str(train_tmp)) as writer:
        for record in train_records:
            writer.write(record)
    train_tmp.replace(paths.train)
    held_tmp.replace(paths.held_out)
    per_collection = ", ".join(
        f"{name} {sum(t.collection == name for t in training)}/{sum(t.collection == name for t in held_out)}"
        for name in sorted({t.collection for t in tunes})
    )
    log.info(
        "dataset: %d training tunes (x%d transpositions), %d held-out tunes, %d training tunes left out as "
        "duplicates of held-out ones, in %.0f s; train/held-out per collection: %s",
        len(training), len(TRANSPOSITIONS), len(held_out), duplicates, time.monotonic() - started, per_collection,
    )
    return paths


def window_tokens(examples: Path, config, mode: str = "train"):
    """Magenta's converter over every NoteSequence: unique 2-bar windows as token rows (N, steps).

    Converting in Python once, up front, replaces Magenta's tf.data py_function pipeline,
    which crashes with parallel calls under TensorFlow 2.21; the rows are cached beside the
    TFRecord.
    """
    import numpy as np
    import tensorflow as tf
    from note_seq.protobuf import music_pb2

    cache = examples.with_name(f"{examples.stem}-{mode}-windows.npy")
    if cache.exists() and cache.stat().st_mtime >= examples.stat().st_mtime:
        return np.load(cache)
    converter = config.data_converter
    converter.set_mode(mode)
    rows: set[bytes] = set()
    for record in tf.compat.v1.io.tf_record_iterator(str(examples)):
        tensors = converter.to_tensors(music_pb2.NoteSequence.FromString(record))
        for output in tensors.outputs:
            rows.add(np.argmax(output, axis=-1).astype(np.int8).tobytes())
    steps = config.hparams.max_seq_len
    tokens = np.frombuffer(b"".join(sorted(rows)), dtype=np.int8).reshape(-1, steps)
    np.save(cache, tokens)
    log.info("%s: %d unique 2-bar windows", examples.name, len(tokens))
    return tokens


def tokens_dataset(tokens, config, training: bool):
    """A tf.data pipeline shaped like Magenta's get_dataset output, from token rows."""
    import tensorflow.compat.v1 as tf

    depth = config.data_converter.output_depth
    steps = tokens.shape[1]
    dataset = tf.data.Dataset.from_tensor_slices(tokens.astype("int32"))
    if training:
        dataset = dataset.shuffle(len(tokens), reshuffle_each_iteration=True).repeat()

    def to_example(row):
        one_hot = tf.one_hot(row, depth)
        return one_hot, one_hot, tf.zeros([steps, 0]), tf.constant(steps, tf.int32)

    dataset = dataset.map(to_example)
    return dataset.batch(config.hparams.batch_size, drop_remainder=True).prefetch(2)


def training_config(config_name: str, examples_path: Path | None, hparams: str):
    """A Magenta config with our examples and hyperparameters (augmentation done in the dataset)."""
    from magenta.models.music_vae import configs

    config = configs.CONFIG_MAP[config_name]
    config = configs.update_config(
        config,
        {
            "train_examples_path": str(examples_path) if examples_path else None,
            "note_sequence_augmenter": None,
        },
    )
    config.hparams.parse(hparams) if hparams else None
    return config


class _ProgressHandler(logging.Handler):
    """Turns Magenta's `global_step = N, loss = L` log lines into step / loss / ETA lines."""

    def __init__(self, num_steps: int) -> None:
        super().__init__()
        self.num_steps = num_steps
        self.first: tuple[int, float] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "global_step = " not in message or "loss = " not in message:
            return
        try:
            fields = dict(part.strip().split(" = ") for part in message.split("(")[0].split(","))
            step, loss = int(fields["global_step"]), float(fields["loss"])
        except (ValueError, KeyError):
            return
        now = time.monotonic()
        if self.first is None:
            self.first = (step, now)
            eta = "?"
        else:
            rate = (step - self.first[0]) / max(now - self.first[1], 1e-9)
            remaining = (self.num_steps - step) / rate if rate > 0 else float("inf")
            eta = time.strftime("%H:%M:%S", time.gmtime(remaining)) if remaining < 1e6 else "?"
        print(f"step {step}/{self.num_steps}  loss {loss:.3f}  eta {eta}", flush=True)


def train(
    run_dir: Path,
    data_dir: Path,
    num_steps: int,
    config_name: str = "cat-mel_2bar_small",
    hparams: str = SMALL_VARIANT_HPARAMS,
    include_essen: bool = False,
    threads: int = 0,
) -> Path:
    """Train (or resume) and return the directory holding the checkpoints."""
    paths = build_dataset(data_dir, include_essen)
    import tensorflow.compat.v1 as tf
    from magenta.models.music_vae import music_vae_train

    tf.disable_v2_behavior()
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    config = training_config(config_name, paths.train, hparams)
    tokens = window_tokens(paths.train, config)
    train_dir = run_dir / "train"
    logging.getLogger("tensorflow").addHandler(_ProgressHandler(num_steps))
    tf.logging.set_verbosity(tf.logging.INFO)

    def dataset_fn():
        return tokens_dataset(tokens, config, training=True)

    music_vae_train.train(
        str(train_dir),
        config=config,
        dataset_fn=dataset_fn,
        checkpoints_to_keep=3,
        num_steps=num_steps,
    )
    return train_dir
