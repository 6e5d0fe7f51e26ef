"""Clips mixed from cached notes sound as FluidSynth synthesising them whole: the real FluidSynth both ways.

How close is close enough: FluidSynth's reverb slowly modulates its delay lines, so the same
music rendered by FluidSynth itself a few seconds later differs from the first rendering by about
-25 dB (RMS of the difference) and a log-spectral distance of about 2 dB, in the reverb's tail
alone: the same room, the same decay, a different moment of its modulation. A listener hears no
difference between the two. The cache renders each note with its own reverb, so its mix differs
from FluidSynth's in just that way, and no more than FluidSynth differs from itself; without the
reverb the two are the same sample for sample (to float rounding).
"""

from __future__ import annotations

import io

import mido
import numpy as np
import pytest
import soundfile

from engine import notecache
from engine.arrange import arrange
from engine.render import LOUDNESS_LUFS, SAMPLE_RATE, SYNTH_GAIN, Renderer
from engine.synth import Synth
from engine.warmup import warm_files
from tests.support.melodies import melody

pytestmark = pytest.mark.slow

RATE = SAMPLE_RATE  # the renderer's own (48 kHz, the rate Opus codes at)
# A log-spectral distance (dB, bins within 80 dB of the loudest) under which two renderings differ
# only as FluidSynth's own reverb differs from itself (measured at 2.0-2.2 dB, see the docstring).
LSD_BOUND_DB = 2.5
ONSET_TOLERANCE_S = 0.005
HOP = 64  # 1.5 ms
LOUDNESS_TOLERANCE_LU = 0.5


CASES = {
    "melody": ("none", 32, 0),
    "chords": ("chords", 32, 0),
    "band": ("band", 32, 24),  # a guitar melody over the band: electric piano, bass, drums
    "tune": ("band", 256, 73),  # 16 bars: the crash and the held last bar, the open hi-hat cut by the closed one
}


def case_midi(name: str, seed: int = 1) -> bytes:
    backing, steps, instrument = CASES[name]
    return arrange(melody(seed, steps), backing, 120, instrument, steps).midi


@pytest.fixture(scope="module")
def direct() -> Renderer:
    renderer = Renderer(mode="fluidsynth")
    renderer.check()
    return renderer


@pytest.fixture(scope="module")
def cached() -> Renderer:
    renderer = Renderer(mode="cache")
    renderer.check()
    return renderer


def lufs(samples: np.ndarray) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(RATE).integrated_loudness(samples.astype(np.float64)))


def log_spectral_distance(a: np.ndarray, b: np.ndarray, floor_db: float = -80.0) -> float:
    """Mean over 46 ms frames of the RMS difference (dB) of the two power spectra, bins floored 80 dB under the peak."""
    from scipy.signal import stft

    spectra = [np.abs(stft(x, nperseg=2048, noverlap=1536)[2]) ** 2 for x in (a, b)]
    floor = max(s.max() for s in spectra) * 10 ** (floor_db / 10)
    first, second = (10 * np.log10(np.maximum(s, floor)) for s in spectra)
    return float(np.mean(np.sqrt(np.mean((first - second) ** 2, axis=0))))


def flux(samples: np.ndarray) -> np.ndarray:
    """Spectral flux (the rise of the log spectrum) in hops of HOP frames: it peaks at each note's attack."""
    from scipy.signal import stft

    spectrum = np.log(np.abs(stft(samples, nperseg=1024, noverlap=1024 - HOP)[2]) + 1e-4)
    return np.concatenate([[0.0], np.maximum(np.diff(spectrum, axis=1), 0).sum(axis=0)])


def onset_shifts(reference: np.ndarray, other: np.ndarray) -> tuple[int, float]:
    """How many attacks `reference` has, and the largest distance (s) from one to the strongest rise of `other`
    within 25 ms of it."""
    from scipy.signal import find_peaks

    expected, found = flux(reference), flux(other)
    peaks, _ = find_peaks(expected, height=expected.mean() + 3 * expected.std(), distance=round(0.05 * RATE / HOP))
    reach = round(0.025 * RATE / HOP)
    shifts = [abs(int(np.argmax(found[max(0, p - reach): p + reach + 1])) - min(p, reach)) for p in peaks]
    return len(peaks), max(shifts, default=0) * HOP / RATE


