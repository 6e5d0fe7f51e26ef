"""`breeder bench model`: is the shipped model any good? Reconstruction and prior-sample statistics.

Three rows: held-out 2-bar windows of the corpus (never trained on), the shipped model and a
randomly initialised model of the same architecture (what "untrained" looks like). For each
model: token accuracy of encode -> decode (temperature 0) on held-out windows, and statistics of
melodies decoded from prior samples z ~ N(0, I), compared with those of the held-out windows.
Targets: reconstruction >= 0.80, in-key >= 0.90, every statistic within 15 % of held-out.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from domain.model import Note
from runtime.exits import CONFIG_ERROR
from runtime.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from training.decoder import MelodyModel

DEFAULT_HELDOUT = PROJECT_ROOT / "data" / "corpus" / "heldout.tfrecord"
MAJOR = (0, 2, 4, 5, 7, 9, 11)  # also every natural minor and church mode: the same pitch-class sets
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)
SCALES = tuple(
    frozenset((tonic + step) % 12 for step in scale) for scale in (MAJOR, HARMONIC_MINOR) for tonic in range(12)
)
TARGETS = {"recon_acc": 0.80, "in_key": 0.90, "stats_max_rel_err": 0.15}


@dataclass(frozen=True)
class MelodyStats:
    """Means over melodies; the in-key, range and repetition means skip melodies too short to have them."""

    in_key: float
    pitch_range: float
    notes_per_bar: float
    rest_share: float
    repeated_pitch: float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint prefix or folder (default: the shipped model in engine/model)")
    parser.add_argument("--config", default="cat-mel_2bar_small", help="Magenta config name")
    parser.add_argument("--samples", type=int, default=512,
                        help="held-out windows and prior samples per model (default 512)")
    parser.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT,
                        help="held-out TFRecord of NoteSequences; built with the training dataset if missing")
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="decoding temperature of the prior samples (default 0: argmax, as the worker)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from engine.errors import ModelError
    from training.decoder import MelodyModel

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # deprecation notes of the dataset reader

    try:
        shipped = MelodyModel.load(args.config, args.checkpoint)
    except ModelError as error:
        print(f"breeder bench model: {error}")
        return CONFIG_ERROR
    windows = heldout_windows(args.heldout, args.config, args.samples, args.seed)
    latents = np.random.default_rng(args.seed).standard_normal((args.samples, shipped.latent_size)).astype(np.float32)
    heldout_stats = melody_stats(tokens_melodies(windows))

    results = {"held-out": (None, heldout_stats)}
    results["shipped"] = evaluate(shipped, windows, latents, args.temperature)
    shipped.close()
    with tempfile.TemporaryDirectory() as folder:
        from training.export import random_checkpoint

        random_model = MelodyModel.load(args.config, random_checkpoint(args.config, Path(folder), seed=args.seed))
        results["random"] = evaluate(random_model, windows, latents, args.temperature)
        random_model.close()

    print(f"model {args.config} from {shipped.checkpoint}")
    print(f"{len(windows)} held-out 2-bar windows of {args.heldout.name}; {args.samples} prior samples z ~ N(0, I) "
          f"decoded at temperature {args.temperature:g}")
    names = [field.name for field in fields(MelodyStats)]
    print(f"{'':10} {'recon_acc':>9} " + " ".join(f"{name:>14}" for name in names))
    for label, (recon, stats) in results.items():
        recon_text = "-" if recon is None else f"{recon:.3f}"
        print(f"{label:10} {recon_text:>9} " + " ".join(f"{value:14.3f}" for value in astuple(stats)))
    errors = {}
    for label in ("shipped", "random"):
        errors[label] = relative_errors(results[label][1], heldout_stats)
        print(f"{'rel. err ' + label:18} " + " ".join(f"{errors[label][name]:+14.1%}" for name in names))
    for label in ("shipped", "random"):
        recon, stats = results[label]
        checks = verdict(recon, stats, errors[label])
        print(f"targets, {label:7}: " + ", ".join(f"{key} {'met' if ok else 'MISSED'}" for key, ok in checks.items()))
    recon, stats = results["shipped"]
    max_error = max(abs(value) for value in errors["shipped"].values())
    print(f"RESULT recon_acc={recon:.3f} in_key={stats.in_key:.3f} stats_max_rel_err={max_error:.3f} "
          f"random_in_key={results['random'][1].in_key:.3f}")
    return 0


def verdict(recon: float | None, stats: MelodyStats, errors: dict[str, float]) -> dict[str, bool]:
    """Which targets a model meets.

    In-key alone cannot condemn a model: a melody of one or two repeated pitches is trivially in
    key. The statistics (range, notes per bar, rests, repeated pitches) catch such melodies.
    """
    return {
        "recon_acc": recon is not None and recon >= TARGETS["recon_acc"],
        "in_key": stats.in_key >= TARGETS["in_key"],
        "stats_max_rel_err": max(abs(value) for value in errors.values()) <= TARGETS["stats_max_rel_err"],
    }


def heldout_windows(path: Path, config_name: str, count: int, seed: int) -> NDArray[np.int64]:
    """`count` distinct held-out 2-bar windows as token rows, chosen with `seed` (all if fewer)."""
    from training import train
    from training.decoder import melody_config

    if not path.exists():
        print(f"{path} is missing: building the corpus dataset (minutes)")
        path = train.build_dataset(path.parent).held_out
    # "eval" mode: the converter keeps the first windows of a tune instead of a random choice.
    tokens = np.asarray(train.window_tokens(path, melody_config(config_name), mode="eval"), dtype=np.int64)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(tokens), size=min(count, len(tokens)), replace=False)
    return tokens[np.sort(chosen)]


def evaluate(
    model: MelodyModel, windows: NDArray[np.int64], latents: NDArray[np.float32], temperature: float = 0.0
) -> tuple[float, MelodyStats]:
    """Reconstruction token accuracy (argmax) on `windows` and the statistics of the prior samples `latents`."""
    reconstructed = model.decode_tokens(model.encode_tokens(windows))
    accuracy = float(np.mean(reconstructed == windows))
    return accuracy, melody_stats(model.decode(latents, temperature))


def tokens_melodies(tokens: NDArray[np.int64]) -> list[list[Note]]:
    from engine.melody import tokens_to_notes

    return [tokens_to_notes(row) for row in tokens]


def in_key_share(notes: Sequence[Note]) -> float:
    """The share of notes in the best-fitting major or (harmonic) minor scale of the melody."""
    classes = [note.pitch % 12 for note in notes]
    return max(sum(pc in scale for pc in classes) for scale in SCALES) / len(classes)


def melody_stats(melodies: Sequence[Sequence[Note]], steps: int = 32) -> MelodyStats:
    """Statistics of 2-bar melodies (`steps` sixteenths)."""
    voiced = [m for m in melodies if m]
    repeated = [
        np.mean([a.pitch == b.pitch for a, b in zip(m, m[1:], strict=False)]) for m in melodies if len(m) >= 2
    ]
    rests = [1.0 - sum(min(n.end, steps) - n.start for n in m) / steps for m in melodies]
    return MelodyStats(
        in_key=float(np.mean([in_key_share(m) for m in voiced])) if voiced else 0.0,
        pitch_range=float(np.mean([max(n.pitch for n in m) - min(n.pitch for n in m) for m in voiced]))
        if voiced else 0.0,
        notes_per_bar=float(np.mean([len(m) for m in melodies])) * 16 / steps,
        rest_share=float(np.mean(rests)),
        repeated_pitch=float(np.mean(repeated)) if repeated else 0.0,
    )


def relative_errors(stats: MelodyStats, reference: MelodyStats) -> dict[str, float]:
    """(stat - reference) / reference for each statistic."""
    return {
        field.name: (getattr(stats, field.name) - getattr(reference, field.name)) / getattr(reference, field.name)
        for field in fields(MelodyStats)
    }
