"""Melodies as `Note`s, as NoteSequences and as MusicVAE tokens, and the 2-bar window of a tune.

A melody here is monophonic, in sixteenth-note steps (`Note.start`/`end`); 2 bars are 32 steps.
The token form is the one of Magenta's OneHotMelodyConverter for the cat-mel_2bar models: one
token a step, 0 = no event (the sounding note goes on, or silence goes on), 1 = note off, and
2 + pitch - MIN_PITCH = a note starting. note_seq only: no TensorFlow.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

# note_seq imports pydub for audio, which warns about a missing ffmpeg that melodies never need.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)

import note_seq  # noqa: E402
import numpy as np  # noqa: E402
from note_seq.protobuf import music_pb2  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from domain.model import Note  # noqa: E402
from engine.midi import skyline  # noqa: E402

log = logging.getLogger(__name__)

STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16
DEFAULT_TEMPO = 120.0
VELOCITY = 80

# Magenta's melody tokens (note_seq.MelodyOneHotEncoding over the piano range 21..108).
MIN_PITCH = 21
MAX_PITCH = 108
NO_EVENT = 0
NOTE_OFF = 1
FIRST_PITCH_TOKEN = 2
TOKEN_COUNT = FIRST_PITCH_TOKEN + MAX_PITCH - MIN_PITCH + 1  # 90


class MelodyError(ValueError):
    """A melody that cannot be used; the message is one line meant for people."""


def to_note_sequence(
    notes: Sequence[Note], tempo: float = DEFAULT_TEMPO, program: int = 0, steps: int | None = None
) -> music_pb2.NoteSequence:
    """A NoteSequence (in seconds, 4/4) of `notes` at `tempo` BPM; `steps` sets a longer total time."""
    step = 60.0 / tempo / STEPS_PER_QUARTER
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=tempo)
    sequence.time_signatures.add(numerator=4, denominator=4)
    sequence.ticks_per_quarter = note_seq.STANDARD_PPQ
    for note in notes:
        sequence.notes.add(
            pitch=note.pitch, velocity=VELOCITY, program=program,
            start_time=note.start * step, end_time=note.end * step,
        )
    last = max([steps or 0, *(note.end for note in notes)])
    sequence.total_time = last * step
    return sequence


def quantise(sequence: music_pb2.NoteSequence) -> music_pb2.NoteSequence:
    """The sequence quantised to sixteenth-note steps by its own tempo (a quantised one as it is)."""
    if note_seq.sequences_lib.is_quantized_sequence(sequence):
        return sequence
    return note_seq.quantize_note_sequence(sequence, STEPS_PER_QUARTER)


def from_note_sequence(sequence: music_pb2.NoteSequence) -> list[Note]:
    """The melody line of a NoteSequence in steps: drums dropped, the highest note wins where notes overlap."""
    quantised = quantise(sequence)
    notes = [
        Note(n.pitch, n.quantized_start_step, max(n.quantized_end_step, n.quantized_start_step + 1))
        for n in quantised.notes
        if not n.is_drum
    ]
    return skyline(sorted(notes, key=lambda n: (n.start, n.pitch)))


def first_bars(notes: Sequence[Note], bars: int = 2) -> list[Note]:
    """The `bars`-bar window that starts on the bar line of the first note, shifted to start at 0.

    This is how a user's MIDI file seeds a breed: a leading silence of whole bars is skipped, a
    pickup note keeps its place in its bar, and notes past the window are cut or dropped.
    """
    if not notes:
        return []
    length = bars * STEPS_PER_BAR
    first = min(note.start for note in notes)
    start = first - first % STEPS_PER_BAR
    window = []
    for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
        if note.start >= start + length:
            continue
        window.append(Note(note.pitch, note.start - start, min(note.end, start + length) - start))
    return window


def into_range(pitch: int) -> int:
    """The pitch moved by whole octaves into the model's range 21..108."""
    while pitch < MIN_PITCH:
        pitch += 12
    while pitch > MAX_PITCH:
        pitch -= 12
    return pitch


def notes_to_tokens(notes: Sequence[Note], steps: int = 32) -> NDArray[np.int64]:
    """The tokens of a melody's first `steps` steps, as Magenta's melody converter writes them.

    A note ends where the next one starts; a note off is written where a note ends with no new
    note starting. Pitches outside the piano range are moved by octaves into it.
    """
    tokens = np.full(steps, NO_EVENT, dtype=np.int64)
    ordered = [note for note in sorted(notes, key=lambda n: (n.start, -n.pitch)) if 0 <= note.start < steps]
    onsets: dict[int, Note] = {}
    for note in ordered:
        onsets.setdefault(note.start, note)  # the highest of notes starting together, as in skyline()
    starts = sorted(onsets)
    for index, start in enumerate(starts):
        note = onsets[start]
        tokens[start] = FIRST_PITCH_TOKEN + into_range(note.pitch) - MIN_PITCH
        following = starts[index + 1] if index + 1 < len(starts) else steps
        end = min(note.end, following)
        if end < steps and end != following:
            tokens[end] = NOTE_OFF
    return tokens


def tokens_to_notes(tokens: Sequence[int] | NDArray[np.integer]) -> list[Note]:
    """The notes of a token row; a note sounds until the next note or note off, or the row's end."""
    notes: list[Note] = []
    pitch: int | None = None
    start = 0
    for step, token in enumerate(int(t) for t in tokens):
        if token == NO_EVENT:
            continue
        if pitch is not None:
            notes.append(Note(pitch, start, step))
            pitch = None
        if token >= FIRST_PITCH_TOKEN:
            pitch, start = MIN_PITCH + token - FIRST_PITCH_TOKEN, step
    if pitch is not None:
        notes.append(Note(pitch, start, len(tokens)))
    return notes


def one_hot(tokens: NDArray[np.integer]) -> NDArray[np.float32]:
    """Token rows (..., steps) as one-hot vectors (..., steps, TOKEN_COUNT), the model's input."""
    return np.eye(TOKEN_COUNT, dtype=np.float32)[np.asarray(tokens)]
