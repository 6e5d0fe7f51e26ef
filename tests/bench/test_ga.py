"""The simulated voters and figures of `breeder bench ga`."""

from __future__ import annotations

import numpy as np

from bench.ga import cosine, lost_share, simulated_votes
from engine import ga
from entrypoints.cli import build_parser


def test_noiseless_voters_all_vote_for_the_candidates_closest_to_the_target():
    target = np.zeros(4)
    target[0] = 1.0
    latents = np.array([[0.1, 1, 0, 0], [1, 0.1, 0, 0], [-1, 0, 0, 0], [1, 1, 0, 0]], np.float32)
    votes = simulated_votes(latents, target, voters=5, votes_each=2, noise=0.0, rng=np.random.default_rng(0))
    assert votes.tolist() == [0, 5, 0, 5]
    assert cosine(latents, target)[1] > cosine(latents, target)[3]


def test_noisy_voters_cast_every_vote_and_disagree():
    latents = np.random.default_rng(1).standard_normal((8, 32)).astype(np.float32)
    target = latents[0] + 0.01
    votes = simulated_votes(latents, target, voters=50, votes_each=2, noise=0.5, rng=np.random.default_rng(2))
    assert votes.sum() == 100 and (votes > 0).sum() > 2 and votes.dtype == np.int64


def test_lost_counts_the_steps_whose_best_got_worse():
    best = np.array([[0.1, 0.2, 0.15, 0.3], [0.1, 0.1, 0.2, 0.2]])
    assert lost_share(best) == 1 / 6


def test_a_short_run_ends_with_a_result_line_for_every_strategy(capsys):
    args = build_parser().parse_args(["bench", "ga", "--trials", "3", "--generations", "10", "--latent-size", "32"])
    assert args.handler(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    result = lines[-1]
    assert result.startswith("RESULT ")
    figures = {key: float(value) for key, value in (pair.split("=") for pair in result.split()[1:])}
    for strategy in ga.STRATEGIES:
        assert {f"{strategy}_sim5", f"{strategy}_sim10", f"{strategy}_lost"} <= set(figures)
    assert "elitist_win10" in figures and "classic_win10" not in figures
    # Every strategy starts from the same generation 0 (paired trials), and voting gets closer than it.
    rows = {line.split()[0]: line.split() for line in lines if line.split() and line.split()[0] in ga.STRATEGIES}
    assert set(rows) == set(ga.STRATEGIES)
    start = {row[1] for row in rows.values()}
    assert len(start) == 1
    for strategy in ga.STRATEGIES:
        assert -1 <= float(next(iter(start))) < figures[f"{strategy}_sim10"] <= 1
        assert 0 <= figures[f"{strategy}_lost"] <= 1
