"""Audio clips from the real FluidSynth (in-process) and the default General MIDI SoundFont."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile

from domain.model import Note
from engine import midi
from engine.render import (
    LOUDNESS_LUFS,
    PEAK_DBFS,
    RELEASE_S,
    SAMPLE_RATE,
    Renderer,
    RenderError,
    RenderUnavailable,
    default_soundfont,
    shipped_soundfont,
)

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


def loudness(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness (ITU-R BS.1770) in LUFS."""
    import pyloudnorm

    return float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))


def peak_dbfs(samples: np.ndarray) -> float:
    return 20 * float(np.log10(np.max(np.abs(samples))))


def clip_seconds(tempo: int, steps: int = TWO_BARS) -> float:
    return steps * 60 / tempo / 4


@pytest.fixture(scope="module")
def generation(renderer: Renderer) -> list[bytes]:
    return renderer.render_clips([SCALE, HELD, LATE, [], SCALE], tempo=120, instrument=0)


def test_one_decodable_ogg_opus_clip_per_melody(generation):
    assert len(generation) == 5
    for clip in generation:
        assert clip[:4] == b"OggS" and b"OpusHead" in clip[:64]
        info = soundfile.info(io.BytesIO(clip))
        assert (info.format, info.subtype) == ("OGG", "OPUS")
        assert info.samplerate == SAMPLE_RATE == 48000
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
def test_clip_is_audible_at_the_loudness_and_under_the_peak_ceiling(generation, index):
    samples, rate = decode(generation[index])
    assert loudness(samples, rate) == pytest.approx(LOUDNESS_LUFS, abs=1.0)
    assert peak_dbfs(samples) <= PEAK_DBFS + 0.5


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
    # Compared as loudness envelopes: the encoder's output may differ in the last bits.
    first, rate = decode(generation[0])
    last, _ = decode(generation[4])
    assert len(first) == len(last)
    first_envelope, last_envelope = envelope(first, rate), envelope(last, rate)
    assert np.max(np.abs(first_envelope - last_envelope)) < 0.02 * np.max(first_envelope)


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
    assert loudness(samples, rate) == pytest.approx(LOUDNESS_LUFS, abs=1.0)


def test_ogg_is_the_default_format_with_its_content_type():
    renderer = Renderer()
    assert (renderer.extension, renderer.content_type) == ("ogg", "audio/ogg")


def test_the_same_melody_encodes_to_the_same_bytes_in_another_renderer():
    # No random Ogg serial number or encoder version: a job done twice writes the same file. Two new
    # renderers: a synthesiser that played other notes first renders a note that differs by about -90 dB
    # (its voices' filters), which is inaudible but can change the encoded bytes.
    first, again = Renderer(), Renderer()
    assert again.render_clips([SCALE], tempo=120, instrument=0) == first.render_clips([SCALE], 120, 0)


def test_a_note_sounds_the_same_whatever_the_synthesiser_played_before_it():
    from engine.render import default_soundfont
    from engine.synth import Synth

    note = [(0, 60, 100), (64 * 300, 60, 0)]
    synth = Synth(default_soundfont(), 48_000, 0.5)
    first = synth.play(0, (), 0, note, -80.0, 48_000 * 8)
    for pitch in range(50, 70):  # other notes, another instrument, seconds of the reverb's clock
        synth.play(0, (), 48, [(0, pitch, 80), (64 * 100, pitch, 0)], -80.0, 48_000 * 8)
    later = synth.play(0, (), 0, note, -80.0, 48_000 * 8)
    assert len(later) == len(first)
    # Without the reverb's clock restarted it differed by a twentieth of the note's peak (about -25 dB).
    assert np.abs(later - first).max() < 1e-4 * np.abs(first).max()


def test_opus_clips_are_as_loud_as_the_vorbis_clips_before_them_and_about_as_big(renderer):
    vorbis = Renderer(audio_format="vorbis")
    (before,) = vorbis.render_clips([SCALE], tempo=120, instrument=0)
    assert soundfile.info(io.BytesIO(before)).subtype == "VORBIS"
    (now,) = renderer.render_clips([SCALE], tempo=120, instrument=0)
    # 96 kbit/s: a fifth more bytes than Vorbis took for the same clip (docs/sound.md), not half as many again.
    assert 0.67 < len(now) / len(before) < 1.5
    heard_before, rate_before = decode(before)
    heard_now, rate_now = decode(now)
    assert abs(loudness(heard_now, rate_now) - loudness(heard_before, rate_before)) < 0.5


