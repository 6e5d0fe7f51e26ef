"""Melodies to Standard MIDI Files and back, and the check of uploaded MIDI files.

pretty_midi only (no note_seq, no TensorFlow): the bot imports this module to validate uploads.
A melody is a sequence of `Note`s in sixteenth-note steps; one step lasts 60 / tempo / 4 seconds.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

import mido
import pretty_midi

from domain.model import Note

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 1 << 20
STEPS_PER_BEAT = 4
TICKS_PER_BEAT = 480  # a sixteenth is 120 ticks: every step lands on a whole tick
VELOCITY = 100
END_MARKER = "end"


class MidiError(ValueError):
    """A MIDI file that cannot be used; the message is one line meant for people."""


def step_seconds(tempo: float) -> float:
    """The duration of one sixteenth-note step at `tempo` BPM."""
    return 60.0 / tempo / STEPS_PER_BEAT


def melody_to_midi(notes: Sequence[Note], tempo: int, instrument: int, steps: int = 32) -> bytes:
    """A one-track MIDI file of `notes` with General MIDI program `instrument`, at `tempo` BPM.

    The file lasts at least `steps` steps (an end marker keeps a trailing rest), so players and the
    renderer give the whole clip.
    """
    if not 0 <= instrument <= 127:
        raise ValueError(f"instrument must be a General MIDI program 0-127, not {instrument}")
    if tempo <= 0:
        raise ValueError(f"tempo must be positive, not {tempo}")
    step = step_seconds(tempo)
    music = pretty_midi.PrettyMIDI(resolution=TICKS_PER_BEAT, initial_tempo=float(tempo))
    music.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    track = pretty_midi.Instrument(program=instrument, name=pretty_midi.program_to_instrument_name(instrument))
    for note in notes:
        if not 0 <= note.pitch <= 127 or note.start < 0 or note.end <= note.start:
            raise ValueError(f"not a playable note: {note}")
        track.notes.append(pretty_midi.Note(VELOCITY, note.pitch, note.start * step, note.end * step))
    music.instruments.append(track)
    length = max([steps, *(note.end for note in notes)])
    music.text_events.append(pretty_midi.Text(END_MARKER, length * step))
    buffer = io.BytesIO()
    music.write(buffer)
    return buffer.getvalue()


def read_midi(data: bytes) -> pretty_midi.PrettyMIDI:
    """Parse a Standard MIDI File; MidiError (one line) when it is not one or is damaged."""
    return _read(data)[0]


def _read(data: bytes) -> tuple[pretty_midi.PrettyMIDI, bool]:
    """The parsed file and whether it sets a tempo itself."""
    if not data:
        raise MidiError("the file is empty")
    if not data.startswith(b"MThd"):
        raise MidiError("not a MIDI file (it does not start with the MThd header)")
    # mido and pretty_midi raise a zoo of exceptions on damaged files (EOFError, OSError, KeyError,
    # IndexError, ValueError...); for untrusted input every one of them means "corrupt".
    try:
        parsed = mido.MidiFile(file=io.BytesIO(data))
        sets_tempo = any(message.type == "set_tempo" for track in parsed.tracks for message in track)
        return pretty_midi.PrettyMIDI(mido_object=parsed), sets_tempo
    except Exception as error:
        if isinstance(error, EOFError):
            reason = "it ends in the middle (truncated?)"
        else:
            reason = " ".join(str(error).split()) or type(error).__name__
        raise MidiError(f"the MIDI file is corrupt: {reason}") from None


def midi_to_notes(data: bytes, tempo_hint: float | None = None) -> list[Note]:
    """The melody line of a MIDI file in sixteenth-note steps (monophonic).

    The line is the highest note at each time of the first non-drum instrument that has notes.
    Positions follow the file's own tempo map (its beats). `tempo_hint`: the BPM the music was played
    at, used only when the file sets no tempo (MIDI then means 120 BPM, so a live recording at another
    tempo would land on the wrong grid).
    """
    music, sets_tempo = _read(data)
    instrument = next((i for i in music.instruments if not i.is_drum and i.notes), None)
    if instrument is None:
        return []
    if tempo_hint is not None and not sets_tempo:
        def to_step(seconds: float) -> int:
            return round(seconds * tempo_hint / 60.0 * STEPS_PER_BEAT)
    else:
        def to_step(seconds: float) -> int:
            return round(music.time_to_tick(seconds) * STEPS_PER_BEAT / music.resolution)
    quantised = []
    for note in instrument.notes:
        start = max(to_step(note.start), 0)
        quantised.append(Note(note.pitch, start, max(to_step(note.end), start + 1)))
    return skyline(quantised)


def skyline(notes: Sequence[Note]) -> list[Note]:
    """A monophonic line: at each onset the highest new note wins, cutting a lower or equal sounding one.

    A note that starts below the note still sounding is dropped rather than squeezed in later, so
    the line never sounds a note nobody played at that moment.
    """
    onsets: dict[int, Note] = {}
    for note in notes:
        best = onsets.get(note.start)
        if best is None or (note.pitch, note.end) > (best.pitch, best.end):
            onsets[note.start] = note
    line: list[Note] = []
    for start in sorted(onsets):
        note = onsets[start]
        if line and line[-1].end > start:
            if note.pitch < line[-1].pitch:
                continue
            previous = line.pop()
            line.append(Note(previous.pitch, previous.start, start))
        line.append(note)
    return line


def validate_upload(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
    """Refuse with MidiError anything that is not a usable melody: too big, not MIDI, corrupt, no notes."""
    if len(data) > max_bytes:
        raise MidiError(f"the file is too big ({_size(len(data))}; at most {_size(max_bytes)})")
    if not midi_to_notes(data):
        raise MidiError("the MIDI file has no notes (drum tracks do not count)")


def _size(count: int) -> str:
    """A byte count for people: exact units when it has them (1 MiB), else KiB rounded up."""
    for unit, name in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if count >= unit and count % unit == 0:
            return f"{count // unit:,} {name}"
    return f"{-(-count // 1024):,} KiB" if count >= 1 << 10 else f"{count} bytes"
