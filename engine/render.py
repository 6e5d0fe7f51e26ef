"""Audio of melodies and MIDI files: synthesised in-process by FluidSynth, levelled, encoded.

The SoundFont is loaded once per process (`engine.synth`), the first time it is needed, and
kept. Each clip is its own MIDI file, rendered from silence: its length plus a faded release,
mixed to mono (half the encoding time, no loss for a preview), brought to one integrated
loudness (ITU-R BS.1770, LOUDNESS_LUFS) so that a sparse melody sounds as loud as a dense one,
held under PEAK_DBFS by a look-ahead limiter, and encoded (OGG/Vorbis by default) with
soundfile. Encoding a clip overlaps with synthesising the next.

The SoundFont: the `SOUNDFONT` setting, else the full General MIDI FluidR3_GM of Debian's
fluid-soundfont-gm (installed by `make`), else the small TimGM6mb that ships inside pretty_midi.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile
from numpy.typing import NDArray

from domain.model import Note
from engine.midi import TICKS_PER_BEAT, VELOCITY, read_midi, step_seconds
from engine.synth import RenderError, RenderUnavailable, Synth

log = logging.getLogger(__name__)

__all__ = ["AUDIO_FORMATS", "RELEASE_S", "RenderError", "RenderUnavailable", "Renderer", "default_soundfont"]

# Full General MIDI SoundFonts of Debian, the first one installed is the default (docs/sound.md).
SYSTEM_SOUNDFONTS = (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),)
RELEASE_S = 0.5
LOUDNESS_LUFS = -16.0  # integrated loudness of every clip, as podcasts and web players level
PEAK_DBFS = -1.0  # the limiter's ceiling: room for the Vorbis encoder's overshoot
LIMITER_LOOKAHEAD_S = 0.005
LEVEL_TOLERANCE_LU = 0.2
SYNTH_GAIN = 0.5  # float output never clips and every clip is levelled, so this hardly matters
ALL_SOUND_OFF = 120  # MIDI controller: stops every voice at once, release and all


@dataclass(frozen=True)
class AudioFormat:
    extension: str
    content_type: str
    container: str  # soundfile's format name
    subtype: str


AUDIO_FORMATS: dict[str, AudioFormat] = {
    "ogg": AudioFormat("ogg", "audio/ogg", "OGG", "VORBIS"),
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
        self, soundfont: Path | None = None, sample_rate: int = 44100, audio_format: str = "ogg"
    ) -> None:
        if audio_format not in AUDIO_FORMATS:
            raise ValueError(f"audio format must be one of {sorted(AUDIO_FORMATS)}, not {audio_format!r}")
        self.soundfont = Path(soundfont) if soundfont is not None else default_soundfont()
        self.sample_rate = sample_rate
        self.format = AUDIO_FORMATS[audio_format]
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
        """Load FluidSynth and the SoundFont (once per process); RenderUnavailable or RenderError if they fail."""
        self.synth()

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
        lengths = [read_midi(data).get_end_time() + RELEASE_S for data in files]
        return self._render(synth, [(data, round(length * self.sample_rate))
                                    for data, length in zip(files, lengths, strict=True)])

    def _render(self, synth: Synth, renders: Sequence[tuple[bytes, int]]) -> list[bytes]:
        """Synthesise each (MIDI file, frames) in turn; each is levelled and encoded while the next one plays."""
        pool = self._pool()
        finishing = [pool.submit(self._finish, synth.render(data, frames)) for data, frames in renders]
        return [future.result() for future in finishing]

    def _pool(self) -> ThreadPoolExecutor:
        with self._loading:
            if self._encoders is None:
                # FluidSynth, numpy and libsndfile let go of the GIL: clips are levelled and encoded
                # on every core while the next one is synthesised.
                self._encoders = ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="encode")
            return self._encoders

    def _finish(self, stereo: NDArray[np.float32]) -> bytes:
        """Mono, fade out the release, level the loudness, limit the peaks, encode."""
        clip = (stereo[:, 0] + stereo[:, 1]) * np.float32(0.5)
        fade = min(round(RELEASE_S * self.sample_rate), len(clip))
        if fade:
            clip[len(clip) - fade :] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade))).astype(np.float32)
        clip = level(clip, self.sample_rate)
        buffer = io.BytesIO()
        soundfile.write(
            buffer, clip, self.sample_rate, format=self.format.container, subtype=self.format.subtype
        )
        return buffer.getvalue()


def level(clip: NDArray[np.float32], sample_rate: int, loudness_lufs: float = LOUDNESS_LUFS,
          peak_dbfs: float = PEAK_DBFS) -> NDArray[np.float32]:
    """`clip` at an integrated loudness of `loudness_lufs` (silence stays silent), peaks under `peak_dbfs`."""
    measured = loudness(clip, sample_rate)
    if not np.isfinite(measured):
        return clip
    scaled = clip * np.float32(10 ** ((loudness_lufs - measured) / 20))
    levelled = limit(scaled, sample_rate, peak_dbfs)
    if levelled is not scaled:
        # The limiter took a little loudness from the sharpest attacks: one more pass gives it back.
        error = loudness_lufs - loudness(levelled, sample_rate)
        if abs(error) > LEVEL_TOLERANCE_LU:
            levelled = limit(levelled * np.float32(10 ** (error / 20)), sample_rate, peak_dbfs)
    return levelled


def loudness(clip: NDArray[np.float32], sample_rate: int) -> float:
    """Integrated loudness (ITU-R BS.1770-4) in LUFS; -inf for silence."""
    import pyloudnorm

    # It is measured in 400 ms blocks: a shorter clip is measured with silence after it.
    block = round(0.4 * sample_rate)
    measured = clip if len(clip) >= block else np.concatenate([clip, np.zeros(block - len(clip), np.float32)])
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(measured.astype(np.float64)))


def limit(clip: NDArray[np.float32], sample_rate: int, peak_dbfs: float = PEAK_DBFS) -> NDArray[np.float32]:
    """Peaks above `peak_dbfs` turned down smoothly, beginning a few milliseconds before each one."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    ceiling = 10 ** (peak_dbfs / 20)
    excess = np.maximum(np.abs(clip) / ceiling, 1.0)
    if excess.max() <= 1.0:
        return clip  # the very array, so that the caller can tell nothing was limited
    reach = max(1, round(LIMITER_LOOKAHEAD_S * sample_rate))
    # Each sample's reduction is held over +-reach, then averaged over a window half as wide: every
    # value averaged is at least the sample's own, so the peak ends at or under the ceiling.
    held = maximum_filter1d(excess, size=2 * reach + 1)
    smooth = uniform_filter1d(held, size=reach)
    return np.clip(clip / smooth, -ceiling, ceiling).astype(np.float32)


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
