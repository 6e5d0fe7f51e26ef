"""`breeder bench attributes`: what each attribute vector does to decoded melodies (the effect table).

For each vector and each amount from -2 to +2, `--melodies` prior samples z ~ N(0, I) (where a
breed starts) are decoded moved by amount x vector, and every attribute is measured. A row gives
the change of each attribute against the same melodies unmoved: the mean and the standard
deviation over melodies, in the attribute's own unit (notes per bar, semitones, share of notes),
then the change in standard deviations of that attribute across unmoved melodies. Like Figure 5
of the MusicVAE paper: a vector should move its own attribute strongly and the others little.

RESULT, per attribute A: A_own2 (the change of A at amount +2 minus that at -2, in sd: the
diagonal) and A_cross2 (the largest such change of another attribute, in sd).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numpy.typing import NDArray

from domain.nudges import ATTRIBUTES

AMOUNTS = (-2.0, -1.0, 0.0, 1.0, 2.0)
UNITS = {"density": "notes/bar", "register": "semitones", "leaps": "semitones", "syncopation": "share",
         "range": "semitones"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--melodies", type=int, default=256, help="prior samples per amount (default 256)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from engine import attributes
    from training.decoder import MelodyModel

    started = time.monotonic()
    model = MelodyModel.load(batch_size=64)
    vectors = attributes.load()
    prior = np.random.default_rng(args.seed).standard_normal((args.melodies, model.latent_size))
    base = attributes.measure_all(model.decode(prior))
    spread = np.nanstd(base, axis=0)
    print(f"{args.melodies} prior samples per amount; attribute sd across them: "
          + ", ".join(f"{name} {sd:.3g} {UNITS[name]}" for name, sd in zip(ATTRIBUTES, spread, strict=True)))
    print("one unit of amount is scaled to move its attribute by about one sd (engine/attributes.py)\n")
    header = "vector        amount  " + "  ".join(f"{name:>22s}" for name in ATTRIBUTES)
    results = []
    for name in vectors.names:
        print(header)
        at: dict[float, NDArray[np.float64]] = {}
        for amount in AMOUNTS:
            moved = base if amount == 0 else attributes.measure_all(model.decode(prior + amount * vectors.vector(name)))
            change = moved - base
            at[amount] = np.nanmean(change, axis=0) / spread
            cells = [f"{np.nanmean(change[:, i]):+7.2f}±{np.nanstd(change[:, i]):5.2f} ({at[amount][i]:+5.2f}sd)"
                     for i in range(len(ATTRIBUTES))]
            print(f"{name:12s}  {amount:+5.1f}  " + "  ".join(f"{cell:>22s}" for cell in cells))
        span = at[2.0] - at[-2.0]
        own = ATTRIBUTES.index(name)
        others = np.delete(np.abs(span), own)
        strongest = ATTRIBUTES[[i for i in range(len(ATTRIBUTES)) if i != own][int(np.argmax(others))]]
        print(f"  {name}: +2 vs -2 moves {name} by {span[own]:+.2f} sd; most moved other attribute: "
              f"{strongest} {span[ATTRIBUTES.index(strongest)]:+.2f} sd\n")
        results.append(f"{name}_own2={span[own]:.2f} {name}_cross2={others.max():.2f}")
    print(f"{time.monotonic() - started:.0f} s")
    print("RESULT " + " ".join(results))
    return 0
