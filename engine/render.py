"""Audio of melodies and MIDI files: synthesised in-process by FluidSynth, levelled, encoded.

The SoundFont is loaded once per process (`engine.synth`), the first time it is needed, and
kept. Each clip is its own MIDI file, rendered from silence: its length plus a faded release,
mixed to mono (half the encoding time, no loss for a preview), brought to one integrated
loudness (ITU-R BS.1770, LOUDNESS_LUFS) so that a sparse melody sounds as loud as a dense one,
held under PEAK_DBFS by a look-ahead limiter, and encoded: Ogg Opus by default (`engine.opus`,
at 48 kHz, OPUS_BITRATE and OPUS_COMPLEXITY: docs/sound.md says why), Ogg Vorbis or MP3 with
soundfile. Clips are mixed, levelled and encoded on every core at once.

Two modes (RENDER_MODE): "cache" (the default) mixes each clip from notes FluidSynth rendered
once each and keeps (`engine.notecache`), and synthesises whole only what the cache cannot play;
"fluidsynth" synthesises every clip whole. Both sound the same (docs/sound.md).

The SoundFont: the `SOUNDFONT` setting, else the full General MIDI FluidR3_GM of Debian's
fluid-soundfont-gm (installed by `make`), else the small TimGM6mb that ships inside pretty_midi.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile
from numpy.typing import NDArray

from domain.model import Note
from engine import notecache, opus
from engine.midi import TICKS_PER_BEAT, VELOCITY, read_midi, step_seconds
from engine.synth import FLUID_BLOCK, RenderError, RenderUnavailable, Synth

log = logging.getLogger(__name__)

__all__ = ["AUDIO_FORMATS", "RELEASE_S", "RENDER_MODES", "RenderError", "RenderUnavailable", "Renderer",
           "default_soundfont"]

# Full General MIDI SoundFonts of Debian, the first one installed is the default (docs/sound.md).
SYSTEM_SOUNDFONTS = (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),)
RELEASE_S = 0.5
LOUDNESS_LUFS = -16.0  # integrated loudness of every clip, as podcasts and web players level
PEAK_DBFS = -1.0  # the limiter's ceiling: room for the encoder's overshoot
LIMITER_LOOKAHEAD_S = 0.005
LEVEL_TOLERANCE_LU = 0.2
SYNTH_GAIN = 0.5  # float output never clips and every clip is levelled, so this hardly matters
ALL_SOUND_OFF = 120  # MIDI controller: stops every voice at once, release and all
RENDER_MODES = ("cache", "fluidsynth")
CACHE_MB = 200
CLIPS_KEPT = 64  # encoded clips kept by their MIDI file: a generation's favourite comes back unchanged


SAMPLE_RATE = 48_000  # Opus's own rate: the clips are synthesised at it, never resampled
# Ogg Opus, mono, 96 kbit/s (variable): measured as close to the clip as the Vorbis clips before it
# (band energies closer, pre-echo within about 1 dB), for a fifth more bytes. Complexity 2 keeps
# what shapes attacks (transient detection, time-frequency resolution) and leaves out what measured
# no gain here for 1.4-1.8x the time (docs/sound.md).
OPUS_BITRATE = 96_000
OPUS_COMPLEXITY = 2
OPUS_RATES = opus.RATES


@dataclass(frozen=True)
class AudioFormat:
    extension: str
    content_type: str
    container: str  # soundfile's format name
    subtype: str  # soundfile's subtype; "OPUS" is encoded by `engine.opus` instead


AUDIO_FORMATS: dict[str, AudioFormat] = {
    "ogg": AudioFormat("ogg", "audio/ogg", "OGG", "OPUS"),
    "vorbis": AudioFormat("ogg", "audio/ogg", "OGG", "VORBIS"),  # the clips as they were encoded until Opus
    "mp3": AudioFormat("mp3", "audio/mpeg", "MP3", "MPEG_LAYER_III"),
}


def shipped_soundfont() -> Path:
    """The small General MIDI SoundFont (TimGM6mb, 6 MB) that ships inside pretty_midi: the fallback."""
    return Path(str(resources.files(pretty_midi) / "TimGM6mb.sf2"))


def default_soundfont(installed: Sequence[Path] = SYSTEM_SOUNDFONTS) -> Path:
    """The first full General MIDI SoundFont of `installed` that is there, else the shipped fallback."""
    return next((path for path in installed if path.is_file()), shipped_soundfont())


class Renderer:
    """Renders melodies to encoded audio clips. Cheap to create; `check()` loads the SoundFont before serving."""

    def __init__(
        self, soundfont: Path | None = None, sample_rate: int = SAMPLE_RATE, audio_format: str = "ogg",
        mode: str = "cache", cache_mb: float = CACHE_MB, warm_s: float = 0.0,
    ) -> None:
        """`mode`: "cache" or "fluidsynth" (RENDER_MODES); `cache_mb`: the note cache's samples at most;
        `warm_s`: seconds `check()` may spend rendering the default instruments' notes ahead."""
        if audio_format not in AUDIO_FORMATS:
            raise ValueError(f"audio format must be one of {sorted(AUDIO_FORMATS)}, not {audio_format!r}")
        if mode not in RENDER_MODES:
            raise ValueError(f"render mode must be one of {', '.join(RENDER_MODES)}, not {mode!r}")
        if AUDIO_FORMATS[audio_format].subtype == "OPUS" and sample_rate not in OPUS_RATES:
            raise ValueError(f"Opus is encoded at {', '.join(map(str, OPUS_RATES))} Hz, not {sample_rate}")
        self.soundfont = Path(soundfont) if soundfont is not None else default_soundfont()
        self.sample_rate = sample_rate
        self.format = AUDIO_FORMATS[audio_format]
        self.mode = mode
        self.warm_s = warm_s
        self.notes = notecache.NoteCache(int(cache_mb * 1024 * 1024))
        self._clips: OrderedDict[tuple[bytes, int], bytes] = OrderedDict()
        self._loading = threading.Lock()
        self._loaded: Synth | None = None
        self._encoders: ThreadPoolExecutor | None = None

    @property
    def extension(self) -> str:
        """File extension of the clips, without the dot ("ogg")."""
        return self.format.extension

    @property
    def content_type(self) -> str:
        """MIME type of the clips ("audio/ogg")."""
        return self.format.content_type

    def check(self) -> None:
        """Load FluidSynth, the SoundFont (once per process) and libopus; RenderUnavailable or RenderError if they fail.

        In cache mode, then render the notes of the default instruments for up to `warm_s` seconds.
        """
        self.synth()
        if self.format.subtype == "OPUS":
            try:
                log.info("clips encoded as Ogg Opus by %s", opus.version())
            except opus.OpusUnavailable as error:
                raise RenderUnavailable(str(error)) from None
        if self.mode == "cache" and self.warm_s > 0:
            self.warm(self.warm_s)

    def warm(self, budget_s: float) -> int:
        """Render ahead the notes a breed with the default options plays most; the number of sounds rendered."""
        from engine.warmup import warm_files

        deadline = time.monotonic() + budget_s
        synth, before = self.synth(), self.notes.misses
        # Lazily: once the budget is spent, no further file is arranged or planned.
        plans = (notecache.plan(data, self.sample_rate) for data in warm_files())
        for key in (key for plan in plans if plan is not None for _, key in plan.sounds):
            if time.monotonic() > deadline:
                break
            self.notes.get(key, lambda key: self._play(synth, key))
        rendered = self.notes.misses - before
        log.info("note cache: %d sounds rendered ahead (%.0f MB)", rendered, self.notes.nbytes / 2**20)
        return rendered

    def synth(self) -> Synth:
        """The synthesiser with the SoundFont loaded, loading it the first time."""
        with self._loading:
            if self._loaded is None:
                _check_soundfont(self.soundfont)
                self._loaded = Synth(self.soundfont, self.sample_rate, SYNTH_GAIN)
                log.info("soundfont %s loaded", self.soundfont)
            return self._loaded

    def render_clips(
        self, melodies: Sequence[Sequence[Note]], tempo: int, instrument: int, steps: int = 32
    ) -> list[bytes]:
        """One encoded clip per melody: `steps` sixteenths (longer if a note ends later) plus the release."""
        synth = self.synth()
        return self._render(synth, [self.clip_midi(melody, tempo, instrument, steps) for melody in melodies])

    def clip_midi(self, melody: Sequence[Note], tempo: int, instrument: int, steps: int = 32) -> tuple[bytes, int]:
        """The MIDI file of a melody's clip and the clip's length in frames (all sound stops at its end)."""
        step = step_seconds(tempo)
        length = max([steps, *(note.end for note in melody)]) * step + RELEASE_S
        clip = pretty_midi.PrettyMIDI(resolution=TICKS_PER_BEAT, initial_tempo=float(tempo))
        track = pretty_midi.Instrument(program=instrument)
        track.notes.extend(
            pretty_midi.Note(VELOCITY, note.pitch, note.start * step, note.end * step) for note in melody
        )
        track.control_changes.append(pretty_midi.ControlChange(ALL_SOUND_OFF, 0, length))
        clip.instruments.append(track)
        buffer = io.BytesIO()
        clip.write(buffer)
        return buffer.getvalue(), round(length * self.sample_rate)

    def render_midi(self, data: bytes) -> bytes:
        """A whole MIDI file (any General MIDI file: tracks, drums) as one clip, to its last event plus the release."""
        (clip,) = self.render_midis([data])
        return clip

    def render_midis(self, files: Sequence[bytes]) -> list[bytes]:
        """`render_midi` of each file; each is levelled and encoded while the next one plays."""
        synth = self.synth()
        return self._render(synth, [(data, None) for data in files])

    def render_samples(self, files: Sequence[bytes], levelled: bool = True) -> list[NDArray[np.float32]]:
        """The mono samples of each whole MIDI file as `render_midis` encodes them (to compare modes);
        `levelled=False`: as mixed or synthesised, before the fade, levelling and limiter."""
        synth = self.synth()
        jobs = [self._prepare(synth, data, None) for data in files]
        if not levelled:
            return [notecache.mix(job.sounds, job.frames) for job in jobs]
        pool = self._pool()
        return [future.result() for future in [pool.submit(self._levelled, job) for job in jobs]]

    def _render(self, synth: Synth, renders: Sequence[tuple[bytes, int | None]]) -> list[bytes]:
        """Each (MIDI file, frames; None: to its end plus the release) mixed or synthesised, levelled and encoded.

        What only FluidSynth can play (and every file in fluidsynth mode) is synthesised here in
        turn; mixing, levelling and encoding run in the pool, one clip per core.
        """
        pool = self._pool()
        finishing: list[bytes | Future[bytes]] = []
        for data, frames in renders:
            key = (data, frames or 0)
            clip = self._encoded_before(key)
            if clip is not None:
                finishing.append(clip)
                continue
            finishing.append(pool.submit(self._encoded, self._prepare(synth, data, frames), key))
        return [clip if isinstance(clip, bytes) else clip.result() for clip in finishing]

    def _encoded_before(self, key: tuple[bytes, int]) -> bytes | None:
        """The clip of the same MIDI file and length, if one was encoded lately (cache mode)."""
        if self.mode != "cache":
            return None
        with self._loading:
            clip = self._clips.get(key)
            if clip is not None:
                self._clips.move_to_end(key)
            return clip

    def _prepare(self, synth: Synth, data: bytes, frames: int | None) -> _Clip:
        """A clip ready to mix: its sounds from the cache (the missing ones rendered now), or synthesised whole."""
        plan = notecache.plan(data, self.sample_rate) if self.mode == "cache" else None
        if frames is None:
            end_s = plan.end_s if plan is not None else read_midi(data).get_end_time()
            frames = round((end_s + RELEASE_S) * self.sample_rate)
        if plan is None:
            stereo = synth.render(data, frames)
            return _Clip(frames, [(0, (stereo[:, 0] + stereo[:, 1]) * np.float32(0.5))])
        return _Clip(frames, [(first, self.notes.get(key, lambda key: self._play(synth, key)))
                              for first, key in plan.sounds])

    def _play(self, synth: Synth, key: notecache.SoundKey) -> NDArray[np.float32]:
        channel = notecache.DRUM_CHANNEL if key.drum else 0
        events = [(block * FLUID_BLOCK, pitch, velocity) for block, pitch, velocity in key.events]
        return synth.play(channel, key.setup, key.program, events, notecache.TAIL_DB,
                          round(notecache.MAX_TAIL_S * self.sample_rate))

    def _pool(self) -> ThreadPoolExecutor:
        with self._loading:
            if self._encoders is None:
                # FluidSynth, numpy, libopus and libsndfile let go of the GIL: clips are levelled and encoded
                # on every core while the next one is synthesised.
                self._encoders = ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="encode")
            return self._encoders

    def _levelled(self, job: _Clip) -> NDArray[np.float32]:
        """The clip's sounds mixed, the release faded out, the loudness levelled, the peaks limited."""
        clip, weighted = _mixed(job, self.sample_rate)
        return level(clip, self.sample_rate, weighted=weighted)

    def encode(self, clip: NDArray[np.float32]) -> bytes:
        """A levelled mono clip in the renderer's audio format."""
        if self.format.subtype == "OPUS":
            return encode_opus(clip, self.sample_rate)
        buffer = io.BytesIO()
        soundfile.write(buffer, clip, self.sample_rate, format=self.format.container, subtype=self.format.subtype)
        return buffer.getvalue()

    def _encoded(self, job: _Clip, key: tuple[bytes, int]) -> bytes:
        clip = self.encode(self._levelled(job))
        if self.mode == "cache":
            with self._loading:
                self._clips[key] = clip
                while len(self._clips) > CLIPS_KEPT:
                    self._clips.popitem(last=False)
        return clip


