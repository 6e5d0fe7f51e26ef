"""The shipped checkpoint is one Magenta's own tools accept: TrainedModel loads it and decodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.checkpoint import SHIPPED_CHECKPOINT

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# In a process of its own: Magenta's TrainedModel builds its graph as Magenta does, with nothing of ours loaded.
_PROBE = """
import json, os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np
from magenta.models.music_vae import configs
from magenta.models.music_vae.trained_model import TrainedModel
model = TrainedModel(configs.CONFIG_MAP["cat-mel_2bar_small"], batch_size=4, checkpoint_dir_or_path=sys.argv[1])
z = np.random.default_rng(0).standard_normal((4, 256)).astype(np.float32)
decoded = model.decode(z, length=32, temperature=0.01)
sampled = model.sample(n=2, length=32, temperature=0.5)
print(json.dumps({"decoded": [len(s.notes) for s in decoded], "sampled": [len(s.notes) for s in sampled]}))
"""


def test_magentas_trained_model_loads_the_shipped_checkpoint_and_decodes_melodies() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(SHIPPED_CHECKPOINT)], cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(counts["decoded"]) == 4 and all(count > 0 for count in counts["decoded"])
    assert len(counts["sampled"]) == 2 and all(count > 0 for count in counts["sampled"])


def test_an_export_writes_the_global_step_of_its_training_checkpoint(tmp_path: Path) -> None:
    from training.decoder import MelodyModel
    from training.export import export, random_checkpoint

    source = random_checkpoint("cat-mel_2bar_small", tmp_path / "run")
    trained = tmp_path / "train" / "model.ckpt-345"
    model = MelodyModel.load(checkpoint=source)
    try:
        model.save(trained, global_step=345)
    finally:
        model.close()
    exported = export(trained, tmp_path / "out")
    assert MelodyModel.training_step(exported) == 345
    assert json.loads((tmp_path / "out" / "model.json").read_text())["global_step"] == 345
