"""Clips mixed from notes that FluidSynth rendered once each, instead of synthesising every clip whole.

Music in a 2-bar clip is a few dozen notes of a few instruments, and a breed's clips share most of
them (the same backing instruments, velocities and lengths in sixteenth steps at one tempo). So each
sound is rendered by FluidSynth once, alone, from silence until it dies away (its release and the
reverb's tail included: the reverb is linear, so a mix of notes each with its reverb is the mix
with its reverb), kept in memory (least recently used first out, within a byte budget), and a clip
is the sum of its sounds, each placed at the frame where FluidSynth's own MIDI player would start
it. The player starts events only at the start of one of FluidSynth's 64-frame blocks, at the
millisecond its sample clock reports; `Plan` reproduces that arithmetic, so each note starts and
stops on the very frame it does in FluidSynth and the mix matches it sample for sample, up to the
reverb's slow modulation and float rounding.

A sound is one note (its channel's instrument, controllers, pitch, velocity and length in blocks),
or on the drum channel, a run of the notes of one exclusive class (General MIDI's hi-hats, whistles,
guiros, cuicas, triangles: each cuts the one before, so they are rendered together). Anything else
a MIDI file can do (pitch bends, the sustain pedal, controllers that change while notes sound, tempo
changes) makes `plan` return None: the file is then synthesised by FluidSynth as a whole.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine import smf
from engine.synth import FLUID_BLOCK  # FluidSynth's player starts events at the start of a block of this many frames

log = logging.getLogger(__name__)

DRUM_CHANNEL = 9
DEFAULT_TEMPO_US = 500_000  # a MIDI file without a tempo plays at 120 bpm
# Controllers a sound may carry, set before the channel's first note: bank select, volume, pan,
# expression, reverb and chorus sends. Any other controller goes to FluidSynth whole.
BANK_SELECT = (0, 32)
NOTE_CONTROLS = frozenset({7, 10, 11, 91, 93})
ALL_SOUND_OFF, ALL_NOTES_OFF = 120, 123
# General MIDI's exclusive classes of the drum kit: a note of one cuts the one of the same class sounding.
EXCLUSIVE = {42: 1, 44: 1, 46: 1, 71: 2, 72: 2, 73: 3, 74: 3, 78: 4, 79: 4, 80: 5, 81: 5}
CHAIN_GAP_S = 4.0  # hits of one class further apart than this never meet: each is a sound of its own
TAIL_DB = -80.0  # a sound is kept until it stays this far under its peak (after levelling: inaudible)
MAX_TAIL_S = 8.0
MAX_VOICES = 96  # more notes at once than this, and FluidSynth's polyphony may steal voices: synthesise whole
MAX_PLAN_S = 600.0  # a file longer than this (no clip or tune is) is left to FluidSynth whole
# What counts in a file's end: the messages, and the meta events pretty_midi counts in it.
END_KINDS = frozenset({"note_on", "note_off", "control_change", "pitchwheel"})
END_METAS = frozenset({smf.SET_TEMPO, smf.TEXT, smf.LYRICS, smf.TIME_SIGNATURE, smf.KEY_SIGNATURE})


@dataclass(frozen=True)
class SoundKey:
    """What FluidSynth needs to render one sound: its channel's state and its notes, in blocks from its start."""

    drum: bool
    setup: tuple[tuple[int, int], ...]  # (controller, value) sent before the program change
    program: int
    events: tuple[tuple[int, int, int], ...]  # (block, pitch, velocity), velocity 0 for a note-off


@dataclass(frozen=True)
class Plan:
    """A MIDI file as sounds: each sound's first frame, and the file's end in seconds."""

    sounds: list[tuple[int, SoundKey]]
    end_s: float


@dataclass
class _Note:
    channel: int
    pitch: int
    velocity: int
    on_block: int
    state: tuple[tuple[tuple[int, int], ...], int]
    off_block: int | None = None