def _mixed(job: _Clip, sample_rate: int) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
    """The clip's sounds summed and its release faded out, and for a long clip (a tune) its K-weighting too
    (None for a short one): a long clip is mixed and weighted in parts, on every core."""
    fade = min(round(RELEASE_S * sample_rate), job.frames)
    curve = (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade))).astype(np.float32)
    parts = min(_CORES, job.frames // round(PARTS_MIN_S * sample_rate))
    if parts < 2:
        clip = notecache.mix(job.sounds, job.frames)
        if fade:
            clip[len(clip) - fade :] *= curve
        return clip, None
    out = np.zeros(job.frames, dtype=np.float32)
    bounds = [job.frames * index // parts for index in range(parts + 1)]
    lead = round(SETTLE_S * sample_rate)
    sos = _k_weighting(sample_rate).astype(np.float32)

    def part(first: int, last: int) -> NDArray[np.float32]:
        notecache.mix_into(out[first:last], job.sounds, first)
        if last == job.frames and fade:
            out[last - fade : last] *= curve  # parts are far longer than the release: it lies in the last
        # The stretch before the part is mixed again here (the part before mixes it too), to settle the filter.
        before = notecache.mix_into(np.zeros(min(first, lead), np.float32), job.sounds, first - min(first, lead))
        return _weighted_after(sos, before, out[first:last])

    pieces = [_parts().submit(part, first, last) for first, last in zip(bounds, bounds[1:], strict=False)]
    return out, np.concatenate([piece.result() for piece in pieces])


@dataclass(frozen=True)
class _Clip:
    """A clip to mix: its length in frames and its mono sounds, each from its first frame."""

    frames: int
    sounds: list[tuple[int, NDArray[np.float32]]]


def encode_opus(clip: NDArray[np.float32], sample_rate: int, bitrate: int = OPUS_BITRATE,
                complexity: int = OPUS_COMPLEXITY) -> bytes:
    """A mono clip as Ogg Opus (`engine.opus`): the same bytes for the same samples."""
    try:
        return opus.encode(clip, sample_rate, bitrate, complexity)
    except opus.OpusUnavailable as error:
        raise RenderUnavailable(str(error)) from None


def level(clip: NDArray[np.float32], sample_rate: int, loudness_lufs: float = LOUDNESS_LUFS,
          peak_dbfs: float = PEAK_DBFS, weighted: NDArray[np.float32] | None = None) -> NDArray[np.float32]:
    """`clip` at an integrated loudness of `loudness_lufs` (silence stays silent), peaks under `peak_dbfs`.
    `weighted`: the clip's K-weighting, if it is known already (a clip at least a 400 ms block long)."""
    weighted = _weighted(clip, sample_rate) if weighted is None else weighted
    measured = _integrated(weighted, sample_rate)
    if not np.isfinite(measured):
        return clip
    gain = np.float32(10 ** ((loudness_lufs - measured) / 20))
    scaled = clip * gain
    levelled, stretches = _limited(scaled, sample_rate, peak_dbfs)
    if stretches:
        # The limiter took a little loudness from the sharpest attacks: one more pass gives it back. The
        # K-weighting is linear, so the limited clip's is the scaled clip's plus that of what the limiter
        # took, which is nothing but near the peaks (and dies away within SETTLE_S after them).
        error = loudness_lufs - _integrated(_reweighted(weighted * gain, levelled - scaled, stretches, sample_rate),
                                            sample_rate)
        if abs(error) > LEVEL_TOLERANCE_LU:
            levelled = limit(levelled * np.float32(10 ** (error / 20)), sample_rate, peak_dbfs)
    return levelled


GATE_BLOCK_S, GATE_STEP = 0.4, 0.25  # BS.1770's gating blocks: 400 ms, every quarter of that
ABSOLUTE_GATE_LUFS, RELATIVE_GATE_LU = -70.0, -10.0
# The K-weighting's response dies away within this (its high pass's poles at radius 0.995: to 4e-11 of a
# state in 0.1 s at 48 kHz), so a stretch of samples can be weighted on its own from this long before it.
SETTLE_S = 0.1
PARTS_MIN_S = 10.0  # a clip longer than this (a tune) is weighted and mixed in parts, on every core


def loudness(clip: NDArray[np.float32], sample_rate: int) -> float:
    """Integrated loudness (ITU-R BS.1770-4) in LUFS; -inf for silence.

    pyloudnorm's measure (its K-weighting filters, blocks and gates) in a few array operations: the
    filters in single precision, and each 400 ms block's energy as the sum of its four 100 ms steps.
    A quarter of pyloudnorm's time (1.2 ms for a 4.5 s clip; a 32 s tune is filtered in parts on every
    core), which counts on every clip, and its figure to 0.001 LU.
    """
    return _integrated(_weighted(clip, sample_rate), sample_rate)


def _weighted(clip: NDArray[np.float32], sample_rate: int) -> NDArray[np.float32]:
    """The clip through the K-weighting filters (single precision), at least one 400 ms block long:
    a shorter clip is measured with silence after it."""
    from scipy.signal import sosfilt

    block = round(GATE_BLOCK_S * sample_rate)
    measured = clip if len(clip) >= block else np.concatenate([clip, np.zeros(block - len(clip), np.float32)])
    measured = measured.astype(np.float32, copy=False)
    sos = _k_weighting(sample_rate).astype(np.float32)
    parts = min(_CORES, len(measured) // round(PARTS_MIN_S * sample_rate))
    if parts < 2:
        return np.asarray(sosfilt(sos, measured), dtype=np.float32)
    # Each part after the first is filtered from SETTLE_S before it, from rest, and keeps only its own samples.
    lead = round(SETTLE_S * sample_rate)
    bounds = [len(measured) * index // parts for index in range(parts + 1)]

    def part(first: int, last: int) -> NDArray[np.float32]:
        return _weighted_after(sos, measured[max(0, first - lead) : first], measured[first:last])

    pieces = [_parts().submit(part, first, last) for first, last in zip(bounds, bounds[1:], strict=False)]
    return np.concatenate([piece.result() for piece in pieces])


def _weighted_after(sos: NDArray[np.float32], before: NDArray[np.float32],
                    samples: NDArray[np.float32]) -> NDArray[np.float32]:
    """`samples` K-weighted by `sos` as if from rest at the start of `before` (up to SETTLE_S of what precedes
    them, which settles the filter): a part of a long clip weighted on its own."""
    from scipy.signal import sosfilt

    weighted = sosfilt(sos, np.concatenate([before, samples]) if len(before) else samples)
    return np.asarray(weighted, dtype=np.float32)[len(before) :]


def _integrated(weighted: NDArray[np.float32], sample_rate: int) -> float:
    """The gated loudness of a K-weighted clip (`_weighted`'s), in LUFS; -inf for silence."""
    block = round(GATE_BLOCK_S * sample_rate)
    count = int(np.round((len(weighted) / sample_rate - GATE_BLOCK_S) / (GATE_BLOCK_S * GATE_STEP))) + 1
    step = GATE_BLOCK_S * GATE_STEP * sample_rate
    if step == round(step):  # every usual rate: blocks start on whole samples, 4 steps a block
        hop = round(step)
        # Each 100 ms step's energy (single precision within a step, to 1e-6 of it), silence after the end.
        kept = min(len(weighted), (count + 3) * hop)
        whole = kept // hop
        steps = weighted[: whole * hop].reshape(whole, hop)
        energy = np.zeros(count + 3, dtype=np.float64)
        energy[:whole] = np.einsum("ij,ij->i", steps, steps)
        if kept > whole * hop:
            rest = weighted[whole * hop : kept]
            energy[whole] = float(np.dot(rest, rest))
        power = (energy[:-3] + energy[1:-2] + energy[2:-1] + energy[3:]) / block
    else:
        cumulative = np.concatenate([[0.0], np.cumsum(np.square(weighted, dtype=np.float64))])
        starts = np.arange(count) * GATE_STEP
        lower = (GATE_BLOCK_S * starts * sample_rate).astype(np.int64)
        upper = np.minimum((GATE_BLOCK_S * (starts + 1) * sample_rate).astype(np.int64), len(weighted))
        power = (cumulative[upper] - cumulative[lower]) / (GATE_BLOCK_S * sample_rate)
    with np.errstate(divide="ignore"):
        levels = -0.691 + 10 * np.log10(power)
        loud = power[levels >= ABSOLUTE_GATE_LUFS]
        if not len(loud):
            return float("-inf")
        relative = -0.691 + 10 * np.log10(loud.mean()) + RELATIVE_GATE_LU
        gated = power[(levels > relative) & (levels > ABSOLUTE_GATE_LUFS)]
        return float(-0.691 + 10 * np.log10(gated.mean())) if len(gated) else float("-inf")


def _reweighted(weighted: NDArray[np.float32], change: NDArray[np.float32], stretches: Sequence[tuple[int, int]],
                sample_rate: int) -> NDArray[np.float32]:
    """`weighted` (a clip's K-weighting, which it overwrites) plus the K-weighting of `change`, a signal
    that is zero outside `stretches`: each stretch's response is filtered from rest and kept for SETTLE_S
    after it, where it has died away."""
    from scipy.signal import sosfilt

    sos = _k_weighting(sample_rate).astype(np.float32)
    tail = round(SETTLE_S * sample_rate)
    end = len(weighted)  # a clip shorter than a block was weighted with silence after it: its change too
    if len(change) < end:
        change = np.concatenate([change, np.zeros(end - len(change), np.float32)])
    spans: list[list[int]] = []
    for first, last in stretches:  # stretches whose responses meet are filtered together
        if spans and first <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], min(end, last + tail))
        else:
            spans.append([first, min(end, last + tail)])
    for first, last in spans:
        weighted[first:last] += np.asarray(sosfilt(sos, change[first:last]), dtype=np.float32)
    return weighted


@functools.cache
def _k_weighting(sample_rate: int) -> NDArray[np.float64]:
    """pyloudnorm's two K-weighting stages (high shelf, high pass) for `sample_rate`, as second-order sections."""
    import pyloudnorm

    stages = pyloudnorm.Meter(sample_rate)._filters.values()
    return np.array([[*(stage.passband_gain * stage.b), *stage.a] for stage in stages], dtype=np.float64)


def limit(clip: NDArray[np.float32], sample_rate: int, peak_dbfs: float = PEAK_DBFS) -> NDArray[np.float32]:
    """Peaks above `peak_dbfs` turned down smoothly, beginning a few milliseconds before each one."""
    return _limited(clip, sample_rate, peak_dbfs)[0]


def _limited(clip: NDArray[np.float32], sample_rate: int,
             peak_dbfs: float) -> tuple[NDArray[np.float32], list[tuple[int, int]]]:
    """`limit`'s clip, and the stretches [start, stop) it changed (none: the very array given)."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    ceiling = 10 ** (peak_dbfs / 20)
    over = np.flatnonzero(np.abs(clip) > ceiling)
    if not len(over):
        return clip, []  # the very array, so that the caller can tell nothing was limited
    reach = max(1, round(LIMITER_LOOKAHEAD_S * sample_rate))
    # Only the stretches near a peak change: the filters run there alone, with a margin wider than
    # they reach, so the gain is the same as over the whole clip (1 everywhere else).
    margin = 2 * reach + 2
    breaks = np.flatnonzero(np.diff(over) > 2 * margin)
    limited = clip.copy()
    stretches = []
    for first, last in zip(over[np.r_[0, breaks + 1]], over[np.r_[breaks, len(over) - 1]], strict=True):
        start, stop = max(0, int(first) - margin), min(len(clip), int(last) + margin + 1)
        excess = np.maximum(np.abs(clip[start:stop]) / ceiling, 1.0)
        # Each sample's reduction is held over +-reach, then averaged over a window half as wide: every
        # value averaged is at least the sample's own, so the peak ends at or under the ceiling.
        held = maximum_filter1d(excess, size=2 * reach + 1)
        smooth = uniform_filter1d(held, size=reach)
        limited[start:stop] = np.clip(clip[start:stop] / smooth, -ceiling, ceiling)
        stretches.append((start, stop))
    return limited, stretches


_CORES = max(1, min(4, os.cpu_count() or 1))


@functools.cache
def _parts() -> ThreadPoolExecutor:
    """Threads for the parts of a long clip (its filtering, its mixing): they never wait on each other."""
    return ThreadPoolExecutor(_CORES, thread_name_prefix="parts")


def _check_soundfont(path: Path) -> None:
    if not path.is_file():
        raise RenderUnavailable(f"soundfont not found: {path}")
    try:
        with path.open("rb") as file:
            header = file.read(12)
    except OSError as error:
        raise RenderUnavailable(f"soundfont cannot be read: {path} ({error.strerror})") from None
    # A SoundFont 2 or 3 file (sf3: the same RIFF form, with compressed samples).
    if header[:4] != b"RIFF" or header[8:12] != b"sfbk":
        raise RenderUnavailable(f"not a SoundFont (.sf2 or .sf3) file: {path}")
