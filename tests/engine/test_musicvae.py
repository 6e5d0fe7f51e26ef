"""The numpy model a worker runs against Magenta's TensorFlow graph, and the checkpoint reader behind it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import checkpoint
from engine.checkpoint import SHIPPED_CHECKPOINT, CheckpointError
from engine.errors import ModelError
from engine.musicvae import MelodyVAE

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def latents(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, 256)).astype(np.float32)


def test_the_reader_gives_every_tensor_as_tensorflow_reads_it(tf_model):
    import tensorflow as tf

    expected = tf.train.load_checkpoint(str(SHIPPED_CHECKPOINT))
    tensors = checkpoint.read(SHIPPED_CHECKPOINT)
    assert sorted(tensors) == sorted(expected.get_variable_to_shape_map())
    for name, value in tensors.items():
        wanted = expected.get_tensor(name)
        assert value.dtype == wanted.dtype and np.array_equal(value, wanted), name


@pytest.mark.parametrize("temperature", [0.0, 0.5, 1.0])
def test_numpy_decodes_the_same_tokens_as_magentas_graph(melody_model, tf_model, temperature):
    z = latents(120, seed=int(temperature * 10))
    assert np.array_equal(melody_model.decode_tokens(z, temperature), tf_model.decode_tokens(z, temperature))


def test_numpy_encodes_the_same_posterior_mean_as_magentas_graph(melody_model, tf_model):
    tokens = tf_model.decode_tokens(latents(40, seed=3), 1.0)
    ours, theirs = melody_model.encode_tokens(tokens), tf_model.encode_tokens(tokens)
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.abs(theirs).max() > 1.0  # the means are not all near zero


def test_a_random_checkpoint_decodes_the_same_in_both(random_checkpoint_dir, random_model):
    ours = MelodyVAE.load("cat-mel_2bar_small", random_checkpoint_dir)
    z = latents(16, seed=5)
    assert np.array_equal(ours.decode_tokens(z, 0.5), random_model.decode_tokens(z, 0.5))
    assert ours.checkpoint == random_model.checkpoint  # the folder's newest checkpoint, found the same way


def test_a_folders_checkpoint_state_names_the_prefix_read(tmp_path, random_checkpoint_dir):
    for name in ("a.index", "a.data-00000-of-00001"):
        (tmp_path / name).write_bytes((SHIPPED_CHECKPOINT.parent / f"model.ckpt{name[1:]}").read_bytes())
    for name in ("b.index", "b.data-00000-of-00001"):
        (tmp_path / name).write_bytes(next(random_checkpoint_dir.glob(f"*{name[1:]}")).read_bytes())
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "a"\nall_model_checkpoint_paths: "a"\n')
    assert MelodyVAE.load("cat-mel_2bar_small", tmp_path).checkpoint == tmp_path / "a"


def test_a_missing_or_damaged_checkpoint_is_one_line(tmp_path):
    with pytest.raises(ModelError, match=r"no MusicVAE checkpoint at .*nothing \(nothing.index is missing\)"):
        MelodyVAE.load("cat-mel_2bar_small", tmp_path / "nothing")
    (tmp_path / "bad.index").write_bytes(b"not a table at all" * 4)
    with pytest.raises(ModelError, match="cannot read the MusicVAE checkpoint .*not a checkpoint table") as error:
        MelodyVAE.load("cat-mel_2bar_small", tmp_path / "bad")
    assert "\n" not in str(error.value)
    with pytest.raises(CheckpointError):
        checkpoint.read(tmp_path / "bad")


def test_a_truncated_data_file_is_refused(tmp_path):
    (tmp_path / "m.index").write_bytes(Path(f"{SHIPPED_CHECKPOINT}.index").read_bytes())
    data = Path(f"{SHIPPED_CHECKPOINT}.data-00000-of-00001").read_bytes()
    (tmp_path / "m.data-00000-of-00001").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated"):
        MelodyVAE.load("cat-mel_2bar_small", tmp_path / "m")


def test_a_config_that_is_not_a_2_bar_melody_model_is_refused():
    with pytest.raises(ModelError, match="not a 2-bar melody model"):
        MelodyVAE.load("hierdec-trio_16bar")


def test_a_worker_loads_the_model_without_importing_tensorflow():
    code = (
        "import sys\n"
        "from entrypoints.worker_cmd import _skip_unused_imports\n"
        "_skip_unused_imports()\n"
        "from engine.musicvae import MelodyVAE\n"
        "model = MelodyVAE.load('cat-mel_2bar_small')\n"
        "import worker.runner, engine.render, worker.handlers\n"
        "model.decode(model.encode(model.decode(__import__('numpy').zeros((2, 256), 'float32'))))\n"
        "print(sorted(m for m in ('tensorflow', 'magenta', 'tf_keras') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "[]"
