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
# What an uploaded file may hold, checked on its bytes before mido and pretty_midi build anything: a
# crafted 1 MiB file of running-status events costs seconds of CPU and hundreds of MB once parsed.
MAX_TRACKS = 64
MAX_EVENTS = 20_000
MAX_NOTES = 10_000
MAX_BEATS = 2_000  # about 17 minutes at 120 BPM
MAX_TICKS = 1 << 20  # pretty_midi keeps 8 bytes per tick of the longest track
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
            return int(round(float(music.time_to_tick(seconds)) * STEPS_PER_BEAT / music.resolution))
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
    """Refuse with MidiError anything that is not a usable melody: too big, too many tracks, events or notes,
    too long, not MIDI, corrupt, no notes. The bounds are checked on the bytes, before parsing."""
    if len(data) > max_bytes:
        raise MidiError(f"the file is too big ({_size(len(data))}; at most {_size(max_bytes)})")
    check_bounds(data)
    if not midi_to_notes(data):
        raise MidiError("the MIDI file has no notes (drum tracks do not count)")


def check_bounds(data: bytes) -> None:
    """MidiError when a Standard MIDI File holds more tracks, events or notes than allowed, or lasts longer.

    It walks the bytes without building anything, and stops at the first bound passed; a file whose
    structure it cannot follow is left to the parser, whose error names the damage.
    """
    if len(data) < 14 or not data.startswith(b"MThd"):
        return
    header_length = int.from_bytes(data[4:8], "big")
    division = int.from_bytes(data[12:14], "big")
    tracks = 0  # counted as found: a damaged header's count is the parser's to report
    # SMPTE timing (the top bit) counts ticks per frame, not per beat: only the tick bound applies.
    ticks_per_beat = division if division and not division & 0x8000 else 0
    counts = [0, 0]  # events, notes
    position = 8 + header_length
    while position + 8 <= len(data):
        length = int.from_bytes(data[position + 4:position + 8], "big")
        body = data[position + 8:position + 8 + length]
        if data[position:position + 4] == b"MTrk":
            tracks += 1
            if tracks > MAX_TRACKS:
                raise MidiError(f"the file has more than {MAX_TRACKS} tracks; a seed may have that many at most")
            ticks = _walk_track(body, counts)
            if ticks > MAX_TICKS or (ticks_per_beat and ticks / ticks_per_beat > MAX_BEATS):
                raise MidiError(f"the file is too long; a seed may last {MAX_BEATS:,} beats at most")
        position += 8 + length


def _walk_track(track: bytes, counts: list[int]) -> int:
    """Count one track's events and notes into `counts` (MidiError past a bound); its length in ticks."""
    position, ticks, running = 0, 0, 0
    end = len(track)
    while position < end:
        read = _varint(track, position)
        if read is None:
            return ticks
        delta, position = read
        ticks += delta
        if ticks > MAX_TICKS:
            return ticks
        if position >= end:
            return ticks
        status = track[position]
        if status & 0x80:
            position += 1
        elif not running:
            return ticks  # data without a status: damaged, the parser says so
        else:
            status = running
        if status in (0xFF, 0xF0, 0xF7):
            if status == 0xFF:
                position += 1  # the meta type
            read = _varint(track, position)
            if read is None:
                return ticks
            length, position = read
            position += length
            running = 0
        else:
            running = status
            size = 1 if status & 0xF0 in (0xC0, 0xD0) else 2
            if status & 0xF0 == 0x90 and position + 1 < end and track[position + 1]:
                counts[1] += 1
                if counts[1] > MAX_NOTES:
                    raise MidiError(f"the file has more than {MAX_NOTES:,} notes; a seed may have that many at most")
            position += size
        counts[0] += 1
        if counts[0] > MAX_EVENTS:
            raise MidiError(f"the file has more than {MAX_EVENTS:,} events; a seed may have that many at most")
    return ticks


def _varint(track: bytes, position: int) -> tuple[int, int] | None:
    """The variable-length quantity (at most 4 bytes) at `position`, and the position after it; None if cut off."""
    value = 0
    for _ in range(4):
        if position >= len(track):
            return None
        byte = track[position]
        position += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return value, position


def _size(count: int) -> str:
    """A byte count for people: exact units when it has them (1 MiB), else KiB rounded up."""
    for unit, name in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if count >= unit and count % unit == 0:
            return f"{count // unit:,} {name}"
    return f"{-(-count // 1024):,} KiB" if count >= 1 << 10 else f"{count} bytes"
