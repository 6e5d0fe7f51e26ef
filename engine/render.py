"""Audio of melodies with FluidSynth: one process renders a whole generation, then it is sliced.

Starting FluidSynth and loading the SoundFont costs about 0.1 s, so the clips of a generation are
laid end to end in one MIDI file (each in its own time window, separated by silence) and rendered
in a single call; each window is cut out of the raw output as soon as FluidSynth has written it,
so encoding one clip overlaps with synthesising the next. Each clip is trimmed to its length plus
a short faded release, peak-normalised and encoded (OGG/Vorbis by default) with soundfile.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile
from numpy.typing import NDArray

from domain.model import Note
from engine.midi import TICKS_PER_BEAT, VELOCITY, read_midi, step_seconds

log = logging.getLogger(__name__)

FLUIDSYNTH = "fluidsynth"
RELEASE_S = 0.5
# Silence between two clips' windows: all sound is cut at the end of a window, and what is left
# (the reverb tail) is 70 dB below the peak after half a second.
GUARD_S = 0.5
PEAK_DBFS = -1.0
SILENCE = 1e-6  # a peak below this is silence: it is not amplified
FLUIDSYNTH_GAIN = 0.5  # float output never clips and every clip is normalised, so this hardly matters
FRAME_BYTES = 8  # FluidSynth's raw output: stereo float32
POLL_S = 0.002
RENDER_TIMEOUT_S = 120.0
ALL_SOUND_OFF = 120  # MIDI controller: stops every voice at once, release and all


class RenderUnavailable(RuntimeError):
    """FluidSynth or the SoundFont is missing; the message says what to install or fix."""


class RenderError(RuntimeError):
    """FluidSynth ran but failed."""


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


def default_soundfont() -> Path:
    """The small General MIDI SoundFont (TimGM6mb, 6 MB) that ships inside pretty_midi."""
    return Path(str(resources.files(pretty_midi) / "TimGM6mb.sf2"))


class Renderer:
    """Renders melodies to encoded audio clips. Cheap to create; `check()` before serving."""

    def __init__(
        self, soundfont: Path | None = None, sample_rate: int = 44100, audio_format: str = "ogg"
    ) -> None:
        if audio_format not in AUDIO_FORMATS:
            raise ValueError(f"audio format must be one of {sorted(AUDIO_FORMATS)}, not {audio_format!r}")
        self.soundfont = Path(soundfont) if soundfont is not None else default_soundfont()
        self.sample_rate = sample_rate
        self.format = AUDIO_FORMATS[audio_format]

    @property
    def extension(self) -> str:
        """File extension of the clips, without the dot ("ogg")."""
        return self.format.extension

    @property
    def content_type(self) -> str:
        """MIME type of the clips ("audio/ogg")."""
        return self.format.content_type

    def check(self) -> None:
        """Raise RenderUnavailable unless the fluidsynth binary and a readable SoundFont are there."""
        if shutil.which(FLUIDSYNTH) is None:
            raise RenderUnavailable("FluidSynth is not installed: apt-get install fluidsynth")
        if not self.soundfont.is_file():
            raise RenderUnavailable(f"soundfont not found: {self.soundfont}")
        try:
            with self.soundfont.open("rb") as file:
                header = file.read(12)
        except OSError as error:
            raise RenderUnavailable(f"soundfont cannot be read: {self.soundfont} ({error.strerror})") from None
        # FluidSynth would render silence from anything else and still exit 0.
        if header[:4] != b"RIFF" or header[8:12] != b"sfbk":
            raise RenderUnavailable(f"not a SoundFont (.sf2) file: {self.soundfont}")

    def render_clips(
        self, melodies: Sequence[Sequence[Note]], tempo: int, instrument: int, steps: int = 32
    ) -> list[bytes]:
        """One encoded clip per melody: `steps` sixteenths (longer if a note ends later) plus the release."""
        self.check()
        if not melodies:
            return []
        step = step_seconds(tempo)
        lengths = [max([steps, *(note.end for note in melody)]) * step for melody in melodies]
        windows: list[tuple[float, float]] = []
        batch = pretty_midi.PrettyMIDI(resolution=TICKS_PER_BEAT, initial_tempo=float(tempo))
        track = pretty_midi.Instrument(program=instrument)
        offset = 0.0
        for melody, length in zip(melodies, lengths, strict=True):
            for note in melody:
                track.notes.append(
                    pretty_midi.Note(VELOCITY, note.pitch, offset + note.start * step, offset + note.end * step)
                )
            end = offset + length + RELEASE_S
            track.control_changes.append(pretty_midi.ControlChange(ALL_SOUND_OFF, 0, end))
            windows.append((offset, end))
            offset = end + GUARD_S
        batch.instruments.append(track)
        buffer = io.BytesIO()
        batch.write(buffer)
        frames = [(round(start * self.sample_rate), round(end * self.sample_rate)) for start, end in windows]
        return [self._encode(samples) for samples in self._synthesize(buffer.getvalue(), frames)]

    def render_midi(self, data: bytes) -> bytes:
        """A whole MIDI file as one encoded clip, up to its last event plus the release."""
        self.check()
        length = read_midi(data).get_end_time() + RELEASE_S
        (samples,) = self._synthesize(data, [(0, round(length * self.sample_rate))])
        return self._encode(samples)

    def _synthesize(self, midi_data: bytes, windows: Sequence[tuple[int, int]]) -> Iterator[NDArray[np.float32]]:
        """Render a MIDI file; yields the mono samples of each (first, last) frame window, in order.

        FluidSynth writes its output file as it goes, so a window is handed over (and encoded) as
        soon as it is on disk while FluidSynth renders the next: synthesis and encoding overlap on
        two cores. Once the last window is in, FluidSynth is stopped rather than left to render the
        seconds of silence it adds after the end of the file.
        """
        with tempfile.TemporaryDirectory(prefix="render-") as folder:
            midi_path, raw_path = Path(folder, "in.mid"), Path(folder, "out.raw")
            midi_path.write_bytes(midi_data)
            # Files, not pipes: reading 16 MB through a pipe costs Python more CPU than the encoding,
            # and an unread stderr pipe could fill up and stall FluidSynth.
            command = [
                FLUIDSYNTH, "-n", "-i", "-q", "-F", str(raw_path), "-T", "raw", "-O", "float",
                "-r", str(self.sample_rate), "-g", str(FLUIDSYNTH_GAIN), str(self.soundfont), str(midi_path),
            ]
            with Path(folder, "stderr.txt").open("w+b") as stderr:
                try:
                    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
                except FileNotFoundError:
                    raise RenderUnavailable("FluidSynth is not installed: apt-get install fluidsynth") from None
                try:
                    yield from _read_windows(process, raw_path, windows)
                finally:
                    stopped_early = process.poll() is None
                    if stopped_early:
                        process.terminate()
                    returncode = process.wait()
                stderr.seek(0)
                messages = [line.strip() for line in stderr.read().decode(errors="replace").splitlines()]
        # FluidSynth exits 0 even when the SoundFont fails to load (and renders silence); its other
        # complaints (an odd MIDI event) still leave usable audio, so they are only logged.
        fatal = [line for line in messages if "Failed to load" in line]
        if fatal or (returncode != 0 and not stopped_early):
            raise RenderError(f"fluidsynth failed: {fatal[-1] if fatal else f'exit status {returncode}'}")
        for line in messages:
            if "error" in line:
                log.warning("fluidsynth: %s", line)

    def _encode(self, samples: NDArray[np.float32]) -> bytes:
        """Fade out the release, normalise the peak, encode."""
        clip = samples.copy()
        fade = min(round(RELEASE_S * self.sample_rate), len(clip))
        if fade:
            clip[len(clip) - fade :] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade))).astype(np.float32)
        peak = float(np.max(np.abs(clip))) if len(clip) else 0.0
        if peak > SILENCE:
            clip *= np.float32(10 ** (PEAK_DBFS / 20) / peak)
        buffer = io.BytesIO()
        soundfile.write(
            buffer, clip, self.sample_rate, format=self.format.container, subtype=self.format.subtype
        )
        return buffer.getvalue()


def _fitted(samples: NDArray[np.float32], frames: int) -> NDArray[np.float32]:
    """Exactly `frames` samples: cut, or padded with silence if FluidSynth stopped short."""
    if len(samples) >= frames:
        return samples[:frames]
    return np.concatenate([samples, np.zeros(frames - len(samples), dtype=np.float32)])


def _read_windows(
    process: subprocess.Popen[bytes], raw_path: Path, windows: Sequence[tuple[int, int]]
) -> Iterator[NDArray[np.float32]]:
    """Mono samples of each frame window of FluidSynth's raw output, as soon as it is written."""
    deadline = time.monotonic() + RENDER_TIMEOUT_S
    for first, last in windows:
        while True:
            finished = process.poll() is not None
            written = raw_path.stat().st_size // FRAME_BYTES if raw_path.exists() else 0
            if written >= last or finished:
                break
            if time.monotonic() > deadline:
                raise RenderError(f"fluidsynth took more than {RENDER_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)
        available = max(min(last, written) - first, 0)
        stereo = (
            np.fromfile(raw_path, dtype=np.float32, count=2 * available, offset=first * FRAME_BYTES)
            if available
            else np.zeros(0, dtype=np.float32)
        )
        # Mono halves the encoding time (the larger cost after synthesis) at no loss for a preview.
        yield _fitted((stereo[0::2] + stereo[1::2]) * np.float32(0.5), last - first)
