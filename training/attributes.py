"""`breeder attributes`: compute the shipped model's attribute vectors from the training corpus.

1. Windows: every `--every`-th file of the public-domain corpus (training.corpus, never
   Essen), its training tunes in the training transpositions, sliced into 2-bar windows by
   Magenta's melody converter as in training; at most `--windows` of them, drawn at random.
2. Vectors: each window's posterior mean; per attribute (engine.attributes.measure), the mean
   latent of the top quartile of windows minus that of the bottom quartile (Roberts et al. 2018).
3. Effects: `--calibrate` prior samples are decoded moved by -1 and +1 raw vector, and the
   change of every attribute is measured, in standard deviations of that attribute across the
   unmoved decoded melodies (the effect matrix).
4. Density taken out: more notes also leap further and span wider, so a raw vector of another
   attribute moves density too. Where it does, the part of the density vector that carries that
   move is subtracted (v - c v_density, c from the effect matrix, so that density stays put to
   first order), if at least half of the vector's own effect is left; otherwise (range: in this
   model a wider range comes with more notes) the raw vector is kept, and the effect table says so.
5. Units: each vector is scaled so that one unit moves its own attribute by one standard deviation.

    breeder attributes            # rewrites engine/model/cat-mel_2bar_small/attributes.npz
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from domain.nudges import ATTRIBUTES  # noqa: E402
from engine import attributes  # noqa: E402
from runtime.settings import PROJECT_ROOT  # noqa: E402

log = logging.getLogger(__name__)

EVERY = 6  # one corpus file in six: a few minutes of parsing on two cores
WINDOWS = 12000
CALIBRATE = 512
BATCH = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--every", type=int, default=EVERY, help=f"read every n-th corpus file (default {EVERY})")
    parser.add_argument("--windows", type=int, default=WINDOWS, help=f"at most this many windows (default {WINDOWS})")
    parser.add_argument("--calibrate", type=int, default=CALIBRATE,
                        help=f"prior samples that set the unit of an amount (default {CALIBRATE})")
    parser.add_argument("--processes", type=int, default=2, help="parsing processes (default 2)")
    parser.add_argument("--out", type=Path, default=attributes.SHIPPED_ATTRIBUTES)
    parser.add_argument("--cache", type=Path, default=PROJECT_ROOT / "data" / "corpus",
                        help="where the corpus windows are kept between runs (default: data/corpus)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from training.decoder import MelodyModel

    started = time.monotonic()
    cache = args.cache / f"attribute-windows-every{args.every}-{args.windows}.npy"
    if cache.exists():
        tokens = np.load(cache)
    else:
        tokens = corpus_windows(args.every, args.windows, args.processes)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, tokens)
    log.info("%d windows in %.0f s", len(tokens), time.monotonic() - started)
    model = MelodyModel.load(batch_size=BATCH)
    vectors, figures = compute(model, tokens, args.calibrate)
    attributes.save(vectors, args.out, **figures)
    for index, name in enumerate(vectors.names):
        print(f"{name:12s} quartile gap {figures['gaps'][index]:7.2f}  sd {vectors.sds[index]:6.2f}  "
              f"raw effect {figures['effects'][index, index]:5.2f} sd  density taken out "
              f"{figures['decoupled'][index]:5.2f}  length {np.linalg.norm(vectors.vectors[index]):6.2f}")
    print(f"{len(tokens)} windows; written to {args.out} in {time.monotonic() - started:.0f} s")
    return 0


def corpus_windows(every: int, limit: int, processes: int, seed: int = 0) -> NDArray[np.int64]:
    """Unique 2-bar token rows of the training tunes of every `every`-th corpus file, at most `limit`."""
    from multiprocessing import get_context

    from training.corpus import corpus_files, read_file, split
    from training.decoder import melody_config
    from training.train import TRANSPOSITIONS, transpose

    files = corpus_files()[::every]
    with get_context("spawn").Pool(processes) as pool:
        tunes = [tune for found in pool.starmap(read_file, files, chunksize=2) for tune in found]
    training, _ = split(tunes)
    log.info("%d training tunes from %d files", len(training), len(files))
    converter = melody_config("cat-mel_2bar_small").data_converter
    converter.set_mode("train")
    rows: set[bytes] = set()
    for tune in training:
        for semitones in TRANSPOSITIONS:
            for output in converter.to_tensors(transpose(tune.sequence, semitones)).outputs:
                rows.add(np.argmax(output, axis=-1).astype(np.int8).tobytes())
    tokens = np.frombuffer(b"".join(sorted(rows)), dtype=np.int8).reshape(len(rows), -1).astype(np.int64)
    if len(tokens) > limit:
        tokens = tokens[np.sort(np.random.default_rng(seed).choice(len(tokens), limit, replace=False))]
    return tokens


def compute(model, tokens: NDArray[np.int64], calibrate: int, seed: int = 1
            ) -> tuple[attributes.AttributeVectors, dict[str, NDArray[np.float64]]]:
    """The vectors of `tokens`' quartiles, in units of amount, and the figures behind them."""
    from engine.melody import tokens_to_notes

    latents = model.encode_tokens(tokens).astype(np.float64)
    values = attributes.measure_all([tokens_to_notes(row) for row in tokens])
    raw = np.empty((len(ATTRIBUTES), model.latent_size))
    gaps = np.empty(len(ATTRIBUTES))
    for index in range(len(ATTRIBUTES)):
        column = values[:, index]
        known = np.isfinite(column)
        low, high = np.quantile(column[known], [0.25, 0.75])
        top, bottom = known & (column >= high), known & (column <= low)
        raw[index] = latents[top].mean(axis=0) - latents[bottom].mean(axis=0)
        gaps[index] = column[top].mean() - column[bottom].mean()
    effects, sds = effect_matrix(model, raw, calibrate, seed)
    vectors, decoupled = decouple(raw, effects)
    figures = {"gaps": gaps, "effects": effects, "raw": raw, "decoupled": decoupled, "windows": np.array(len(tokens))}
    return attributes.AttributeVectors(ATTRIBUTES, vectors, sds), figures


def effect_matrix(model, raw: NDArray[np.float64], calibrate: int, seed: int
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(effects, sds): effects[i, j] is the change of attribute j, in sds, per unit of raw vector i on
    decoded prior samples (half the change from -1 to +1); sds, each attribute's spread across them."""
    prior = np.random.default_rng(seed).standard_normal((calibrate, model.latent_size))
    sds = np.nanstd(attributes.measure_all(model.decode(prior)), axis=0)
    effects = np.empty((len(raw), len(ATTRIBUTES)))
    for index, vector in enumerate(raw):
        up = attributes.measure_all(model.decode(prior + vector))
        down = attributes.measure_all(model.decode(prior - vector))
        effects[index] = np.nanmean(up - down, axis=0) / 2 / sds
        log.info("%s: the raw vector moves the attributes by %s sd", ATTRIBUTES[index], np.round(effects[index], 2))
    return effects, sds


def decouple(raw: NDArray[np.float64], effects: NDArray[np.float64]
             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The vectors in units of amount, with density's part taken out where half their own effect stays;
    and per vector the multiple c of the density vector taken out (0 where none was)."""
    density = ATTRIBUTES.index("density")
    vectors = np.empty_like(raw)
    taken = np.zeros(len(raw))
    for index, vector in enumerate(raw):
        own = effects[index, index]
        if index != density:
            share = effects[index, density] / effects[density, density]
            left = own - share * effects[density, index]
            if left >= 0.5 * own:
                vector, own, taken[index] = vector - share * raw[density], left, share
        vectors[index] = vector / own
    return vectors, taken