def test_opus_at_a_rate_it_does_not_code_is_refused():
    with pytest.raises(ValueError, match="Opus is encoded at .*48000 Hz, not 44100"):
        Renderer(sample_rate=44100)
    assert Renderer(sample_rate=44100, audio_format="vorbis").sample_rate == 44100


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


def test_default_soundfont_is_the_full_general_midi_one_that_make_installs():
    path = default_soundfont()
    assert path.name == "FluidR3_GM.sf2"
    assert path.is_file() and path.stat().st_size > 100_000_000


def test_without_a_full_soundfont_the_one_pretty_midi_ships_is_used(tmp_path: Path):
    fallback = default_soundfont(installed=[tmp_path / "FluidR3_GM.sf2"])
    assert fallback == shipped_soundfont() and fallback.name == "TimGM6mb.sf2"
    (clip,) = Renderer(fallback).render_clips([SCALE], tempo=120, instrument=0)
    samples, rate = decode(clip)
    assert loudness(samples, rate) == pytest.approx(LOUDNESS_LUFS, abs=1.0)


def test_the_soundfont_setting_chooses_the_soundfont_a_worker_renders_with(renderer, monkeypatch):
    from runtime.settings import WorkerSettings

    monkeypatch.setenv("SOUNDFONT", str(shipped_soundfont()))
    chosen = Renderer(WorkerSettings(_env_file=None).soundfont)  # as breeder worker makes its renderer
    assert chosen.soundfont == shipped_soundfont() != renderer.soundfont
    ours, default = (np.asarray(soundfile.read(io.BytesIO(r.render_clips([SCALE], 120, 0)[0]))[0])
                     for r in (chosen, renderer))
    assert ours.shape == default.shape and not np.allclose(ours, default, atol=1e-3)  # another piano


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


def test_damaged_soundfont_fails_loudly_instead_of_rendering_silence(tmp_path: Path):
    damaged = tmp_path / "damaged.sf2"
    damaged.write_bytes(shipped_soundfont().read_bytes()[:100_000])  # a valid header, then nothing
    renderer = Renderer(damaged)
    with pytest.raises(RenderError, match="failed to load the SoundFont"):
        renderer.check()
    with pytest.raises(RenderError, match="failed to load the SoundFont"):
        renderer.render_clips([SCALE], tempo=120, instrument=0)


SPARSE = [Note(64, 0, 2), Note(67, 24, 26)]  # two short notes in two bars
DENSE = [Note(60 + (5 * i) % 14, i, i + 1) for i in range(32)]  # a sixteenth on every step
CLUSTER = [Note(pitch, 0, 32) for pitch in range(48, 84, 2)]  # 18 notes at once: the loudest peaks


