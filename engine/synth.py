"""FluidSynth in-process (Debian's libfluidsynth through pyfluidsynth): a SoundFont loaded once, MIDI in, samples out.

Starting the `fluidsynth` program for every generation cost a tenth of a second, and a full
General MIDI SoundFont (FluidR3_GM, 148 MB) takes far longer than that to load; a `Synth` loads it
once and keeps it for the life of the process. A MIDI file is played by FluidSynth's own player
(General MIDI as FluidSynth interprets it: any number of tracks, drums on channel 10, tempo
changes), timed by the samples written, so rendering runs as fast as the CPU allows.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

BLOCK_FRAMES = 4096  # frames written per call: large enough that the calls cost nothing
FLUID_BLOCK = 64  # FluidSynth synthesises in blocks of this many frames
SILENCE = 1e-5  # -100 dBFS: what may be left of a file when the next starts
SILENCE_BLOCKS = 30  # at most 2.8 s of it at 44.1 kHz
# A little reverb (FluidSynth's own, a small room), no chorus: the chorus only thickens a melody
# and costs a fifth of the synthesis time. Each channel's send level is its MIDI CC 91.
REVERB = {"synth.reverb.room-size": 0.4, "synth.reverb.damp": 0.4, "synth.reverb.width": 0.8,
          "synth.reverb.level": 0.6}
INSTALL = "FluidSynth is not installed: apt-get install libfluidsynth3"


class RenderUnavailable(RuntimeError):
    """FluidSynth or the SoundFont is missing; the message says what to install or fix."""


class RenderError(RuntimeError):
    """FluidSynth ran but failed."""


class Synth:
    """One FluidSynth synthesiser with its SoundFont loaded; renders one MIDI file at a time."""

    def __init__(self, soundfont: Path, sample_rate: int, gain: float, reverb: bool = True) -> None:
        """`reverb`: FluidSynth's small room (REVERB); False renders dry."""
        library = _library()
        self._library = library
        self._add_mem = _add_mem(library)
        self._write_float = _write_float(library)
        self._lock = threading.Lock()
        self._synth = library.Synth(
            gain=gain, samplerate=sample_rate,
            **{"player.timing-source": "sample", "synth.lock-memory": 0, "synth.chorus.active": 0, **REVERB,
               "synth.reverb.active": int(reverb)},
        )
        if self._synth.sfload(str(soundfont)) < 0:
            self._synth.delete()
            raise RenderError(f"FluidSynth failed to load the SoundFont {soundfont}")
        self._sample_rate = float(sample_rate)
        self._restart = _set_sample_rate(library)
        # Every render starts from the state a render leaves: the first one would not (its reverb comes out
        # about -50 dB different), so a short quiet note is played and silenced first.
        self.play(0, (), 0, [(0, 40, 50), (FLUID_BLOCK, 40, 0)], -80.0, 4800)

    def render(self, midi_data: bytes, frames: int) -> NDArray[np.float32]:
        """The first `frames` stereo frames (frames, 2) of a MIDI file, from silence."""
        library, synth = self._library, self._synth.synth
        # Whole blocks of FluidSynth's: a part block left over would open the next file with the
        # end of this one, and start its events up to a block later.
        samples = np.zeros((-(-frames // FLUID_BLOCK) * FLUID_BLOCK, 2), dtype=np.float32)
        address = samples.ctypes.data
        with self._lock:
            player = library.new_fluid_player(synth)
            if not player:
                raise RenderError("FluidSynth could not create a MIDI player")
            try:
                buffer = ctypes.create_string_buffer(midi_data, len(midi_data))
                if self._add_mem(player, buffer, len(midi_data)) != 0:
                    raise RenderError("FluidSynth could not read the MIDI file")
                library.fluid_player_play(player)
                for first in range(0, len(samples), BLOCK_FRAMES):
                    count = min(BLOCK_FRAMES, len(samples) - first)
                    # Interleaved stereo, written in place: left at even, right at odd offsets.
                    self._write_float(synth, count, address, 2 * first, 2, address, 2 * first + 1, 2)
            finally:
                library.fluid_player_stop(player)
                library.delete_fluid_player(player)
                self._silence()
        return samples[:frames]

    def play(self, channel: int, setup: Sequence[tuple[int, int]], program: int,
             events: Sequence[tuple[int, int, int]], tail_db: float, max_tail_frames: int) -> NDArray[np.float32]:
        """Mono samples of notes played straight into the synthesiser, from silence until their sound dies away.

        `setup`: (controller, value) sent first, then the `program`; `events`: (frame, pitch,
        velocity) in order, each frame a multiple of FLUID_BLOCK (where FluidSynth's player starts
        its events too), velocity 0 for a note-off. The sound ends where a block of BLOCK_FRAMES
        stays `tail_db` under its peak, or `max_tail_frames` after the last event.
        """
        library, synth = self._library, self._synth.synth
        last = events[-1][0] if events else 0
        samples = np.zeros((last + max_tail_frames + BLOCK_FRAMES, 2), dtype=np.float32)
        address = samples.ctypes.data
        written = 0

        def write(until: int) -> None:
            nonlocal written
            while written < until:
                count = min(BLOCK_FRAMES, until - written)
                self._write_float(synth, count, address, 2 * written, 2, address, 2 * written + 1, 2)
                written += count

        with self._lock:
            try:
                for control, value in setup:
                    library.fluid_synth_cc(synth, channel, control, value)
                library.fluid_synth_program_change(synth, channel, program)
                for frame, pitch, velocity in events:
                    write(frame)
                    if velocity:
                        library.fluid_synth_noteon(synth, channel, pitch, velocity)
                    else:
                        library.fluid_synth_noteoff(synth, channel, pitch)
                peak = 0.0
                while written < len(samples) - BLOCK_FRAMES:
                    start = written
                    write(start + BLOCK_FRAMES)
                    level = float(np.abs(samples[start:written]).max())
                    peak = max(peak, level)
                    if written > last + BLOCK_FRAMES and level <= peak * 10 ** (tail_db / 20):
                        break
            finally:
                self._silence()
        return (samples[:written, 0] + samples[:written, 1]) * np.float32(0.5)

    def _silence(self) -> None:
        """Stop every voice (released ones too) and let the reverb ring out, so the next render starts from silence.

        A reset alone left voices in their release, and the reverb's tail, in the start of the next
        file; FluidSynth has no call that empties its reverb, so silence is played through it (with
        no voice left, a second of it costs about a millisecond).
        """
        library, synth = self._library, self._synth.synth
        scratch = np.zeros((BLOCK_FRAMES, 2), dtype=np.float32)
        address = scratch.ctypes.data
        library.fluid_synth_all_sounds_off(synth, -1)
        library.fluid_synth_system_reset(synth)
        for _ in range(SILENCE_BLOCKS):
            self._write_float(synth, BLOCK_FRAMES, address, 0, 2, address, 1, 2)
            if float(np.abs(scratch).max()) < SILENCE:
                break
        # The reverb's delay lines are modulated by a clock that runs on through silence, so a sound would
        # come out a little different (by up to -25 dB) after each other render. Setting the rate
        # restarts that clock: a note sounds the same (to about -90 dB) whatever was played before it.
        self._restart(synth, self._sample_rate)

    def close(self) -> None:
        self._synth.delete()


def _library() -> Any:
    """The pyfluidsynth module, or RenderUnavailable when libfluidsynth (or the binding) is missing."""
    try:
        import fluidsynth  # quietly imported once already (engine/__init__.py)
    except ImportError:
        raise RenderUnavailable(INSTALL) from None
    return fluidsynth


def _add_mem(library: Any) -> Any:
    return library.cfunc("fluid_player_add_mem", ctypes.c_int, ("player", ctypes.c_void_p, 1),
                         ("buffer", ctypes.c_void_p, 1), ("len", ctypes.c_size_t, 1))


def _set_sample_rate(library: Any) -> Any:
    return library.cfunc("fluid_synth_set_sample_rate", None, ("synth", ctypes.c_void_p, 1),
                         ("sample_rate", ctypes.c_float, 1))


def _write_float(library: Any) -> Any:
    return library.cfunc(
        "fluid_synth_write_float", ctypes.c_int, ("synth", ctypes.c_void_p, 1), ("len", ctypes.c_int, 1),
        ("lout", ctypes.c_void_p, 1), ("loff", ctypes.c_int, 1), ("lincr", ctypes.c_int, 1),
        ("rout", ctypes.c_void_p, 1), ("roff", ctypes.c_int, 1), ("rincr", ctypes.c_int, 1),
    )
