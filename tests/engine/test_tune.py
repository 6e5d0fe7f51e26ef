"""Tunes built by the shipped model from a theme: the form, the theme's place in it, the backing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from domain.model import Note
from engine.harmony import strong_beat_fit
from engine.midi import read_midi
from engine.pianoroll import MARGIN, TITLE_HEIGHT, TUNE_CHORD_HEIGHT, TUNE_LABEL_HEIGHT, tune_roll
from engine.subspace import load as load_subspace
from engine.tune import PHRASE_STEPS, build_tune

SUBSPACE = load_subspace()


def theme_latent(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(256).astype(np.float32)


def shifted(notes: list[Note], offset: int) -> list[Note]:
    return [Note(n.pitch, n.start - offset, n.end - offset) for n in notes
            if offset <= n.start < offset + PHRASE_STEPS]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_an_8_bar_tune_opens_with_the_winners_notes_and_brings_the_theme_back(melody_model, seed):
    theme = theme_latent(seed)
    winner = melody_model.decode(theme[None])[0]
    tune = build_tune(melody_model, theme, contrast=theme_latent(seed + 100), bars=8, backing="chords",
                      tempo=120, instrument=0, subspace=SUBSPACE, rng=np.random.default_rng(seed))
    assert shifted(tune.melody, 0) == winner
    assert [s.first_bar for s in tune.sections] == [1, 3, 5, 7] and tune.sections[0].label == "A"
    returns = [i for i, s in enumerate(tune.sections) if i > 0 and s.label == "A"]
    assert returns and all(shifted(tune.melody, i * PHRASE_STEPS) == winner for i in returns)
    assert max(n.end for n in tune.melody) <= 8 * 16
    assert max(tune.melody, key=lambda n: n.start).pitch % 12 == tune.key.tonic
    assert tune.chords[-1].is_tonic


def test_a_16_bar_band_tune_has_four_tracks_its_instruments_and_the_right_length(melody_model):
    theme_notes = [Note(p, 4 * i, 4 * i + 3) for i, p in enumerate([67, 72, 76, 79, 77, 74, 71, 67])]
    tune = build_tune(melody_model, melody_model.encode([theme_notes])[0], contrast=None, bars=16, backing="band",
                      tempo=90, instrument=65, subspace=SUBSPACE, rng=np.random.default_rng(7),
                      theme_notes=theme_notes)
    assert tune.melody[: len(theme_notes)] == theme_notes and tune.phrases[0] == theme_notes
    assert len(tune.sections) == 8 and tune.steps == 256
    music = read_midi(tune.midi)
    assert [(i.name, i.program, i.is_drum) for i in music.instruments] == [
        ("Melody", 65, False), ("Chords", 4, False), ("Bass", 33, False), ("Drums", 0, True),
    ]
    assert len(music.instruments[0].notes) == len(tune.melody)
    assert music.get_end_time() == pytest.approx(256 * 60 / 90 / 4, abs=0.01)
    hits, total = strong_beat_fit(tune.melody, tune.chords)
    assert total and hits / total >= 0.85


def test_without_backing_the_tune_is_one_track_and_has_no_chords(melody_model):
    tune = build_tune(melody_model, theme_latent(5), contrast=None, bars=8, backing="none", tempo=120, instrument=40,
                      subspace=None, rng=np.random.default_rng(0))
    music = read_midi(tune.midi)
    assert [i.program for i in music.instruments] == [40] and tune.chords == []


def test_the_same_generator_seed_builds_the_same_tune(melody_model):
    def build() -> bytes:
        return build_tune(melody_model, theme_latent(9), contrast=theme_latent(10), bars=8, backing="band",
                          tempo=120, instrument=0, subspace=SUBSPACE, rng=np.random.default_rng(3)).midi

    assert build() == build()


@pytest.mark.parametrize(("options", "message"), [({"bars": 12}, "8 or 16 bars"), ({"backing": "choir"}, "backing")])
def test_bad_options_are_refused(melody_model, options, message):
    arguments = {"bars": 8, "backing": "chords", **options}
    with pytest.raises(ValueError, match=message):
        build_tune(melody_model, theme_latent(0), contrast=None, tempo=120, instrument=0, subspace=SUBSPACE,
                   rng=np.random.default_rng(0), **arguments)


def test_the_tune_picture_shows_rows_of_eight_bars_and_chord_names_over_them(melody_model):
    def picture(bars: int, backing: str) -> np.ndarray:
        tune = build_tune(melody_model, theme_latent(4), contrast=None, bars=bars, backing=backing, tempo=120,
                          instrument=0, subspace=SUBSPACE, rng=np.random.default_rng(0))
        image = Image.open(io.BytesIO(tune_roll(tune)))
        assert image.format == "PNG" and image.width == 1000
        return np.asarray(image.convert("RGB"))

    def chord_name_pixels(pixels: np.ndarray) -> int:
        top = MARGIN + TITLE_HEIGHT + TUNE_LABEL_HEIGHT
        band = pixels[top : top + TUNE_CHORD_HEIGHT]
        return int(np.count_nonzero(np.all(band > 200, axis=-1)))  # the names are written in near-white

    with_chords, bare, long = picture(8, "chords"), picture(8, "none"), picture(16, "chords")
    assert chord_name_pixels(with_chords) > 100 and chord_name_pixels(bare) == 0
    assert long.shape[0] > 1.7 * with_chords.shape[0] - 2 * MARGIN - TITLE_HEIGHT  # two rows of 8 bars


@pytest.mark.parametrize("theme_notes", [[], [Note(62, 0, 32)]])
def test_a_silent_or_one_note_theme_still_makes_a_whole_tune(melody_model, theme_notes):
    tune = build_tune(melody_model, theme_latent(6), contrast=None, bars=8, backing="band", tempo=120, instrument=0,
                      subspace=SUBSPACE, rng=np.random.default_rng(0), theme_notes=theme_notes)
    assert tune.phrases[0] == theme_notes and len(tune.sections) == 4
    assert len(tune.chords) == 16 and read_midi(tune.midi).get_end_time() == pytest.approx(8 * 2.0, abs=0.01)
