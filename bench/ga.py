"""`breeder bench ga`: how fast each GA strategy closes in on what a group wants, with simulated voters.

All in latent space: no model, no Redis. Cosine similarity of latents is not what people hear
(`breeder bench converge` decodes every candidate and scores the notes: judge strategies
there); this one stays because it runs in seconds without the model and counts `lost`, how
often a strategy loses the group's best, which the best-so-far figures of converge hide. The
`preference` strategy runs here without a melody subspace (the target is a latent vector).

Each trial draws a hidden target z* ~ N(0, I) (256 dimensions) and a random first generation
of 8. Each generation, 5 simulated voters vote for the 2 candidates they like best; the vote
counts are the fitness passed to `ga.evolve` (sigma 0.5, foreign 1, as the bot's defaults),
and the step repeats for 20 generations.

Voter model: a voter scores candidate x by its cosine similarity to the target, cos(x, z*),
plus their own judgement noise N(0, 0.03^2), drawn afresh for every voter, candidate and
generation, and votes for their 2 best-scored candidates. Two random 256-dimensional vectors
have a cosine similarity of about N(0, 1/256), so voters mostly agree on a random generation;
once the candidates are close to each other (and to z*), they disagree, as people do about
melodies they can hardly tell apart.

Trials are paired: every strategy sees the same targets, first generations and seeds.
Figures, per strategy:
  sim@g   the median over trials of the cosine similarity to z* of the generation's best
          candidate (the one closest to z*), at generation g (0 is the random first one)
  lost    the share of steps after which the best candidate is further from z* than the best
          of the generation before: the group lost its best melody
  win@10  (other strategies) the share of trials in which it is closer to z* than classic at 10

RESULT keys, for each strategy S: S_sim5, S_sim10, S_sim20 (sim@5, @10, @20), S_lost; and
S_win10 for each strategy other than classic.
"""

from __future__ import annotations

import argparse

import numpy as np
from numpy.typing import NDArray

from runtime.exits import CONFIG_ERROR

CHECKPOINTS = (5, 10, 20)
WIN_AT = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=int, default=400, help="simulated breeds per strategy (default 400)")
    parser.add_argument("--generations", type=int, default=20, help="generations per breed (default 20)")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--latent-size", type=int, default=256)
    parser.add_argument("--sigma", type=float, default=0.5, help="mutation sigma (default 0.5)")
    parser.add_argument("--foreign", type=int, default=1, help="fresh random candidates a generation (default 1)")
    parser.add_argument("--voters", type=int, default=5)
    parser.add_argument("--votes-each", type=int, default=2, help="candidates each voter votes for (default 2)")
    parser.add_argument("--voter-noise", type=float, default=0.03,
                        help="sd of a voter's judgement noise on cosine similarity (default 0.03)")
    parser.add_argument("--strategies", nargs="+", default=None, help="default: every strategy of engine.ga")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from engine import ga

    strategies = tuple(args.strategies or ga.STRATEGIES)
    unknown = [name for name in strategies if name not in ga.STRATEGIES]
    if unknown:
        print(f"breeder bench ga: unknown strategy {', '.join(unknown)}; known: {', '.join(ga.STRATEGIES)}")
        return CONFIG_ERROR
    if args.generations < 1 or args.trials < 1 or not 1 <= args.votes_each <= args.population:
        print("breeder bench ga: need at least 1 trial and generation, and 1 <= votes each <= population")
        return CONFIG_ERROR
    checkpoints = [g for g in CHECKPOINTS if g <= args.generations]
    # best[strategy][trial, generation]: cosine similarity of the generation's best candidate to the target.
    best = {
        strategy: np.stack([simulate(strategy, args, trial) for trial in range(args.trials)])
        for strategy in strategies
    }

    print(f"{args.trials} paired trials: population {args.population}, latent size {args.latent_size}, "
          f"sigma {args.sigma:g}, foreign {args.foreign}, {args.voters} voters x {args.votes_each} votes, "
          f"voter noise {args.voter_noise:g}")
    print("cosine similarity to the target of each generation's best candidate, median over trials (IQR)")
    header = "".join(f"{f'sim@{g}':>20}" for g in (0, *checkpoints))
    print(f"{'strategy':10}{header}{'lost':>8}{f'win@{WIN_AT}':>8}")
    results: list[str] = []
    for strategy, sims in best.items():
        cells = "".join(f"{_median_iqr(sims[:, g]):>20}" for g in (0, *checkpoints))
        lost = lost_share(sims)
        win_text = "-"
        results += [f"{strategy}_sim{g}={np.median(sims[:, g]):.4f}" for g in checkpoints]
        results.append(f"{strategy}_lost={lost:.4f}")
        if strategy != "classic" and "classic" in best and args.generations >= WIN_AT:
            win = float(np.mean(sims[:, WIN_AT] > best["classic"][:, WIN_AT]))
            win_text = f"{win:.0%}"
            results.append(f"{strategy}_win{WIN_AT}={win:.4f}")
        print(f"{strategy:10}{cells}{lost:8.1%}{win_text:>8}")
    print("lost: share of steps whose best candidate is further from the target than the previous best; "
          f"win@{WIN_AT}: share of trials closer than classic at generation {WIN_AT}")
    print("RESULT " + " ".join(results))
    return 0


