"""`breeder train`: build the dataset from the music21 corpus and train (or resume) the model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from runtime.settings import PROJECT_ROOT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", type=Path, default=PROJECT_ROOT / "runs" / "small",
                        help="where checkpoints go; training resumes from the newest one (default: runs/small)")
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT / "data" / "corpus",
                        help="where the dataset is built (default: data/corpus)")
    parser.add_argument("--steps", type=int, default=20000, help="train until this global step (default: 20000)")
    parser.add_argument("--config", default="cat-mel_2bar_small", help="Magenta config name")
    parser.add_argument("--hparams", default=None,
                        help="comma-separated hparams overriding the config (default: the shipped variant)")
    parser.add_argument("--include-essen", action="store_true",
                        help="also train on the Essen folksongs: NON-COMMERCIAL use only; never ship such a model")
    parser.add_argument("--dataset-only", action="store_true", help="build the dataset and stop")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from training import train

    if args.dataset_only:
        paths = train.build_dataset(args.data_dir, args.include_essen)
        print(f"dataset: {paths.train} and {paths.held_out}")
        return 0
    hparams = train.SMALL_VARIANT_HPARAMS if args.hparams is None else args.hparams
    train_dir = train.train(args.run_dir, args.data_dir, args.steps, args.config, hparams, args.include_essen)
    print(f"checkpoints in {train_dir}; write the shipped model with `breeder export --run-dir {args.run_dir}`")
    return 0
