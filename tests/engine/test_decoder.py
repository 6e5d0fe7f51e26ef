"""The MusicVAE decoder with real checkpoints: the shipped one (session fixture) and random ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from domain.model import Note
from engine import melody
from engine.checkpoint import SHIPPED_CHECKPOINT
from engine.errors import ModelError
from engine.midi import melody_to_midi, midi_to_notes
from engine.sampling import slerp
from runtime.settings import PROJECT_ROOT, WorkerSettings, load
from training import corpus
from training.decoder import MelodyModel
from training.export import export, random_checkpoint

pytestmark = pytest.mark.slow

RECONSTRUCTION_THRESHOLD = 0.8  # token accuracy, the benchmark target; shipped model 0.97 here, random ~0.0


def latents(count: int, size: int = 256, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, size)).astype(np.float32)


@pytest.fixture(scope="module")
def heldout_windows() -> list[list[Note]]:
    """Distinct 2-bar windows, every other one, of held-out tunes of O'Neill's collection (never trained on)."""
    root = corpus.corpus_root() / "oneills1850"
    windows: dict[bytes, list[Note]] = {}
    for name in ("0001-0050.abc", "0051-0100.abc", "1116-1135_ml.abc"):
        for tune in corpus.read_file("oneills1850", root / name):
            if not tune.held_out:
                continue
            notes = melody.from_note_sequence(tune.sequence)
            for bar in range(0, max(n.end for n in notes) // 16 - 1, 2):
                window = melody.first_bars([n for n in notes if n.start >= bar * 16])
                if window:
                    windows.setdefault(melody.notes_to_tokens(window).tobytes(), window)
    assert len(windows) >= 20
    return list(windows.values())


def reconstruction_accuracy(model: MelodyModel, windows: list[list[Note]]) -> float:
    tokens = np.stack([melody.notes_to_tokens(w) for w in windows])
    return float(np.mean(model.decode_tokens(model.encode(windows)) == tokens))


# --- decoding ---------------------------------------------------------------------------------


def test_decodes_one_2_bar_melody_per_latent_in_the_piano_range(melody_model):
    melodies = melody_model.decode(latents(11))
    assert melody_model.steps == 32 and melody_model.latent_size == 256
    assert len(melodies) == 11
    for notes in melodies:
        for note in notes:
            assert melody.MIN_PITCH <= note.pitch <= melody.MAX_PITCH
            assert 0 <= note.start < note.end <= 32
        assert all(a.end <= b.start for a, b in zip(notes, notes[1:], strict=False))


def test_the_same_latent_decodes_to_the_same_melody_every_time(melody_model):
    z = latents(8, seed=3)
    assert melody_model.decode(z) == melody_model.decode(z)


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_a_latents_melody_does_not_depend_on_its_batch(melody_model, temperature):
    z = latents(20, seed=4)
    together = melody_model.decode_tokens(z, temperature)
    for start, count in [(0, 1), (7, 1), (3, 5), (0, 8), (5, 9), (2, 17)]:
        part = melody_model.decode_tokens(z[start:start + count], temperature)
        assert np.array_equal(part, together[start:start + count]), (start, count)
    alone = melody_model.decode_tokens(z[6], temperature)
    assert np.array_equal(alone[0], together[6])


def test_sampling_with_temperature_is_repeatable_per_latent_but_not_argmax(melody_model):
    z = latents(8, seed=5)
    argmax = melody_model.decode_tokens(z, 0.0)
    sampled = melody_model.decode_tokens(z, 1.0)
    assert np.array_equal(sampled, melody_model.decode_tokens(z, 1.0))
    assert (sampled != argmax).any(axis=1).sum() >= 4
    # Every temperature scales the same noise: a tiny one only matters where the model hesitates.
    assert np.array_equal(melody_model.decode_tokens(z, 1e-6), argmax)


def test_a_negative_temperature_or_wrong_latent_size_is_refused(melody_model):
    with pytest.raises(ValueError, match="temperature"):
        melody_model.decode(latents(1), -0.5)
    with pytest.raises(ValueError, match=r"shape \(n, 256\)"):
        melody_model.decode(latents(2, size=512))


def test_decoded_melody_survives_a_midi_file(melody_model):
    for notes in melody_model.decode(latents(4, seed=7)):
        assert midi_to_notes(melody_to_midi(notes, tempo=132, instrument=73, steps=32)) == notes


# --- encoding ---------------------------------------------------------------------------------


def test_encode_gives_the_posterior_mean_whatever_the_batch(melody_model, heldout_windows):
    together = melody_model.encode(heldout_windows)
    assert together.shape == (len(heldout_windows), 256) and together.dtype == np.float32
    assert np.array_equal(melody_model.encode(heldout_windows[3:4]), together[3:4])
    assert np.array_equal(melody_model.encode(heldout_windows), together)
    assert melody_model.encode([]).shape == (0, 256)


@pytest.mark.trained_model
def test_trained_model_reconstructs_held_out_melodies(melody_model, heldout_windows):
    assert reconstruction_accuracy(melody_model, heldout_windows) >= RECONSTRUCTION_THRESHOLD


def test_random_model_does_not_reach_the_reconstruction_threshold(random_model, heldout_windows):
    # The threshold must be out of reach of trivial answers too: holding every note (all
    # "no event" tokens) would score the share of such steps.
    tokens = np.stack([melody.notes_to_tokens(w) for w in heldout_windows])
    assert np.mean(tokens == melody.NO_EVENT) < RECONSTRUCTION_THRESHOLD - 0.1
    assert reconstruction_accuracy(random_model, heldout_windows) < RECONSTRUCTION_THRESHOLD - 0.3


def test_encode_midi_uses_the_first_two_bars_of_the_melody(melody_model):
    tune = [Note(67, 40, 44), Note(69, 44, 48), Note(71, 48, 56), Note(72, 56, 64), Note(74, 64, 72)]
    data = melody_to_midi(tune, tempo=100, instrument=0, steps=80)
    latent = melody_model.encode_midi(data)
    assert latent.shape == (1, 256)
    window = [Note(67, 8, 12), Note(69, 12, 16), Note(71, 16, 24), Note(72, 24, 32)]
    assert np.array_equal(latent, melody_model.encode([window]))


def test_encode_midi_refuses_files_without_a_melody_in_one_line(melody_model):
    silent = melody_to_midi([], tempo=120, instrument=0)
    with pytest.raises(ValueError) as error:
        melody_model.encode_midi(silent)
    assert "no melody" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ValueError, match="not a MIDI file"):
        melody_model.encode_midi(b"60 62 64 65")


def test_interpolation_runs_from_one_latent_to_the_other(melody_model):
    a, b = latents(2, seed=8)
    path = melody_model.interpolate(a, b, 5)
    assert path.shape == (5, 256) and path.dtype == np.float32
    np.testing.assert_allclose(path[0], a, atol=1e-5)
    np.testing.assert_allclose(path[-1], b, atol=1e-5)
    # Spherical: the norm stays between the ends' (a straight line would dip in the middle).
    norms = np.linalg.norm(path, axis=1)
    assert norms.min() >= min(norms[0], norms[-1]) - 1e-3
    assert len(melody_model.decode(path)) == 5
    with pytest.raises(ValueError):
        slerp(a, b, 1)


def test_interpolating_parallel_latents_stays_on_the_line():
    a = np.ones(4, np.float32)
    np.testing.assert_allclose(slerp(a, 2 * a, 3), [a, 1.5 * a, 2 * a], rtol=1e-6)


# --- checkpoints ------------------------------------------------------------------------------


def test_musicvae_checkpoint_setting_loads_a_folder_or_a_prefix(random_checkpoint_dir, melody_model, monkeypatch):
    monkeypatch.setenv("MUSICVAE_CHECKPOINT", str(random_checkpoint_dir))
    settings = load(WorkerSettings)
    from_folder = MelodyModel.load(settings.musicvae_config, settings.musicvae_checkpoint)
    from_prefix = MelodyModel.load(checkpoint=random_checkpoint_dir / "model.ckpt")
    try:
        z = latents(6, seed=9)
        assert from_folder.decode(z) == from_prefix.decode(z)
        assert from_folder.decode(z) != melody_model.decode(z)  # other weights than the shipped model
    finally:
        from_folder.close()
        from_prefix.close()


def test_export_keeps_the_weights_and_the_step_and_drops_the_optimiser(tmp_path, random_checkpoint_dir, random_model):
    run_dir = tmp_path / "train"
    _training_checkpoint(random_checkpoint_dir / "model.ckpt", run_dir / "model.ckpt-1234")
    prefix = export(run_dir, tmp_path / "shipped")
    names = _variable_names(prefix)
    assert names == _variable_names(random_checkpoint_dir / "model.ckpt") | {"global_step"}
    assert not any("Adam" in name for name in names)
    assert MelodyModel.training_step(prefix) == 1234
    exported = MelodyModel.load(checkpoint=tmp_path / "shipped")
    try:
        z = latents(4, seed=10)
        assert exported.decode(z) == random_model.decode(z)
    finally:
        exported.close()


def test_random_checkpoint_is_reproducible_from_its_seed(tmp_path, random_model):
    again = MelodyModel.load(checkpoint=random_checkpoint("cat-mel_2bar_small", tmp_path, seed=1))
    try:
        z = latents(4, seed=11)
        assert again.decode(z) == random_model.decode(z)
    finally:
        again.close()


def test_export_command_reports_a_missing_run_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "export", "--run-dir", str(tmp_path / "no-run"),
         "--out", str(tmp_path / "out")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 2
    assert result.stdout.strip().startswith("breeder export: no MusicVAE checkpoint at")
    assert len(result.stdout.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_shipped_checkpoint_is_an_inference_export_under_25_mb():
    size = sum(p.stat().st_size for p in SHIPPED_CHECKPOINT.parent.glob("model.ckpt.*"))
    assert 0 < size <= 25 * 1024 * 1024
    info = json.loads((SHIPPED_CHECKPOINT.parent / "model.json").read_text())
    assert info["config"] == "cat-mel_2bar_small" and info["random"] is False
    assert (SHIPPED_CHECKPOINT.parent.parent / "MODEL_CARD.md").is_file()
    names = _variable_names(SHIPPED_CHECKPOINT)
    assert not any("Adam" in name or "beta1_power" in name for name in names)  # no optimiser state
    assert "global_step" in names and info["global_step"] == 12000  # as Magenta's tools restore it


def test_missing_checkpoint_is_one_line_naming_the_path_and_the_setting(tmp_path):
    for missing in (tmp_path / "nowhere" / "model.ckpt", tmp_path):
        with pytest.raises(ModelError) as error:
            MelodyModel.load(checkpoint=missing)
        message = str(error.value)
        assert str(missing) in message and "MUSICVAE_CHECKPOINT" in message and "\n" not in message


def test_checkpoint_of_another_config_is_one_line_saying_it_does_not_match(random_checkpoint_dir):
    with pytest.raises(ModelError) as error:
        MelodyModel.load("cat-mel_2bar_big", random_checkpoint_dir)
    message = str(error.value)
    assert "does not match" in message and "cat-mel_2bar_big" in message and "\n" not in message


def test_damaged_checkpoint_or_unknown_config_is_one_line(tmp_path):
    (tmp_path / "model.ckpt.index").write_bytes(b"not a checkpoint index")
    with pytest.raises(ModelError, match="cannot read") as error:
        MelodyModel.load(checkpoint=tmp_path / "model.ckpt")
    assert "\n" not in str(error.value)
    with pytest.raises(ModelError, match="unknown MusicVAE config 'cat-mel_3bar'"):
        MelodyModel.load("cat-mel_3bar")
    with pytest.raises(ModelError, match="not a melody model"):
        MelodyModel.load("cat-drums_2bar_small")


# --- helpers ----------------------------------------------------------------------------------


def _variable_names(prefix: Path) -> set[str]:
    import tensorflow as tf

    return set(tf.train.load_checkpoint(str(prefix)).get_variable_to_shape_map())


def _training_checkpoint(source: Path, prefix: Path) -> None:
    """A checkpoint shaped like one of `breeder train`: the weights plus Adam slots and the global step."""
    import tensorflow.compat.v1 as tf

    reader = tf.train.load_checkpoint(str(source))
    graph = tf.Graph()
    with graph.as_default():
        variables = []
        for name in reader.get_variable_to_shape_map():
            if name == "global_step":  # the step comes below, as training writes it
                continue
            value = reader.get_tensor(name)
            variables.append(tf.Variable(value, name=name))
            variables.append(tf.Variable(np.zeros_like(value), name=f"{name}/Adam"))
        variables.append(tf.Variable(np.int64(1234), name="global_step"))
        saver = tf.train.Saver(variables)
        with tf.Session(graph=graph) as session:
            session.run(tf.variables_initializer(variables))
            saver.save(session, str(prefix))


def test_a_training_command_without_tensorflow_says_what_to_install(monkeypatch, capsys):
    import importlib.util

    from entrypoints import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    assert cli.main(["export", "--run-dir", "nowhere"]) == 2
    out = capsys.readouterr().out.strip()
    assert out.startswith("breeder export: needs tensorflow, which this install leaves out; install the `training`")
    assert "\n" not in out
