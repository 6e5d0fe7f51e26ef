"""Attribute measures, and the shipped attribute vectors: their shapes, and each one's own effect."""

from __future__ import annotations

import numpy as np
import pytest

from domain.model import Note
from domain.nudges import ATTRIBUTES
from engine import attributes
from engine.attributes import AttributeVectors, measure

DENSITY, REGISTER, LEAPS, SYNCOPATION, RANGE = range(len(ATTRIBUTES))


def test_the_measures_of_a_small_melody_are_what_people_would_count() -> None:
    # C4 on beat 1, E4 from the second 16th held across beat 2 (syncopated), G4 on beat 3, C5 in bar 2.
    tune = [Note(60, 0, 1), Note(64, 1, 6), Note(67, 8, 12), Note(72, 16, 32)]
    values = measure(tune)
    assert values[DENSITY] == 2.0  # 4 notes in 2 bars
    assert values[REGISTER] == pytest.approx(65.75)
    assert values[LEAPS] == pytest.approx((4 + 3 + 5) / 3)
    assert values[SYNCOPATION] == pytest.approx(1 / 4)
    assert values[RANGE] == 12


def test_an_empty_melody_has_no_pitch_measures_and_no_density() -> None:
    values = measure([])
    assert values[DENSITY] == 0
    assert np.isnan(values[[REGISTER, LEAPS, SYNCOPATION, RANGE]]).all()
    assert np.isnan(measure([Note(60, 0, 32)])[LEAPS])


def test_the_shipped_vectors_have_a_vector_per_attribute_of_the_models_latent_size(melody_model) -> None:
    vectors = attributes.load()
    assert vectors.names == ATTRIBUTES
    assert vectors.vectors.shape == (len(ATTRIBUTES), melody_model.latent_size)
    assert np.isfinite(vectors.vectors).all() and (np.linalg.norm(vectors.vectors, axis=1) > 0).all()
    assert (vectors.sds > 0).all()


def test_combined_nudges_shift_by_the_sum_of_amount_times_vector() -> None:
    vectors = AttributeVectors(("density", "register"), np.array([[1.0, 0.0], [0.0, 2.0]]), np.ones(2))
    np.testing.assert_allclose(vectors.shift({"density": -2, "register": 0.5}), [-2.0, 1.0])
    assert vectors.shift({}) is None and vectors.shift({"density": 0.0}) is None
    with pytest.raises(KeyError, match="no attribute vector 'leaps'"):
        vectors.shift({"leaps": 1})


@pytest.mark.slow
@pytest.mark.parametrize("name", ATTRIBUTES)
def test_each_vector_moves_its_own_attribute_its_way_on_decoded_melodies(melody_model, name) -> None:
    vectors = attributes.load()
    index = ATTRIBUTES.index(name)
    prior = np.random.default_rng(5).standard_normal((96, melody_model.latent_size))
    up = attributes.measure_all(melody_model.decode(prior + vectors.vector(name)))[:, index]
    down = attributes.measure_all(melody_model.decode(prior - vectors.vector(name)))[:, index]
    change = np.nanmean(up) - np.nanmean(down)
    # +1 and -1 are two units apart: about two standard deviations when the vector does what it says.
    assert change > 0.5 * vectors.sds[index], f"{name}: +1 vs -1 changed it by {change:.3f}"


@pytest.mark.slow
def test_computed_vectors_round_trip_through_their_file(melody_model, tmp_path) -> None:
    from training.attributes import compute

    prior = np.random.default_rng(2).standard_normal((160, melody_model.latent_size))
    vectors, figures = compute(melody_model, melody_model.decode_tokens(prior), calibrate=24)
    path = attributes.save(vectors, tmp_path / "attributes.npz", **figures)
    loaded = attributes.load(path)
    assert loaded.names == ATTRIBUTES
    np.testing.assert_array_equal(loaded.vectors, vectors.vectors)
    np.testing.assert_array_equal(loaded.sds, vectors.sds)
