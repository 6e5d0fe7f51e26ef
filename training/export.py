"""`breeder export`: the shipped, inference-only checkpoint from a training run.

A training checkpoint also holds the optimiser's state (Adam moments: twice the weights); the
export keeps the model's weights and the global step only, so that engine/model stays small (about
18 MB for cat-mel_2bar_small) and loads fast, in the project's decoder and in Magenta's own
`TrainedModel` and `music_vae_generate` (which restore the global step too). `random_checkpoint` writes the same kind of
checkpoint with freshly initialised weights: the baseline of the benchmarks and a test fixture.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.exits import CONFIG_ERROR
from runtime.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from training.decoder import MelodyModel

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "cat-mel_2bar_small"
DEFAULT_RUN_DIR = PROJECT_ROOT / "runs" / "small"
SHIPPED_FOLDER = PROJECT_ROOT / "engine" / "model" / DEFAULT_CONFIG
PREFIX_NAME = "model.ckpt"
INFO_NAME = "model.json"  # where the weights came from, for people reading the folder
MAX_SHIPPED_BYTES = 25 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR,
                        help="training run: its newest checkpoint (in RUN_DIR/train or RUN_DIR) is exported "
                             "(default: runs/small)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="export this checkpoint prefix instead of the run's newest")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="Magenta config name of the run")
    parser.add_argument("--out", type=Path, default=SHIPPED_FOLDER,
                        help="folder for model.ckpt.* (default: engine/model/cat-mel_2bar_small)")
    parser.add_argument("--random", action="store_true",
                        help="write randomly initialised weights instead (a stand-in until a run exists)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from engine.errors import ModelError

    try:
        if args.random:
            prefix = random_checkpoint(args.config, args.out)
        else:
            prefix = export(args.checkpoint or training_folder(args.run_dir), args.out, args.config)
    except ModelError as error:
        print(f"breeder export: {error}")
        return CONFIG_ERROR
    size = checkpoint_bytes(prefix)
    print(f"wrote {prefix}.* ({size / 1e6:.1f} MB)")
    if size > MAX_SHIPPED_BYTES:
        print(f"breeder export: warning: {size / 1e6:.1f} MB is more than the {MAX_SHIPPED_BYTES >> 20} MiB "
              "a shipped model may take")
    return 0


def training_folder(run_dir: Path) -> Path:
    """The folder holding a run's checkpoints: RUN_DIR/train as `breeder train` writes it, else RUN_DIR."""
    train_dir = run_dir / "train"
    return train_dir if train_dir.is_dir() else run_dir


def export(source: Path, folder: Path, config_name: str = DEFAULT_CONFIG) -> Path:
    """Write the weights of the newest checkpoint in `source` (a folder or prefix) to `folder`/model.ckpt."""
    from training.decoder import MelodyModel

    model = MelodyModel.load(config_name, source)  # restores the model's variables only
    try:
        assert model.checkpoint is not None
        step = MelodyModel.training_step(model.checkpoint) or _step_in_name(model.checkpoint) or 0
        info = {"config": config_name, "source": _shown(model.checkpoint), "random": False, "global_step": step}
        return _write(model, folder, info, step)
    finally:
        model.close()


def random_checkpoint(config_name: str, folder: Path, seed: int = 0) -> Path:
    """Write a randomly initialised inference checkpoint of `config_name` to `folder`/model.ckpt."""
    from training.decoder import MelodyModel

    model = MelodyModel.random(config_name, seed)
    try:
        return _write(model, folder, {"config": config_name, "source": None, "random": True, "seed": seed})
    finally:
        model.close()


def _step_in_name(prefix: Path) -> int | None:
    """The step of a checkpoint named like model.ckpt-12000 (Magenta's training names them so)."""
    _, _, tail = prefix.name.rpartition("-")
    return int(tail) if tail.isdigit() else None


def _write(model: MelodyModel, folder: Path, info: dict[str, object], global_step: int = 0) -> Path:
    """Save into a temporary folder beside `folder`, then move the files in: a reader never sees half."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}-") as staging:
        staged = model.save(Path(staging) / PREFIX_NAME, global_step)
        info = {**info, "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (Path(staging) / INFO_NAME).write_text(json.dumps(info, indent=2) + "\n")
        written = {path.name for path in Path(staging).iterdir()}
        for path in Path(staging).iterdir():
            os.replace(path, folder / path.name)
        for stale in folder.glob(f"{PREFIX_NAME}.*"):  # e.g. shards of an older, differently split save
            if stale.name not in written:
                stale.unlink()
    prefix = folder / staged.name
    log.info("wrote %s (%.1f MB) from %s", prefix, checkpoint_bytes(prefix) / 1e6, info["source"] or "random weights")
    return prefix


def _shown(path: Path | None) -> str | None:
    """A path as recorded in model.json: relative to the project when inside it (no machine's home in git)."""
    if path is None:
        return None
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def checkpoint_bytes(prefix: Path) -> int:
    """The size of a checkpoint's files on disk."""
    return sum(path.stat().st_size for path in prefix.parent.glob(f"{prefix.name}.*"))
