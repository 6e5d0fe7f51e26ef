"""Compute the melody subspace of the shipped model again, with Magenta's own decoder (engine.subspace).

    python -m training.subspace          # rewrite engine/model/cat-mel_2bar_small/subspace.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine.subspace import DIMENSIONS, SAMPLES, SHIPPED_SUBSPACE, compute, save


def main() -> None:
    from training.decoder import MelodyModel

    parser = argparse.ArgumentParser(description="compute the melody subspace of the shipped model")
    parser.add_argument("--dimensions", type=int, default=DIMENSIONS)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--out", type=Path, default=SHIPPED_SUBSPACE)
    args = parser.parse_args()
    model = MelodyModel.load()
    subspace = compute(model, args.dimensions, args.samples)
    total = np.linalg.norm(subspace.scales) ** 2
    print(f"{args.dimensions} dimensions; their variances sum to {total:.2f}; written to {save(subspace, args.out)}")


if __name__ == "__main__":
    main()