@pytest.mark.parametrize("rate", [48000, 44100, 11025])  # 11025: 100 ms is not a whole number of samples
def test_the_loudness_measure_is_pyloudnorms(renderer, rate):
    from engine.render import loudness as measured

    rng = np.random.default_rng(rate)
    (band,) = renderer.render_samples([midi.melody_to_midi(SCALE, 120, 0)], levelled=False)
    signals = [band, rng.standard_normal(rate * 3).astype(np.float32) * 0.1,  # 3 s of noise
               (rng.standard_normal(rate // 4) * 0.2).astype(np.float32),  # shorter than one 400 ms block
               np.concatenate([np.zeros(rate, np.float32), band[: rate * 2]])]  # a second of silence first
    for signal in signals:
        # pyloudnorm refuses less than a block; ours measures it with silence after it, as said.
        padded = np.concatenate([signal, np.zeros(max(0, round(0.4 * rate) - len(signal)), np.float32)])
        assert measured(signal, rate) == pytest.approx(loudness(padded, rate), abs=1e-3)
    assert measured(np.zeros(rate, np.float32), rate) == float("-inf")


def test_sparse_and_dense_melodies_are_equally_loud(renderer):
    clips = renderer.render_clips([SPARSE, DENSE, SCALE, HELD], tempo=120, instrument=0)
    levels = [loudness(*decode(clip)) for clip in clips]
    assert max(levels) - min(levels) < 1.0
    assert all(level == pytest.approx(LOUDNESS_LUFS, abs=1.0) for level in levels)


@pytest.mark.parametrize("instrument", [0, 24, 56, 73])  # piano, guitar, trumpet, flute
def test_every_instrument_is_levelled_to_the_same_loudness(renderer, instrument):
    (clip,) = renderer.render_clips([SCALE], tempo=120, instrument=instrument)
    assert loudness(*decode(clip)) == pytest.approx(LOUDNESS_LUFS, abs=1.0)


def test_a_cluster_of_notes_does_not_clip(renderer):
    from scipy.signal import resample_poly

    (clip,) = renderer.render_clips([CLUSTER], tempo=120, instrument=0)
    samples, _ = decode(clip)
    true_peak = np.max(np.abs(resample_poly(samples, 4, 1)))  # between the samples, as a DAC plays it
    # The limiter holds -1 dBFS; the Vorbis encoder may overshoot that by a fraction of a decibel.
    assert np.max(np.abs(samples)) < 1.0 and true_peak < 1.0


def band_midi() -> bytes:
    """Melody, bass and drums (General MIDI channel 10) in three tracks, as a tune with backing is written."""
    song = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    melody = pretty_midi.Instrument(program=73, name="melody")
    melody.notes = [pretty_midi.Note(100, 72 + (i % 5), i * 0.25, i * 0.25 + 0.25) for i in range(16)]
    bass = pretty_midi.Instrument(program=33, name="bass")
    bass.notes = [pretty_midi.Note(90, 36 + 7 * (i % 2), i * 1.0, i * 1.0 + 0.9) for i in range(4)]
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    drums.notes = [pretty_midi.Note(100, 36 if i % 2 == 0 else 38, i * 0.5, i * 0.5 + 0.1) for i in range(8)]
    song.instruments.extend([melody, bass, drums])
    buffer = io.BytesIO()
    song.write(buffer)
    return buffer.getvalue()


def test_a_little_reverb_rings_on_after_a_short_note(renderer):
    from engine.synth import Synth

    rate = renderer.sample_rate
    data = midi.melody_to_midi([Note(72, 0, 1)], 120, 0, TWO_BARS)  # one sixteenth: 0.125 s

    def levels(reverb: bool) -> tuple[float, float]:
        """dB of the note, and of its tail 0.5-1 s after it started (past the piano's own release)."""
        synth = Synth(renderer.soundfont, rate, 0.5, reverb=reverb)
        try:
            audio = synth.render(data, rate * 2)
        finally:
            synth.close()
        note, tail = audio[: rate // 8], audio[rate // 2: rate]
        return tuple(20 * np.log10(np.sqrt(np.mean(part ** 2)) + 1e-12) for part in (note, tail))

    (note, wet), (dry_note, dry) = levels(True), levels(False)  # the renderer's synthesiser has the reverb on
    assert abs(note - dry_note) < 1
    assert wet > dry + 10  # the room rings on where the dry piano has stopped
    assert wet < note - 30  # a little: a small room, not a hall


@pytest.mark.parametrize("mode", ["cache", "fluidsynth"])
def test_a_render_starts_from_silence_whatever_rang_before(mode):
    """A clip cut short leaves voices in their release and the reverb's tail: none of it reaches the next one."""
    renderer = Renderer(mode=mode)
    synth = renderer.synth()
    synth.render(band_midi(), renderer.sample_rate)  # cut after one second, every part sounding
    late = midi.melody_to_midi([Note(60, 16, 20)], 120, 0, TWO_BARS)  # silent for its first bar
    before_the_note = synth.render(late, renderer.sample_rate)
    assert np.max(np.abs(before_the_note)) < 1e-4  # -80 dBFS before levelling (it was -14 dBFS)
    (clip,) = renderer.render_samples([late], levelled=False)
    assert np.max(np.abs(clip[: renderer.sample_rate])) < 1e-4


def test_render_midi_plays_a_multitrack_general_midi_file_with_drums(renderer):
    data = band_midi()
    samples, rate = decode(renderer.render_midi(data))
    assert len(samples) / rate == pytest.approx(4.0 + RELEASE_S, abs=0.1)
    assert loudness(samples, rate) == pytest.approx(LOUDNESS_LUFS, abs=1.0)
    # The drums alone sound: channel 10 plays the drum kit.
    song = pretty_midi.PrettyMIDI(io.BytesIO(data))
    song.instruments = [track for track in song.instruments if track.is_drum]
    buffer = io.BytesIO()
    song.write(buffer)
    drums, _ = decode(renderer.render_midi(buffer.getvalue()))
    hits = envelope(drums, rate, 0.5)[:8]  # a kick or a snare at the start of every half second
    assert (hits > 0.02).all()


def test_loading_the_synthesiser_prints_nothing_even_under_ci(tmp_path: Path):
    """The binding announces where it found libfluidsynth when CI is set; the product's stdout stays its own."""
    import os
    import subprocess
    import sys

    code = "from engine import synth; import pretty_midi; synth._library(); print('done')"
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=120, check=True)
    assert result.stdout == "done\n"
