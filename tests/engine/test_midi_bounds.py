"""A seed MIDI file's bounds (tracks, events, notes, length), checked on its bytes before anything is parsed."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import mido
import pytest

from engine import midi

MUSIC21 = Path(__import__("music21").__file__).parent


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def _smf(tracks: list[bytes], division: int = 480) -> bytes:
    chunks = b"".join(b"MTrk" + struct.pack(">I", len(track)) + track for track in tracks)
    return b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), division) + chunks


END = b"\x00\xff\x2f\x00"


@pytest.fixture
def unparsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing the file fails the test: a bound must refuse it first."""
    def parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(mido, "MidiFile", parse)


@pytest.mark.parametrize("data, reason", [
    # 1 MiB of running-status notes: seconds of CPU and hundreds of MB once parsed.
    (_smf([b"\x00\x90\x3c\x40" + b"\x01\x3c\x40" * 340_000 + END]), "more than 10,000 notes"),
    (_smf([b"\x00\x90\x3c\x00" + b"\x01\x3c\x00" * 340_000 + END]), "more than 20,000 events"),
    (_smf([END] * 65), "more than 64 tracks"),
    (_smf([b"\x00\x90\x3c\x40" + _varlen(2_001 * 480) + b"\x80\x3c\x00" + END]), "2,000 beats at most"),
    (_smf([b"\x00\x90\x3c\x40" + _varlen(midi.MAX_TICKS + 1) + b"\x80\x3c\x00" + END], division=0xE728),
     "too long"),
])
def test_a_crafted_file_is_refused_in_one_line_before_it_is_parsed(unparsed, data: bytes, reason: str) -> None:
    started = time.process_time()
    with pytest.raises(midi.MidiError, match=reason) as refused:
        midi.validate_upload(data)
    assert "\n" not in str(refused.value)
    assert time.process_time() - started < 1.0


def test_a_whole_piece_within_the_bounds_is_still_a_seed() -> None:
    piece = (MUSIC21 / "omr" / "k525MIDIMvt1.mid").read_bytes()  # 12,923 events, 6,398 notes, 6 tracks
    midi.validate_upload(piece)
    assert midi.midi_to_notes(piece)


def test_a_damaged_file_is_left_to_the_parser_to_name() -> None:
    data = bytearray(_smf([b"\x00\x90\x3c\x40\x10\x80\x3c\x00" + END]))
    del data[-3:]
    with pytest.raises(midi.MidiError, match="corrupt"):
        midi.validate_upload(bytes(data))
