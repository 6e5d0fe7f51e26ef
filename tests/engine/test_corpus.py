"""The train/held-out split of the corpus: by tune, whatever the transcription."""

from __future__ import annotations

from note_seq.protobuf import music_pb2

from training.corpus import Tune, split


def sequence(pitches: list[int], length: float = 0.25) -> music_pb2.NoteSequence:
    notes = music_pb2.NoteSequence()
    for i, pitch in enumerate(pitches):
        notes.notes.add(pitch=pitch, start_time=i * length, end_time=(i + 1) * length, velocity=90)
    return notes


OPENING = [69, 71, 73, 74, 76, 78, 76, 74, 73, 71, 69, 68, 69, 71]


def tune(title: str, pitches: list[int] = OPENING, collection: str = "oneills1850", key: str = "") -> Tune:
    return Tune(collection, key or title, sequence(pitches), title)


def first_held_out_title() -> str:
    return next(f"Reel number {i}" for i in range(1000) if tune(f"Reel number {i}").held_out)


def test_transcriptions_of_one_title_fall_on_the_same_side():
    for i in range(200):
        a = tune(f"The Rocky Road To Dublin {i}", key=f"1116-1135_ml/{i}")
        b = tune(f"rocky road to  dublin {i}!", key=f"1116-1135_mh/{i}", collection="ryansMammoth")
        assert a.split_key == b.split_key and a.held_out == b.held_out


def test_about_one_tune_in_twenty_is_held_out():
    held = sum(tune(f"Tune {i}").held_out for i in range(2000))
    assert 60 <= held <= 150


def test_an_untitled_tune_is_split_by_where_it_is():
    assert tune("", key="0001-0050/3").split_key == "oneills1850/0001-0050/3"


def test_the_opening_fingerprint_ignores_the_key_but_not_the_tune():
    transposed = tune("x", [p - 5 for p in OPENING])
    assert transposed.fingerprint == tune("y").fingerprint
    assert tune("z", OPENING[:-2] + [60, 61]).fingerprint != tune("y").fingerprint
    assert tune("short", OPENING[:5]).fingerprint is None


def test_a_training_tune_that_opens_like_a_held_out_one_is_left_out():
    held = tune(first_held_out_title())
    same_tune_other_title = tune("A Completely Different Name", [p + 2 for p in OPENING])
    other = tune("Another Tune", [60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62])
    assert not same_tune_other_title.held_out and not other.held_out
    training, held_out = split([held, same_tune_other_title, other])
    assert held_out == [held]
    assert training == [other]
