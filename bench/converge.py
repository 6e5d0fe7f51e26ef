"""`breeder bench converge`: does breeding beat chance, in what voters hear?

Simulated breeds with the shipped model: every candidate is decoded and its notes are scored
by simulated voter panels (`bench.voters`, panels a-d), who vote for their 2 favourites
as the bot counts reactions; the vote counts are the fitness of `ga.evolve` (population 8,
sigma 0.5, foreign 1: the bot's defaults). Targets are 2-bar windows of held-out tunes of the
corpus (never trained on; see `breeder bench model`) with at least 4 notes: for panels a-d
the reachable ones (encode -> decode gives them back note for note), for panel w (as b) the
tunes as written, reachable or not.

Strategies: `random` (a fresh random population every generation) and every strategy of
`engine.ga`, on paired trials: the same targets, first generation and voter noise.

Figures, per panel and strategy, at generations 0, 4, 8 and 12 (0 is the random first one):
the best group score of any candidate heard so far (similarity for a-c and w, standardised
utility for d), its median and mean over trials with bootstrap 95 % intervals; and `gens`,
the median number of generations until a candidate reaches the threshold (similarity 0.35 for
a-c and w: about the best of 88 random melodies, the level classic reaches in most breeds
within 12 generations; utility 2.5 for d, likewise), `>G` when most trials never do, with the
share that do.
Panels n and f (voters who want an attribute profile, `bench.voters.NudgingPanel`; in f the group
wants fewer notes than the model makes and agrees more) run every GA strategy twice on paired
trials, without and with the voters' nudges (S and S+nudges), and print the paired gain of the
nudges at generation 8 in sd of random candidates' utility.

Last line, for panel b: RESULT default_sim8 classic_sim8 random_sim8 (median best similarity at
generation 8) and default_gens classic_gens random_gens (median generations to the threshold,
generations + 1 when most trials never reach it); for panel n, nudge_gain8 (the default
strategy with nudges minus without, paired mean at generation 8, sd), its 95 % interval, and
nudge_headroom8 (the panel's ceiling, `bench.voters.NudgingPanel.best_possible`, minus the default
strategy's best at generation 8 without nudges: the most any gain could be, on the mean); for
panel f the same fields, prefixed f_.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from bench import voters
from runtime.exits import CONFIG_ERROR

if TYPE_CHECKING:
    from domain.model import Note
    from engine.sampling import LatentModel

CHECKPOINTS = (0, 4, 8, 12)
THRESHOLDS = {"a": 0.35, "b": 0.35, "c": 0.35, "d": 2.5, "w": 0.35, "n": 2.5, "f": 2.5}
ALL_PANELS = ("a", "b", "c", "d", "w", "n", "f")
UTILITY_PANELS = ("d", "n", "f")  # scored in sd of random candidates' utility, not similarity
NUDGING_PANELS = ("n", "f")  # run with and without the voters' nudges
SPARSE_DRAWS = 32  # panel f draws melodies of the prior this many at a time until one is sparse
NUDGED = "+nudges"
MIN_NOTES = 4
RANDOM = "random"
BOOTSTRAP = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=int, default=40, help="simulated breeds per panel and strategy (default 40)")
    parser.add_argument("--generations", type=int, default=12, help="generations per breed (default 12)")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--sigma", type=float, default=0.5, help="mutation sigma (default 0.5)")
    parser.add_argument("--foreign", type=int, default=1, help="fresh random candidates a generation (default 1)")
    parser.add_argument("--votes-each", type=int, default=2, help="candidates each voter votes for (default 2)")
    parser.add_argument("--panels", nargs="+", default=list(ALL_PANELS), choices=ALL_PANELS)
    parser.add_argument("--strategies", nargs="+", default=None,
                        help="default: random and every strategy of engine.ga")
    parser.add_argument("--heldout", type=Path, default=None,
                        help="held-out TFRecord (default: the one of `breeder bench model`, built if missing)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from bench.model import DEFAULT_HELDOUT, heldout_windows
    from engine import ga
    from engine import subspace as melody_subspace
    from engine.attributes import load as load_attributes
    from engine.errors import ModelError
    from engine.musicvae import MelodyVAE

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    strategies = tuple(args.strategies or (RANDOM, *ga.STRATEGIES))
    unknown = [name for name in strategies if name != RANDOM and name not in ga.STRATEGIES]
    if unknown:
        print(f"breeder bench converge: unknown strategy {', '.join(unknown)}; "
              f"known: {RANDOM}, {', '.join(ga.STRATEGIES)}")
        return CONFIG_ERROR
    if args.generations < 1 or args.trials < 1 or not 1 <= args.votes_each <= args.population:
        print("breeder bench converge: need at least 1 trial and generation, and 1 <= votes each <= population")
        return CONFIG_ERROR
    started = time.monotonic()
    try:
        model = MelodyVAE.load("cat-mel_2bar_small")  # the model as a worker runs it
    except ModelError as error:
        print(f"breeder bench converge: {error}")
        return CONFIG_ERROR
    subspace = melody_subspace.load()
    vectors = load_attributes()
    targets = None
    if set(args.panels) - set(UTILITY_PANELS):  # the utility panels need no held-out tunes
        windows = heldout_windows(args.heldout or DEFAULT_HELDOUT, model.config_name, 100_000, args.seed)
        targets = Targets.of(model, windows, args.seed)
        print(f"model {model.config_name}; {len(targets.written)} held-out 2-bar windows with >= {MIN_NOTES} "
              f"notes, {len(targets.reachable)} reachable (encode -> decode gives them back)")
    print(f"{args.trials} paired trials per panel: population {args.population}, sigma {args.sigma:g}, "
          f"foreign {args.foreign}, {args.votes_each} votes each, {args.generations} generations; "
          f"default strategy {ga.DEFAULT_STRATEGY!r}")
    checkpoints = [g for g in CHECKPOINTS if g <= args.generations]
    results: dict[str, dict[str, NDArray[np.float64]]] = {}
    ceilings: dict[str, NDArray[np.float64]] = {}  # nudging panels: the best score each trial's panel could give
    for panel_name in args.panels:
        nudging_panel_runs = panel_name in NUDGING_PANELS
        runs = [*strategies, *(s + NUDGED for s in strategies if s != RANDOM)] if nudging_panel_runs else strategies
        bests = {strategy: [] for strategy in runs}
        panel_ceilings, prior_bests = [], []
        for trial in range(args.trials):
            panel = make_panel(panel_name, model, targets, trial, args.seed)
            if nudging_panel_runs:
                panel_ceilings.append(panel.best_possible())
                prior_bests.append(float(panel.score(_prior_melodies(model, args.seed)).group.max()))
            first = ga.random_population(args.population, model.latent_size, np.random.default_rng([args.seed, trial]))
            for strategy in runs:
                nudging = vectors if strategy.endswith(NUDGED) else None
                bests[strategy].append(simulate(model, panel, strategy.removesuffix(NUDGED), first, args, trial,
                                                subspace, nudging))
        results[panel_name] = {strategy: np.stack(rows) for strategy, rows in bests.items()}
        report(panel_name, results[panel_name], checkpoints, args)
        if nudging_panel_runs:
            ceilings[panel_name] = np.array(panel_ceilings)
            print_headroom(results[panel_name], ceilings[panel_name], np.array(prior_bests), args.generations)
    print(f"({time.monotonic() - started:.0f} s)")
    fields = [result_line(results["b"], args.generations, ga.DEFAULT_STRATEGY)] if "b" in results else []
    for panel_name in (p for p in NUDGING_PANELS if p in results):
        fields.append(nudge_result(results[panel_name], ceilings[panel_name], args.generations, ga.DEFAULT_STRATEGY,
                                   prefix="" if panel_name == "n" else f"{panel_name}_"))
    if fields:
        print("RESULT " + " ".join(fields))
    model.close()
    return 0


@dataclass(frozen=True)
class Targets:
    """Held-out windows as notes: all of them (as written) and the reachable ones, in a seeded order."""

    written: list[list[Note]]
    reachable: list[list[Note]]

    @classmethod
    def of(cls, model: LatentModel, windows: NDArray[np.int64], seed: int) -> Targets:
        from engine.melody import tokens_to_notes

        rows = np.array([row for row in windows if len(tokens_to_notes(row)) >= MIN_NOTES])
        rows = rows[np.random.default_rng(seed).permutation(len(rows))]
        again = model.decode_tokens(model.encode_tokens(rows))
        same = (again == rows).all(axis=1)
        return cls([tokens_to_notes(row) for row in rows], [tokens_to_notes(row) for row in rows[same]])


def make_panel(name: str, model: LatentModel, targets: Targets | None, trial: int, seed: int):
    """The voter panel `name` of a trial: its tunes (or tastes) depend on the trial and seed only."""
    rng = np.random.default_rng([seed, trial, 3])
    if name == "n":
        return nudging_panel(model, rng, seed)
    if name == "f":
        return sparse_panel(model, rng, seed)
    if name == "d" or targets is None:
        return taste_panel(model, rng, seed)
    tune = targets.reachable[trial % len(targets.reachable)]
    if name == "a":
        return voters.TunePanel([tune])
    if name == "b":
        return voters.TunePanel([tune] * 5)
    if name == "c":
        return voters.TunePanel([voters.variant(tune, rng) for _ in range(5)])
    if name == "w":
        return voters.TunePanel([targets.written[trial % len(targets.written)]] * 5)
    return taste_panel(model, rng, seed)


def nudging_panel(model: LatentModel, rng: np.random.Generator, seed: int) -> voters.NudgingPanel:
    """Panel n: wanted profiles around those of a melody of the prior drawn with `rng`, attributes
    standardised over 256 other melodies of the prior."""
    from engine import ga
    from engine.attributes import measure_all

    values = measure_all(_prior_melodies(model, seed))
    mean, sd = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    while True:
        wanted = measure_all(model.decode(ga.random_population(1, model.latent_size, rng)))[0]
        if np.isfinite(wanted).all():
            break
    unscaled = voters.NudgingPanel(voters.wanted_profiles(5, (wanted - mean) / sd, rng), mean, sd)
    group = unscaled.utilities(_prior_melodies(model, seed)).mean(axis=0)
    return voters.NudgingPanel(unscaled.wanted, mean, sd, float(group.mean()), float(group.std()))


def sparse_panel(model: LatentModel, rng: np.random.Generator, seed: int) -> voters.NudgingPanel:
    """Panel f: close wanted profiles (0.2 sd apart) around that of a melody of the prior with at most
    `voters.FOLK_DENSITY` notes a bar, drawn with `rng`; attributes standardised as for panel n."""
    from engine import ga
    from engine.attributes import measure_all

    values = measure_all(_prior_melodies(model, seed))
    mean, sd = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    while True:
        drawn = measure_all(model.decode(ga.random_population(SPARSE_DRAWS, model.latent_size, rng)))
        index = voters.first_sparse(drawn)
        if index is not None:
            break
    wanted = voters.wanted_profiles(5, (drawn[index] - mean) / sd, rng, spread=voters.CLOSE_VOTERS)
    unscaled = voters.NudgingPanel(wanted, mean, sd)
    group = unscaled.utilities(_prior_melodies(model, seed)).mean(axis=0)
    return voters.NudgingPanel(wanted, mean, sd, float(group.mean()), float(group.std()))


def taste_panel(model: LatentModel, rng: np.random.Generator, seed: int) -> voters.TastePanel:
    """Panel d: tastes drawn with `rng`, features standardised over 256 melodies of the prior."""
    from engine import similarity

    melodies = _prior_melodies(model, seed)
    features = np.stack([similarity.melodic_features(m) for m in melodies])
    mean, sd = np.nanmean(features, axis=0), np.nanstd(features, axis=0)
    weights = voters.taste_weights(5, rng)
    unscaled = voters.TastePanel(weights, mean, sd, 0.0, 1.0)
    group = unscaled.utilities(melodies).mean(axis=0)
    return voters.TastePanel(weights, mean, sd, float(group.mean()), float(group.std()))


_PRIOR_CACHE: dict[int, list] = {}


def _prior_melodies(model: LatentModel, seed: int) -> list:
    if seed not in _PRIOR_CACHE:
        from engine import ga

        latents = ga.random_population(256, model.latent_size, np.random.default_rng([seed, 999]))
        _PRIOR_CACHE[seed] = model.decode(latents)
    return _PRIOR_CACHE[seed]


def simulate(model: LatentModel, panel, strategy: str, first: NDArray[np.float32], args: argparse.Namespace,
             trial: int, subspace, nudging=None) -> NDArray[np.float64]:
    """One simulated breed: the best group score heard so far, at generation 0 to the last.

    nudging: the attribute vectors, when the panel's voters nudge as well as vote.
    """
    from domain.nudges import combine
    from engine import ga

    ga_rng = np.random.default_rng([args.seed, trial, 1])
    voter_rng = np.random.default_rng([args.seed, trial, 2])
    ids = [str(i) for i in range(args.population)]
    latents = first
    history: list[tuple[NDArray[np.float32], NDArray[np.int64]]] = []
    best: list[float] = []
    for generation in range(args.generations + 1):
        melodies = model.decode(latents)
        scores = panel.score(melodies)
        best.append(max(float(scores.group.max()), best[-1] if best else -np.inf))
        if generation == args.generations:
            break
        fitness = voters.vote(scores.voters, args.votes_each, panel.noise, voter_rng)
        if strategy == RANDOM:
            following = ga.random_population(args.population, model.latent_size, ga_rng)
        else:
            shift = nudging.shift(combine(panel.nudges(melodies, fitness, nudging.names))) if nudging else None
            following = ga.evolve(latents, fitness, ids, sigma=args.sigma, foreign=args.foreign, rng=ga_rng,
                                  strategy=strategy, history=tuple(history), subspace=subspace,
                                  nudge=shift).latents
        history.append((latents, fitness))
        latents = following
    return np.array(best)


def generations_to(best: NDArray[np.float64], threshold: float) -> NDArray[np.float64]:
    """Per trial, the first generation whose best so far reaches `threshold` (inf if none)."""
    reached = best >= threshold
    return np.where(reached.any(axis=1), reached.argmax(axis=1), np.inf)


def bootstrap(values: NDArray[np.float64], statistic, seed: int = 0) -> tuple[float, float]:
    """The 95 % percentile interval of `statistic` over trials resampled with replacement."""
    rng = np.random.default_rng(seed)
    samples = [statistic(values[rng.integers(0, len(values), len(values))]) for _ in range(BOOTSTRAP)]
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def _gens_text(gens: NDArray[np.float64], generations: int) -> str:
    median = float(np.median(gens))
    return f">{generations}" if np.isinf(median) else f"{median:g}"


def report(panel: str, results: dict[str, NDArray[np.float64]], checkpoints: Sequence[int],
           args: argparse.Namespace) -> None:
    from engine import ga

    threshold = THRESHOLDS[panel]
    unit = "utility, sd of random candidates" if panel in UTILITY_PANELS else "similarity"
    label = voters.PANELS.get(panel, "5 voters, the same tune as written (maybe unreachable)")
    print(f"\npanel {panel}: {label}; best {unit} heard so far, median [95% CI] / mean [95% CI]; "
          f"gens to {threshold:g}")
    for strategy, best in results.items():
        cells = []
        for g in checkpoints:
            column = best[:, g]
            med_low, med_high = bootstrap(column, np.median)
            mean_low, mean_high = bootstrap(column, np.mean)
            cells.append(f"g{g} {np.median(column):.3f} [{med_low:.2f},{med_high:.2f}] / "
                         f"{column.mean():.3f} [{mean_low:.2f},{mean_high:.2f}]")
        gens = generations_to(best, threshold)
        reached = float(np.mean(np.isfinite(gens)))
        print(f"  {strategy:10} " + "  ".join(cells) +
              f"  gens {_gens_text(gens, args.generations)} ({reached:.0%} reach it)")
    default = ga.DEFAULT_STRATEGY
    at = min(8, args.generations)
    if default in results:
        for other in (o for o in ("classic", RANDOM) if o in results):
            a, b = results[default][:, at], results[other][:, at]
            if panel in UTILITY_PANELS:
                gain = float(np.mean(a - b))
                low, high = bootstrap(a - b, np.mean)
                print(f"  {default} - {other} at g{at}: {gain:+.2f} sd [{low:+.2f},{high:+.2f}] (paired mean)")
            else:
                ratio = float(np.median(a) / np.median(b))
                pairs = np.stack([a, b], axis=1)
                low, high = bootstrap(pairs, lambda p: np.median(p[:, 0]) / np.median(p[:, 1]))
                print(f"  {default} / {other} at g{at}: x{ratio:.2f} [x{low:.2f},x{high:.2f}] (medians)")


    if default + NUDGED in results:
        a, b = results[default + NUDGED][:, at], results[default][:, at]
        low, high = bootstrap(a - b, np.mean)
        print(f"  {default}{NUDGED} - {default} at g{at}: {np.mean(a - b):+.2f} sd [{low:+.2f},{high:+.2f}] "
              "(paired mean)")


def nudge_result(results: dict[str, NDArray[np.float64]], ceilings: NDArray[np.float64], generations: int,
                 default: str, prefix: str = "") -> str:
    """RESULT fields of a nudging panel: the paired gain of the default strategy's nudges at generation 8,
    and the headroom (how far below the panel's ceiling the default strategy is there without nudges)."""
    at = min(8, generations)
    gain = results[default + NUDGED][:, at] - results[default][:, at]
    low, high = bootstrap(gain, np.mean)
    headroom = np.mean(ceilings - results[default][:, at])
    key = f"{prefix}nudge_gain{at}"
    return (f"{key}={np.mean(gain):.2f} {key}_low={low:.2f} {key}_high={high:.2f} "
            f"{prefix}nudge_headroom{at}={headroom:.2f}")


def print_headroom(results: dict[str, NDArray[np.float64]], ceilings: NDArray[np.float64],
                   prior_bests: NDArray[np.float64], generations: int) -> None:
    """A nudging panel: how far below the panel's ceiling each strategy's best is, in the mean over trials."""
    at = min(8, generations)
    print(f"  ceiling (a melody with the profile best for the panel; none need exist): mean {ceilings.mean():.3f}; "
          f"the best of the 256 prior melodies: mean {prior_bests.mean():.3f}; mean distance below the ceiling "
          f"at g{at}:")
    for strategy, best in results.items():
        print(f"    {strategy:18} {np.mean(ceilings - best[:, at]):.3f} sd")


def result_line(results: dict[str, NDArray[np.float64]], generations: int, default: str) -> str:
    at = min(8, generations)
    fields = []
    for key, strategy in (("default", default), ("classic", "classic"), ("random", RANDOM)):
        if strategy in results:
            fields.append(f"{key}_sim{at}={np.median(results[strategy][:, at]):.4f}")
    for key, strategy in (("default", default), ("classic", "classic"), ("random", RANDOM)):
        if strategy in results:
            gens = generations_to(results[strategy], THRESHOLDS["b"])
            median = float(np.median(gens))
            fields.append(f"{key}_gens={generations + 1 if np.isinf(median) else median:g}")
    return " ".join(fields)