def simulate(strategy: str, args: argparse.Namespace, trial: int) -> NDArray[np.float64]:
    """One simulated breed: the best candidate's cosine similarity to the target, generation 0 to the last."""
    from engine import ga

    world = np.random.default_rng([args.seed, trial, 0])
    target = world.standard_normal(args.latent_size)
    latents = ga.random_population(args.population, args.latent_size, world)
    ga_rng = np.random.default_rng([args.seed, trial, 1])
    voter_rng = np.random.default_rng([args.seed, trial, 2])
    ids = [str(i) for i in range(args.population)]
    best = [float(cosine(latents, target).max())]
    history: list[tuple[NDArray[np.float32], NDArray[np.int64]]] = []
    for _ in range(args.generations):
        fitness = simulated_votes(latents, target, args.voters, args.votes_each, args.voter_noise, voter_rng)
        offspring = ga.evolve(latents, fitness, ids, sigma=args.sigma, foreign=args.foreign, rng=ga_rng,
                              strategy=strategy, history=tuple(history))
        history.append((latents, fitness))
        latents = offspring.latents
        best.append(float(cosine(latents, target).max()))
    return np.array(best)


def cosine(latents: NDArray[np.floating], target: NDArray[np.floating]) -> NDArray[np.float64]:
    """The cosine similarity of each row of `latents` to `target`."""
    rows = np.asarray(latents, dtype=np.float64)
    return rows @ target / (np.linalg.norm(rows, axis=1) * np.linalg.norm(target))


def simulated_votes(
    latents: NDArray[np.floating],
    target: NDArray[np.floating],
    voters: int,
    votes_each: int,
    noise: float,
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """Vote counts: each voter votes for the `votes_each` candidates of best cos(x, target) + N(0, noise^2)."""
    scores = cosine(latents, target)[np.newaxis, :] + rng.normal(0.0, noise, (voters, latents.shape[0]))
    chosen = np.argsort(-scores, axis=1, kind="stable")[:, :votes_each]
    return np.bincount(chosen.ravel(), minlength=latents.shape[0]).astype(np.int64)


def lost_share(best: NDArray[np.float64]) -> float:
    """The share of steps (over trials) whose best similarity is below the previous generation's."""
    return float(np.mean(np.diff(best, axis=1) < 0))


def _median_iqr(values: NDArray[np.float64]) -> str:
    low, median, high = np.percentile(values, [25, 50, 75])
    return f"{median:.3f} ({low:.3f}-{high:.3f})"
