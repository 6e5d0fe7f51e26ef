"""The statistics `breeder bench model` judges a model by."""

from __future__ import annotations

import pytest

from bench.model import MelodyStats, in_key_share, melody_stats, relative_errors, verdict
from domain.model import Note


def run_of(pitches: list[int], length: int = 2) -> list[Note]:
    return [Note(p, i * length, (i + 1) * length) for i, p in enumerate(pitches)]


def test_a_scale_is_all_in_key_and_a_chromatic_run_is_not():
    assert in_key_share(run_of([60, 62, 64, 65, 67, 69, 71, 72])) == 1.0  # C major
    assert in_key_share(run_of([57, 59, 60, 62, 64, 65, 68, 69])) == 1.0  # A harmonic minor
    assert in_key_share(run_of(list(range(60, 72)))) == pytest.approx(7 / 12)


def test_melody_stats_measure_range_density_rests_and_repeats():
    # Two bars: eight notes of two steps, the last one repeated, then 16 steps of rest.
    stats = melody_stats([run_of([60, 62, 64, 65, 67, 69, 71, 71])])
    assert stats.pitch_range == 11
    assert stats.notes_per_bar == 4
    assert stats.rest_share == 0.5
    assert stats.repeated_pitch == pytest.approx(1 / 7)


def test_silent_melodies_count_as_rests_and_do_not_break_the_means():
    stats = melody_stats([[], run_of([60, 64], length=16)])
    assert stats.rest_share == 0.5 and stats.notes_per_bar == 0.5 and stats.in_key == 1.0


def test_a_degenerate_model_passes_in_key_but_fails_the_statistics():
    reference = MelodyStats(in_key=0.99, pitch_range=11, notes_per_bar=7, rest_share=0.05, repeated_pitch=0.1)
    one_note_repeated = melody_stats([run_of([60] * 16)])
    errors = relative_errors(one_note_repeated, reference)
    assert verdict(0.02, one_note_repeated, errors) == {
        "recon_acc": False, "in_key": True, "stats_max_rel_err": False,
    }
    assert verdict(0.9, reference, relative_errors(reference, reference)) == {
        "recon_acc": True, "in_key": True, "stats_max_rel_err": True,
    }