def decoded(clip: bytes) -> np.ndarray:
    return soundfile.read(io.BytesIO(clip), dtype="float32")[0]


@pytest.mark.parametrize("name", list(CASES))
def test_a_clip_from_the_note_cache_sounds_as_fluidsynth_renders_it_whole(direct, cached, name):
    data = case_midi(name)
    assert notecache.plan(data, RATE) is not None  # the product's own files are mixed, not synthesised
    (whole,), (mixed,) = direct.render_samples([data], levelled=False), cached.render_samples([data], levelled=False)
    assert len(mixed) == len(whole)
    assert abs(lufs(mixed) - lufs(whole)) < LOUDNESS_TOLERANCE_LU
    # What a listener gets: the encoded clips, each levelled.
    (whole_clip,), (mixed_clip,) = direct.render_midis([data]), cached.render_midis([data])
    heard_whole, heard_mixed = decoded(whole_clip), decoded(mixed_clip)
    assert abs(lufs(heard_mixed) - lufs(heard_whole)) < LOUDNESS_TOLERANCE_LU
    assert lufs(heard_mixed) == pytest.approx(LOUDNESS_LUFS, abs=1.0)
    # The spectra before the encoder, whose quantisation of the quietest bins differs with any change of input.
    (levelled_whole,), (levelled_mixed,) = direct.render_samples([data]), cached.render_samples([data])
    assert log_spectral_distance(levelled_whole, levelled_mixed) < LSD_BOUND_DB
    attacks, shift = onset_shifts(whole, mixed)
    assert attacks >= 4 and shift <= ONSET_TOLERANCE_S


def delayed(data: bytes, ticks: int) -> bytes:
    """The same MIDI file with every track's first event `ticks` later."""
    song = mido.MidiFile(file=io.BytesIO(data))
    for track in song.tracks:
        first = next((m for m in track if not (m.is_meta and m.type == "set_tempo")), None)
        if first is not None:
            first.time += ticks
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["melody", "band"])
def test_the_cache_differs_from_fluidsynth_less_than_fluidsynth_differs_from_itself(direct, cached, name):
    data = case_midi(name, seed=2)
    # 3.2 s later (3072 ticks at 120 bpm): a whole number of FluidSynth's blocks and milliseconds,
    # so every note starts exactly 3.2 s of frames later and only the reverb's modulation has moved on.
    shift = round(3.2 * RATE)
    assert shift % notecache.FLUID_BLOCK == 0
    later = direct.render_samples([delayed(data, 3072)], levelled=False)[0][shift:]
    (whole,), (mixed,) = direct.render_samples([data], levelled=False), cached.render_samples([data], levelled=False)
    itself = log_spectral_distance(whole, later[: len(whole)])
    ours = log_spectral_distance(whole, mixed)
    assert ours < itself + 0.3 and ours < LSD_BOUND_DB

    def difference_db(other: np.ndarray) -> float:
        return float(20 * np.log10(np.sqrt(np.mean((whole - other) ** 2)) / np.sqrt(np.mean(whole**2))))

    assert difference_db(mixed) < difference_db(later[: len(whole)]) + 1.0


@pytest.mark.parametrize("name", list(CASES))
def test_without_the_reverb_the_mix_is_fluidsynth_sample_for_sample(name):
    dry = []
    for mode in ("fluidsynth", "cache"):
        renderer = Renderer(mode=mode)
        renderer._loaded = Synth(renderer.soundfont, RATE, SYNTH_GAIN, reverb=False)
        dry.append(renderer.render_samples([case_midi(name)], levelled=False)[0])
    whole, mixed = dry
    assert len(whole) == len(mixed)
    error_db = 20 * np.log10(np.sqrt(np.mean((whole - mixed) ** 2)) / np.sqrt(np.mean(whole**2)))
    assert error_db < -45  # every note starts and stops on FluidSynth's very frame


def test_a_second_generation_of_the_same_instruments_renders_no_note_again(cached):
    first = [case_midi("chords", seed) for seed in (10, 11)]
    cached.render_midis(first)
    misses = cached.notes.misses
    cached.render_midis(first[::-1])  # the same notes, in other clips' places
    assert cached.notes.misses == misses


