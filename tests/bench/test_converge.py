"""The pieces of `breeder bench converge`: the melody similarity, the voters, and a tiny run."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from bench import converge, voters
from domain.model import Note
from engine import similarity

TUNE = [Note(67, 0, 4), Note(69, 4, 6), Note(71, 6, 8), Note(72, 8, 12), Note(71, 12, 16),
        Note(69, 16, 20), Note(67, 20, 24), Note(64, 24, 32)]
OTHER = [Note(50, 0, 2), Note(57, 3, 5), Note(54, 5, 11), Note(52, 11, 14), Note(61, 14, 22), Note(59, 26, 30)]


def test_identical_melodies_score_one_and_silence_scores_zero_against_a_melody():
    assert similarity.similarity(TUNE, TUNE) == 1.0
    assert similarity.similarity([], []) == 1.0
    assert similarity.similarity(TUNE, []) == 0.0


def test_a_transposed_copy_scores_high_but_below_the_melody_itself():
    up_a_fourth = [Note(n.pitch + 5, n.start, n.end) for n in TUNE]
    assert similarity.similarity(TUNE, up_a_fourth) == pytest.approx(similarity.TRANSPOSED_CREDIT)


def test_unrelated_melodies_score_lower_than_a_variant():
    rng = np.random.default_rng(0)
    variant = voters.variant(TUNE, rng)
    assert similarity.similarity(TUNE, OTHER) < 0.3 < similarity.similarity(TUNE, variant) < 1.0


def test_a_shifted_rhythm_loses_the_notes_but_keeps_some_frames():
    late = [Note(n.pitch, n.start + 1, min(n.end + 1, 32)) for n in TUNE]
    assert 0.2 < similarity.similarity(TUNE, late) < 0.6


def test_features_of_a_melody_and_of_silence():
    features = dict(zip(similarity.FEATURES, similarity.melodic_features(TUNE), strict=True))
    assert features["stepwise"] == pytest.approx(6 / 7)  # every interval but the last third
    assert features["syncopation"] == 0.0 and features["density"] == 4.0 and features["range"] == 8
    c_major = [Note(p, 4 * i, 4 * i + 4) for i, p in enumerate([60, 64, 67, 72, 67, 64, 62, 60])]
    a_minor = [Note(p, 4 * i, 4 * i + 4) for i, p in enumerate([57, 60, 64, 68, 69, 64, 60, 57])]
    minor = similarity.FEATURES.index("minor")
    assert similarity.melodic_features(c_major)[minor] < 0 < similarity.melodic_features(a_minor)[minor]
    assert np.isnan(similarity.melodic_features([])).all()


def test_each_voter_votes_for_their_top_k_once_each():
    scores = np.array([[0.9, 0.1, 0.8, 0.2], [0.1, 0.9, 0.8, 0.3], [0.5, 0.4, 0.3, 0.6]])
    votes = voters.vote(scores, 2, 0.0, np.random.default_rng(0))
    assert votes.tolist() == [2, 1, 2, 1] and votes.dtype == np.int64
    noisy = voters.vote(np.zeros((5, 8)), 2, 0.3, np.random.default_rng(1))
    assert noisy.sum() == 10 and noisy.max() <= 5


def test_tune_panels_score_per_voter_and_for_the_group():
    panel = voters.TunePanel([TUNE, OTHER])
    scores = panel.score([TUNE, OTHER, []])
    assert scores.voters.shape == (2, 3)
    assert scores.voters[0, 0] == 1.0 and scores.voters[1, 1] == 1.0
    assert np.allclose(scores.group, scores.voters.mean(axis=0))


def test_taste_weights_are_unit_length_and_share_a_taste():
    weights = voters.taste_weights(5, np.random.default_rng(0))
    assert np.allclose(np.linalg.norm(weights, axis=1), 1.0)
    assert (weights @ weights.T).min() > -0.5


def test_generations_to_threshold_counts_from_the_first_generation():
    best = np.array([[0.1, 0.3, 0.5], [0.5, 0.5, 0.5], [0.1, 0.1, 0.2]])
    assert converge.generations_to(best, 0.4).tolist() == [2, 0, np.inf]


@pytest.mark.slow
def test_a_tiny_run_prints_a_result_line_with_every_key(melody_model, monkeypatch, capsys):
    from bench import model as bench_model
    from engine import ga

    # Stand-in targets: decoded prior samples, so the test needs no corpus dataset.
    latents = ga.random_population(40, melody_model.latent_size, np.random.default_rng(0))
    monkeypatch.setattr(bench_model, "heldout_windows", lambda *args: melody_model.decode_tokens(latents))
    parser = argparse.ArgumentParser()
    converge.add_arguments(parser)
    args = parser.parse_args(["--trials", "2", "--generations", "2", "--panels", "b", "d",
                              "--strategies", "random", "classic", ga.DEFAULT_STRATEGY])
    assert converge.run(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("RESULT ")
    figures = dict(field.split("=") for field in lines[-1].split()[1:])
    assert list(figures) == ["default_sim2", "classic_sim2", "random_sim2", "default_gens", "classic_gens",
                             "random_gens"]
    # Paired trials: in each panel every strategy starts from the same generation 0; the best so far never drops.
    starts: dict[str, set[float]] = {}
    panel = ""
    for line in lines:
        if line.startswith("panel "):
            panel = line.split()[1].rstrip(":")
        elif panel and line.split()[:1] in (["random"], ["classic"], [ga.DEFAULT_STRATEGY]) and line.split()[1] == "g0":
            starts.setdefault(panel, set()).add(float(line.split()[2]))
    assert set(starts) == {"b", "d"} and all(len(values) == 1 for values in starts.values())
    [start_b] = starts["b"]
    for key in ("default_sim2", "classic_sim2", "random_sim2"):
        assert start_b <= float(figures[key]) <= 1
    for key in ("default_gens", "classic_gens", "random_gens"):
        assert 0 <= float(figures[key]) <= 3


def test_nudging_voters_step_towards_the_attribute_furthest_from_what_they_want():
    from domain.nudges import ATTRIBUTES
    from engine.attributes import measure

    values = measure(TUNE)  # density 4, register 69.25, leaps 1.71..., syncopation 0, range 8
    mean, sd = values.copy(), np.ones(len(ATTRIBUTES))
    wanted = np.zeros((3, len(ATTRIBUTES)))
    wanted[0, 0] = -3.0  # far fewer notes: a step of 0.3 x 3, at most 0.5
    wanted[1, 1] = 1.0  # a little higher: 0.3
    wanted[2, 4] = 0.2  # close enough: no nudge
    panel = voters.NudgingPanel(wanted, mean, sd)
    given = panel.nudges([OTHER, TUNE], np.array([0, 3]), ATTRIBUTES)
    assert given == [("0", "density", -0.5), ("1", "register", pytest.approx(0.3))]
    assert panel.utilities([TUNE])[:, 0] == pytest.approx([-3 / np.sqrt(5), -1 / np.sqrt(5), -0.2 / np.sqrt(5)])


def test_the_nudging_panels_ceiling_is_the_best_profile_and_no_melody_passes_it():
    from domain.nudges import ATTRIBUTES
    from engine.attributes import measure

    values = measure(TUNE)
    agreeing = voters.NudgingPanel(np.zeros((3, len(ATTRIBUTES))), values, np.ones(len(ATTRIBUTES)))
    assert agreeing.best_possible() == pytest.approx(0.0)  # all want exactly TUNE's profile
    assert agreeing.score([TUNE]).group[0] == pytest.approx(0.0)
    wanted = np.random.default_rng(4).standard_normal((5, len(ATTRIBUTES)))
    panel = voters.NudgingPanel(wanted, values, np.ones(len(ATTRIBUTES)), group_mean=-1.0, group_sd=0.5)
    # A melody with exactly one voter's profile, or the mean profile, is no better than the ceiling.
    for profile in (*wanted, wanted.mean(axis=0)):
        utility = -np.sqrt(((wanted - profile) ** 2).mean(axis=1)).mean()
        assert (utility + 1.0) / 0.5 <= panel.best_possible() + 1e-9


@pytest.mark.slow
def tiny_run(panel: str, capsys) -> tuple[list[str], dict[str, float]]:
    """The lines a 2-trial, 2-generation run of the default strategy on `panel` prints, and its RESULT figures."""
    from engine import ga

    parser = argparse.ArgumentParser()
    converge.add_arguments(parser)
    args = parser.parse_args(["--trials", "2", "--generations", "2", "--panels", panel,
                              "--strategies", ga.DEFAULT_STRATEGY])
    assert converge.run(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    return lines, {key: float(value) for key, value in (field.split("=") for field in lines[-1].split()[1:])}


def test_a_tiny_nudging_run_reports_a_gain_no_larger_than_the_headroom(melody_model, capsys):
    _, figures = tiny_run("n", capsys)
    assert list(figures) == ["nudge_gain2", "nudge_gain2_low", "nudge_gain2_high", "nudge_headroom2"]
    assert figures["nudge_gain2_low"] <= figures["nudge_gain2"] <= figures["nudge_gain2_high"]
    assert figures["nudge_gain2"] <= figures["nudge_headroom2"] + 0.01  # rounding to 2 decimals


def test_the_first_sparse_melody_has_every_attribute_and_few_enough_notes():
    from domain.nudges import ATTRIBUTES

    density = ATTRIBUTES.index("density")
    values = np.ones((4, len(ATTRIBUTES)))
    values[:, density] = [8.0, 3.0, 4.0, 2.5]
    values[1, ATTRIBUTES.index("leaps")] = np.nan  # too few notes to measure: not a profile to want
    assert voters.first_sparse(values) == 2
    assert voters.first_sparse(values, density=2.5) == 3
    assert voters.first_sparse(values[:2]) is None


def test_close_voters_spread_less_and_panel_n_keeps_its_draws():
    shared = np.array([-1.5, 0.0, 0.2, 0.1, -0.9])
    close = voters.wanted_profiles(2000, shared, np.random.default_rng(0), spread=voters.CLOSE_VOTERS)
    assert np.allclose(close.mean(axis=0), shared, atol=0.02)
    assert np.allclose(close.std(axis=0), voters.CLOSE_VOTERS, atol=0.02)
    assert np.array_equal(voters.wanted_profiles(5, shared, np.random.default_rng(1)),
                          voters.wanted_profiles(5, shared, np.random.default_rng(1), spread=0.5))


@pytest.mark.slow
def test_the_sparse_panel_wants_fewer_notes_and_its_ceiling_is_above_random_melodies(melody_model):
    from domain.nudges import ATTRIBUTES
    from engine.attributes import measure_all

    density = ATTRIBUTES.index("density")
    prior = converge._prior_melodies(melody_model, 0)
    prior_density = measure_all(prior)[:, density]
    for trial in range(3):
        panel = converge.make_panel("f", melody_model, None, trial, 0)
        wanted_notes = panel.wanted[:, density] * panel.sd[density] + panel.mean[density]
        assert np.median(wanted_notes) <= voters.FOLK_DENSITY + 0.5 < np.median(prior_density)
        scores = panel.score(prior).group
        assert scores.mean() == pytest.approx(0.0, abs=1e-9) and scores.std() == pytest.approx(1.0)
        # The group likes sparse melodies of the prior better than dense ones, and none as much as its ceiling.
        sparse = prior_density <= np.median(prior_density)
        assert scores[sparse].mean() > scores[~sparse].mean() + 0.5
        assert scores.max() < panel.best_possible()


@pytest.mark.slow
def test_a_tiny_sparse_panel_run_pairs_its_trials_and_reports_its_own_fields(melody_model, capsys):
    from engine import ga

    lines, figures = tiny_run("f", capsys)
    # Without and with nudges the breeds start from the same first generation, heard by the same panel.
    starts = {line.split()[0]: line.split()[2] for line in lines if line.split()[1:2] == ["g0"]}
    assert set(starts) == {ga.DEFAULT_STRATEGY, ga.DEFAULT_STRATEGY + converge.NUDGED}
    assert len(set(starts.values())) == 1
    assert list(figures) == ["f_nudge_gain2", "f_nudge_gain2_low", "f_nudge_gain2_high", "f_nudge_headroom2"]
    assert figures["f_nudge_gain2_low"] <= figures["f_nudge_gain2"] <= figures["f_nudge_gain2_high"]
    assert figures["f_nudge_gain2"] <= figures["f_nudge_headroom2"] + 0.01
    assert figures["f_nudge_headroom2"] > 0
