"""Audio clips from the real FluidSynth and the SoundFont that ships with pretty_midi."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

from domain.model import Note
from engine import midi
from engine.render import RELEASE_S, Renderer, RenderError, RenderUnavailable, default_soundfont

pytestmark = pytest.mark.slow

SCALE = [Note(60 + offset, 4 * i, 4 * i + 3) for i, offset in enumerate((0, 2, 4, 5, 7, 9, 11, 12))]
HELD = [Note(72, 0, 32)]  # sounds up to the very end of its clip
LATE = [Note(67, 16, 20)]  # silent for the whole first bar
TWO_BARS = 32


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    renderer = Renderer()
    renderer.check()
    return renderer


def decode(clip: bytes) -> tuple[np.ndarray, int]:
    samples, rate = soundfile.read(io.BytesIO(clip), dtype="float32", always_2d=True)
    return samples.mean(axis=1), rate


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0


def peak_dbfs(samples: np.ndarray) -> float:
    return 20 * float(np.log10(np.max(np.abs(samples))))


def clip_seconds(tempo: int, steps: int = TWO_BARS) -> float:
    return steps * 60 / tempo / 4


@pytest.fixture(scope="module")
def generation(renderer: Renderer) -> list[bytes]:
    return renderer.render_clips([SCALE, HELD, LATE, [], SCALE], tempo=120, instrument=0)


def test_one_decodable_ogg_clip_per_melody(generation):
    assert len(generation) == 5
    for clip in generation:
        assert clip[:4] == b"OggS"
        info = soundfile.info(io.BytesIO(clip))
        assert (info.format, info.subtype) == ("OGG", "VORBIS")
        assert info.samplerate == 44100
        assert len(clip) < 256 * 1024


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_clip_lasts_two_bars_plus_the_release(generation, index):
    samples, rate = decode(generation[index])
    assert len(samples) / rate == pytest.approx(clip_seconds(120) + RELEASE_S, abs=0.1)


def test_clip_length_follows_the_tempo(renderer):
    (slow,) = renderer.render_clips([SCALE], tempo=75, instrument=0)
    samples, rate = decode(slow)
    assert len(samples) / rate == pytest.approx(clip_seconds(75) + RELEASE_S, abs=0.1)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_clip_is_audible_and_normalised_to_minus_one_dbfs(generation, index):
    samples, _ = decode(generation[index])
    assert rms(samples) > 0.03
    assert peak_dbfs(samples) == pytest.approx(-1.0, abs=0.5)


def test_release_keeps_the_note_tail_and_fades_it_out(renderer):
    # String ensemble: a note held to the end of the clip rings on for a while after its note-off.
    (clip,) = renderer.render_clips([HELD], tempo=120, instrument=48)
    samples, rate = decode(clip)
    held_end = int(clip_seconds(120) * rate)
    assert rms(samples[held_end - int(0.1 * rate):held_end]) > 0.1
    assert rms(samples[held_end:held_end + int(0.05 * rate)]) > 0.05
    assert np.max(np.abs(samples[-int(0.01 * rate):])) < 0.01


def envelope(samples: np.ndarray, rate: int, frame_s: float = 0.05) -> np.ndarray:
    frame = int(frame_s * rate)
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    return np.sqrt(np.mean(np.square(frames), axis=1))


def test_identical_melodies_give_the_same_audio_wherever_they_are_in_the_batch(generation):
    # Compared as loudness envelopes: FluidSynth starts events on 64-sample blocks, so waveforms of
    # the same melody at other offsets in the batch are shifted by up to a millisecond and a half.
    first, rate = decode(generation[0])
    last, _ = decode(generation[4])
    assert len(first) == len(last)
    first_envelope, last_envelope = envelope(first, rate), envelope(last, rate)
    assert np.max(np.abs(first_envelope - last_envelope)) < 0.1 * np.max(first_envelope)


def test_silent_melody_gives_a_silent_clip_of_the_right_length(generation):
    samples, rate = decode(generation[3])
    assert len(samples) / rate == pytest.approx(clip_seconds(120) + RELEASE_S, abs=0.1)
    assert np.max(np.abs(samples)) < 1e-3


def test_clip_extends_to_a_note_that_ends_after_two_bars(renderer):
    (clip,) = renderer.render_clips([[Note(60, 30, 40)]], tempo=120, instrument=0)
    samples, rate = decode(clip)
    assert len(samples) / rate == pytest.approx(clip_seconds(120, 40) + RELEASE_S, abs=0.1)


def test_no_melodies_give_no_clips(renderer):
    assert renderer.render_clips([], tempo=120, instrument=0) == []


def test_render_midi_plays_the_whole_file(renderer):
    data = midi.melody_to_midi(SCALE + [Note(72, 40, 48)], 100, 40, steps=48)
    samples, rate = decode(renderer.render_midi(data))
    assert len(samples) / rate == pytest.approx(clip_seconds(100, 48) + RELEASE_S, abs=0.1)
    assert rms(samples) > 0.03
    assert peak_dbfs(samples) == pytest.approx(-1.0, abs=0.5)


def test_ogg_is_the_default_format_with_its_content_type():
    renderer = Renderer()
    assert (renderer.extension, renderer.content_type) == ("ogg", "audio/ogg")


def test_mp3_format_gives_decodable_mp3(renderer):
    mp3 = Renderer(audio_format="mp3")
    assert (mp3.extension, mp3.content_type) == ("mp3", "audio/mpeg")
    (clip,) = mp3.render_clips([SCALE], tempo=120, instrument=0)
    assert soundfile.info(io.BytesIO(clip)).format == "MP3"
    samples, _ = decode(clip)
    assert rms(samples) > 0.03


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="audio format"):
        Renderer(audio_format="flac")


def test_default_soundfont_is_the_one_pretty_midi_ships():
    path = default_soundfont()
    assert path.name == "TimGM6mb.sf2"
    assert path.is_file()


def test_missing_soundfont_is_reported_with_its_path(tmp_path: Path):
    missing = tmp_path / "nowhere.sf2"
    renderer = Renderer(missing)
    with pytest.raises(RenderUnavailable, match=f"soundfont not found: {missing}"):
        renderer.check()
    with pytest.raises(RenderUnavailable, match="soundfont not found"):
        renderer.render_clips([SCALE], tempo=120, instrument=0)


def test_a_file_that_is_not_a_soundfont_is_refused(tmp_path: Path):
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(100))
    with pytest.raises(RenderUnavailable, match="not a SoundFont"):
        Renderer(fake).check()


def test_missing_fluidsynth_says_what_to_install(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RenderUnavailable, match="apt-get install fluidsynth"):
        Renderer().check()


def test_damaged_soundfont_fails_loudly_instead_of_rendering_silence(tmp_path: Path):
    damaged = tmp_path / "damaged.sf2"
    damaged.write_bytes(default_soundfont().read_bytes()[:100_000])  # a valid header, then nothing
    renderer = Renderer(damaged)
    renderer.check()
    with pytest.raises(RenderError, match="Failed to load"):
        renderer.render_clips([SCALE], tempo=120, instrument=0)