def plan(data: bytes, sample_rate: int) -> Plan | None:
    """The sounds of a Standard MIDI File and where they start; None when only FluidSynth can play it whole."""
    try:
        midi = smf.read(data)
    except smf.SmfError:  # a damaged file: FluidSynth's own reader says what it says about it
        return None
    if midi.format == 2 or midi.ticks_per_beat <= 0:
        return None
    timed: list[smf.Event] = []  # in the order of their tracks, each in its own order
    tempo, end_tick = DEFAULT_TEMPO_US, 0
    for track in midi.tracks:
        for event in track:
            tick, kind = event[0], event[1]
            if kind == smf.META:
                if event[3] == smf.SET_TEMPO:
                    if tick > 0:
                        return None  # the player's clock restarts at each change: not reproduced here
                    tempo = event[4]
                if event[3] in END_METAS and tick > end_tick:
                    end_tick = tick  # pretty_midi counts these in a file's end
                continue
            timed.append(event)
            if kind in END_KINDS and tick > end_tick:
                end_tick = tick
    if tempo <= 0:
        return None  # a clock that never moves: FluidSynth's to make of it
    seconds_per_tick = tempo / 1e6 / midi.ticks_per_beat
    end_s = end_tick * seconds_per_tick
    # Any event (a program change hours in counts as well as a note): the player's clock is tabled that far.
    if max(end_tick, max((event[0] for event in timed), default=0)) * seconds_per_tick > MAX_PLAN_S:
        return None
    blocks = _blocks(np.array([event[0] for event in timed], dtype=np.int64), tempo / 1000 / midi.ticks_per_beat,
                     sample_rate)
    end_block = -(-round(end_s * sample_rate) // FLUID_BLOCK) + 1
    # FluidSynth's player sends, at each block, every due event of track 0, then of track 1...: a stable
    # sort of the events, which are in that order of tracks, by block.
    sequence = np.argsort(blocks, kind="stable")
    notes = _notes(list(zip(blocks[sequence].tolist(), [timed[i] for i in sequence.tolist()], strict=True)),
                   end_block)
    if notes is None:
        return None
    sounds = _sounds(notes, end_block, sample_rate)
    if sounds is None:
        return None
    return Plan(sounds, end_s)


def _blocks(ticks: NDArray[np.int64], ms_per_tick: float, sample_rate: int) -> NDArray[np.int64]:
    """The block at whose start FluidSynth's player sends an event of each tick (one tempo, set at 0).

    Its sample timer reports whole milliseconds since the start; the player's tick is that over
    the milliseconds per tick, rounded; an event goes out at the first block whose tick reached it.
    """
    if not len(ticks):
        return ticks
    last = int(ticks.max() * ms_per_tick / 1000 * sample_rate / FLUID_BLOCK) + 4
    msec = (1000.0 * (np.arange(last + 1, dtype=np.float64) * FLUID_BLOCK) / sample_rate).astype(np.int64)
    player_ticks = (msec / ms_per_tick + 0.5).astype(np.int64)
    # The timer's first call (block 0) starts the player; events go out from the next block on.
    return np.searchsorted(player_ticks, ticks, side="left").astype(np.int64) + 1


def _notes(events: Sequence[tuple[int, smf.Event]], end_block: int) -> list[_Note] | None:
    """Notes with their blocks, as FluidSynth's channels play the events; None for what it alone can do."""
    setups: dict[int, dict[int, int]] = {}
    programs: dict[int, tuple[tuple[tuple[int, int], ...], int]] = {}
    played: set[int] = set()
    sounding: dict[tuple[int, int], list[_Note]] = {}
    notes: list[_Note] = []
    states: dict[int, tuple[tuple[tuple[int, int], ...], int]] = {}  # a channel's notes' state, until it changes
    for block, (_, kind, channel, data1, data2, _) in events:
        if kind == "note_on" and data2 > 0:
            key = (channel, data1)
            for earlier in sounding.pop(key, []):  # FluidSynth releases a key struck again
                earlier.off_block = block
            note_state = states.get(channel)
            if note_state is None:
                setup = setups.get(channel, {})
                state = programs.get(channel, (tuple(sorted(setup.items())), 0))
                controls = tuple(sorted((c, v) for c, v in setup.items() if c in NOTE_CONTROLS))
                note_state = states[channel] = (tuple(c for c in state[0] if c[0] in BANK_SELECT) + controls,
                                                state[1])
            note = _Note(channel, data1, data2, block, note_state)
            sounding[key] = [note]
            notes.append(note)
            played.add(channel)
        elif kind in ("note_on", "note_off"):
            for note in sounding.pop((channel, data1), []):
                note.off_block = block
        elif kind == "program_change":
            setup = setups.get(channel, {})
            programs[channel] = (tuple(sorted((c, v) for c, v in setup.items() if c in BANK_SELECT)), data1)
            states.pop(channel, None)
        elif kind == "control_change":
            if data1 in BANK_SELECT or (data1 in NOTE_CONTROLS and channel not in played):
                setups.setdefault(channel, {})[data1] = data2
                states.pop(channel, None)
            elif data1 in (ALL_SOUND_OFF, ALL_NOTES_OFF) and block >= end_block - 1:
                continue  # at the very end: nothing is left to stop
            else:
                return None
        elif kind in ("sysex", "pitchwheel", "aftertouch", "polytouch"):
            return None
    for held in sounding.values():
        for note in held:
            note.off_block = max(end_block, note.on_block)  # never let go: it sounds to the end
    return notes


def _sounds(notes: list[_Note], end_block: int, sample_rate: int) -> list[tuple[int, SoundKey]] | None:
    """Each note as a sound, but runs of one exclusive class on the drum channel as one sound."""
    if _most_at_once(notes) > MAX_VOICES:
        return None
    chains: dict[tuple[int, int, tuple[tuple[tuple[int, int], ...], int]], list[list[_Note]]] = {}
    sounds: list[tuple[int, SoundKey]] = []
    gap = CHAIN_GAP_S * sample_rate / FLUID_BLOCK
    for note in notes:
        if note.channel == DRUM_CHANNEL and note.pitch in EXCLUSIVE:
            runs = chains.setdefault((note.channel, EXCLUSIVE[note.pitch], note.state), [])
            if runs and note.on_block - runs[-1][-1].on_block < gap:
                runs[-1].append(note)
            else:
                runs.append([note])
            continue
        sounds.append(_sound([note]))
    for runs in chains.values():
        sounds.extend(_sound(run) for run in runs)
    return sounds


def _sound(run: Sequence[_Note]) -> tuple[int, SoundKey]:
    """The first frame and the key of notes played as one sound."""
    first = run[0].on_block
    setup, program = run[0].state
    if len(run) == 1:  # its start, then its end (never before its start)
        note = run[0]
        assert note.off_block is not None
        ordered: tuple[tuple[int, int, int], ...] = ((0, note.pitch, note.velocity),
                                                     (note.off_block - first, note.pitch, 0))
        return first * FLUID_BLOCK, SoundKey(note.channel == DRUM_CHANNEL, setup, program, ordered)
    events: list[tuple[int, int, int, int]] = []  # (block, order, pitch, velocity)
    for index, note in enumerate(run):
        events.append((note.on_block - first, 2 * index, note.pitch, note.velocity))
        assert note.off_block is not None
        events.append((note.off_block - first, 2 * index + 1, note.pitch, 0))
    # A run's notes as the channel hears them: in time, and at one block in the order they came.
    ordered = tuple((block, pitch, velocity) for block, _, pitch, velocity in sorted(events))
    return first * FLUID_BLOCK, SoundKey(run[0].channel == DRUM_CHANNEL, setup, program, ordered)


def _most_at_once(notes: Sequence[_Note]) -> int:
    changes = sorted([(n.on_block, 1) for n in notes] + [(n.off_block or n.on_block, -1) for n in notes])
    most = count = 0
    for _, change in changes:
        count += change
        most = max(most, count)
    return most


class NoteCache:
    """Rendered sounds by key, the least recently used dropped first once they pass `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._sounds: OrderedDict[SoundKey, NDArray[np.float32]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._sounds)

    @property
    def nbytes(self) -> int:
        """Bytes of samples held."""
        return self._bytes

    def get(self, key: SoundKey, render: Callable[[SoundKey], NDArray[np.float32]]) -> NDArray[np.float32]:
        """The sound of `key`, rendered by `render` the first time (and again once it was dropped)."""
        with self._lock:
            sound = self._sounds.get(key)
            if sound is not None:
                self._sounds.move_to_end(key)
                self.hits += 1
                return sound
            self.misses += 1
        sound = render(key)
        sound.setflags(write=False)
        with self._lock:
            if key not in self._sounds and sound.nbytes <= self.max_bytes:
                self._sounds[key] = sound
                self._bytes += sound.nbytes
                while self._bytes > self.max_bytes:
                    _, dropped = self._sounds.popitem(last=False)
                    self._bytes -= dropped.nbytes
        return sound


def mix(sounds: Sequence[tuple[int, NDArray[np.float32]]], frames: int) -> NDArray[np.float32]:
    """The sum of sounds, each from its first frame, cut at `frames`."""
    return mix_into(np.zeros(frames, dtype=np.float32), sounds, 0)


def mix_into(out: NDArray[np.float32], sounds: Sequence[tuple[int, NDArray[np.float32]]],
             offset: int) -> NDArray[np.float32]:
    """`out`, the frames from `offset` on of a mix, with what of each sound falls there added; `out` itself."""
    end = offset + len(out)
    for first, sound in sounds:
        start, stop = max(first, offset), min(first + len(sound), end)
        if stop > start:
            out[start - offset : stop - offset] += sound[start - first : stop - first]
    return out