@pytest.mark.parametrize("tempo", [60, 75, 120, 133, 200])
def test_a_plain_melody_clip_is_mixed_from_the_cache_at_any_tempo(cached, tempo):
    data, frames = cached.clip_midi(melody(3), tempo, 0)
    plan = notecache.plan(data, RATE)
    assert plan is not None and len(plan.sounds) == len(melody(3))
    assert all(0 <= first < frames for first, _ in plan.sounds)


def test_an_unchanged_clip_is_encoded_once(cached):
    data = case_midi("band", seed=12)
    (clip,) = cached.render_midis([data])
    assert cached.render_midis([data]) == [clip]


def midi_with(*extra: mido.Message) -> bytes:
    song = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.Message("program_change", program=0, time=0),
                            mido.Message("note_on", note=60, velocity=100, time=0), *extra,
                            mido.Message("note_off", note=60, velocity=0, time=480)])
    song.tracks.append(track)
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("extra", [
    mido.Message("pitchwheel", pitch=4000, time=120),  # a bend
    mido.Message("control_change", control=64, value=127, time=120),  # the sustain pedal
    mido.Message("control_change", control=7, value=40, time=120),  # the volume while a note sounds
    mido.MetaMessage("set_tempo", tempo=300_000, time=120),  # a tempo change
])
def test_what_the_cache_cannot_play_is_synthesised_whole_by_fluidsynth(direct, cached, extra):
    data = midi_with(extra)
    assert notecache.plan(data, RATE) is None
    misses = cached.notes.misses
    (whole,), (also_whole,) = direct.render_samples([data]), cached.render_samples([data])
    assert cached.notes.misses == misses  # no note of it was rendered alone
    assert len(whole) == len(also_whole) and log_spectral_distance(whole, also_whole) < LSD_BOUND_DB


def test_a_plain_file_is_planned_as_its_notes():
    plan = notecache.plan(midi_with(), RATE)
    assert plan is not None and plan.end_s == pytest.approx(0.5)
    ((first, key),) = plan.sounds
    assert first == notecache.FLUID_BLOCK  # the player's first block starts it; its events go out from the next
    assert key.program == 0 and [event[1:] for event in key.events] == [(60, 100), (60, 0)]


def sound(frames: int) -> np.ndarray:
    return np.ones(frames, dtype=np.float32)


def key(pitch: int) -> notecache.SoundKey:
    return notecache.SoundKey(False, (), 0, ((0, pitch, 100), (10, pitch, 0)))


def test_the_cache_keeps_within_its_bytes_dropping_the_least_recently_used_first():
    cache = notecache.NoteCache(max_bytes=3 * 4000)  # three sounds of 1,000 float32 frames
    renders: list[int] = []

    def render(k: notecache.SoundKey) -> np.ndarray:
        renders.append(k.events[0][1])
        return sound(1000)

    for pitch in (60, 61, 62):
        cache.get(key(pitch), render)
    cache.get(key(60), render)  # 60 used again: 61 is now the least recently used
    cache.get(key(63), render)
    assert cache.nbytes <= cache.max_bytes and len(cache) == 3
    cache.get(key(60), render)
    cache.get(key(61), render)  # dropped: rendered again
    assert renders == [60, 61, 62, 63, 61]


def test_warming_renders_the_default_instruments_notes_ahead_within_its_budget():
    renderer = Renderer(mode="cache", warm_s=1.0)
    renderer.synth()
    import time

    started = time.monotonic()
    rendered = renderer.warm(1.0)
    assert time.monotonic() - started < 1.5
    assert rendered > 10
    misses = renderer.notes.misses
    # The most common first: eighth notes around G4, with the default backing (strings and bass) under them.
    renderer.render_midis([next(warm_files())])
    assert renderer.notes.misses == misses


def test_an_unknown_render_mode_is_refused():
    with pytest.raises(ValueError, match="render mode must be one of cache, fluidsynth"):
        Renderer(mode="fast")


def test_the_render_mode_setting_reaches_the_worker_settings(monkeypatch):
    from pydantic import ValidationError

    from runtime.settings import WorkerSettings

    assert WorkerSettings(_env_file=None).render_mode == "cache"
    monkeypatch.setenv("RENDER_MODE", "fluidsynth")
    assert WorkerSettings(_env_file=None).render_mode == "fluidsynth"
    monkeypatch.setenv("RENDER_MODE", "fast")
    with pytest.raises(ValidationError):
        WorkerSettings(_env_file=None)
