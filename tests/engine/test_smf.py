"""The Standard MIDI File reader: it reads what mido reads and refuses what mido refuses, and the note
cache's plan made with it equals the plan made with mido, for the product's files and many others."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import mido
import numpy as np
import pytest

from domain.model import Note
from domain.tune import BACKINGS
from engine import notecache, smf
from engine.arrange import arrange
from engine.midi import melody_to_midi
from engine.notecache import (
    ALL_NOTES_OFF,
    ALL_SOUND_OFF,
    BANK_SELECT,
    CHAIN_GAP_S,
    DEFAULT_TEMPO_US,
    DRUM_CHANNEL,
    EXCLUSIVE,
    FLUID_BLOCK,
    MAX_PLAN_S,
    MAX_VOICES,
    NOTE_CONTROLS,
    Plan,
    SoundKey,
    _blocks,
    _most_at_once,
    _Note,
)
from engine.subspace import load as load_subspace
from engine.tune import build_tune
from engine.warmup import warm_files
from tests.support.melodies import melody

RATE = 44100
SMPTE_DIVISION = -(25 << 8) + 40  # 25 frames a second, 40 ticks a frame


@pytest.fixture(autouse=True)
def _mido_keeps_the_time_of_unknown_meta_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """mido drops the delta time of a meta event of an unknown type, and so moves every later event of its
    track earlier; FluidSynth and the reader keep it. The reference reads with mido, that slip mended."""
    read_meta_message = mido.midifiles.midifiles.read_meta_message

    def keeping_time(infile: io.BytesIO, delta: int) -> mido.MetaMessage:
        message = read_meta_message(infile, delta)
        message.time = delta
        return message

    monkeypatch.setattr(mido.midifiles.midifiles, "read_meta_message", keeping_time)


def _plan_with_mido(data: bytes, sample_rate: int = RATE) -> Plan | None:
    """`notecache.plan` as it was when it read files with mido: the reference the reader must match."""
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception:
        return None
    if midi.type == 2 or midi.ticks_per_beat <= 0:
        return None
    timed: list[tuple[int, int, int, mido.Message]] = []
    tempo, end_tick = DEFAULT_TEMPO_US, 0
    for track_index, track in enumerate(midi.tracks):
        tick = 0
        for order, message in enumerate(track):
            tick += message.time
            if message.is_meta:
                if message.type == "set_tempo":
                    if tick > 0:
                        return None
                    tempo = message.tempo
                if message.type in ("set_tempo", "text", "lyrics", "time_signature", "key_signature"):
                    end_tick = max(end_tick, tick)
                continue
            timed.append((tick, track_index, order, message))
            if message.type in ("note_on", "note_off", "control_change", "pitchwheel"):
                end_tick = max(end_tick, tick)
    if tempo <= 0:  # the two guards plan has since (mido's plan divided by 0, and tabled any late event)
        return None
    seconds_per_tick = tempo / 1e6 / midi.ticks_per_beat
    end_s = end_tick * seconds_per_tick
    if max(end_tick, max((tick for tick, *_ in timed), default=0)) * seconds_per_tick > MAX_PLAN_S:
        return None
    blocks = _blocks(np.array([tick for tick, *_ in timed], dtype=np.int64), tempo / 1000 / midi.ticks_per_beat,
                     sample_rate)
    end_block = -(-round(end_s * sample_rate) // FLUID_BLOCK) + 1
    sequence = sorted(range(len(timed)), key=lambda i: (blocks[i], timed[i][1], timed[i][2]))
    notes = _notes_with_mido([(int(blocks[i]), timed[i][3]) for i in sequence], end_block)
    if notes is None:
        return None
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
        sounds.append(_sound_with_mido([note]))
    for runs in chains.values():
        sounds.extend(_sound_with_mido(run) for run in runs)
    return Plan(sounds, end_s)


def _notes_with_mido(events: Sequence[tuple[int, mido.Message]], end_block: int) -> list[_Note] | None:
    setups: dict[int, dict[int, int]] = {}
    programs: dict[int, tuple[tuple[tuple[int, int], ...], int]] = {}
    played: set[int] = set()
    sounding: dict[tuple[int, int], list[_Note]] = {}
    notes: list[_Note] = []
    for block, message in events:
        channel = getattr(message, "channel", None)
        kind = message.type
        if kind == "note_on" and message.velocity > 0:
            assert channel is not None
            key = (channel, message.note)
            for earlier in sounding.pop(key, []):
                earlier.off_block = block
            setup = setups.get(channel, {})
            state = programs.get(channel, (tuple(sorted(setup.items())), 0))
            controls = tuple(sorted((c, v) for c, v in setup.items() if c in NOTE_CONTROLS))
            note = _Note(channel, message.note, message.velocity, block,
                         (tuple(c for c in state[0] if c[0] in BANK_SELECT) + controls, state[1]))
            sounding[key] = [note]
            notes.append(note)
            played.add(channel)
        elif kind in ("note_on", "note_off"):
            for note in sounding.pop((message.channel, message.note), []):
                note.off_block = block
        elif kind == "program_change":
            setup = setups.get(message.channel, {})
            programs[message.channel] = (tuple(sorted((c, v) for c, v in setup.items() if c in BANK_SELECT)),
                                         message.program)
        elif kind == "control_change":
            if message.control in BANK_SELECT or (message.control in NOTE_CONTROLS and message.channel not in played):
                setups.setdefault(message.channel, {})[message.control] = message.value
            elif message.control in (ALL_SOUND_OFF, ALL_NOTES_OFF) and block >= end_block - 1:
                continue
            else:
                return None
        elif kind in ("sysex", "pitchwheel", "aftertouch", "polytouch"):
            return None
    for held in sounding.values():
        for note in held:
            note.off_block = max(end_block, note.on_block)
    return notes


def _sound_with_mido(run: Sequence[_Note]) -> tuple[int, SoundKey]:
    first = run[0].on_block
    events: list[tuple[int, int, int, int]] = []
    for index, note in enumerate(run):
        events.append((note.on_block - first, 2 * index, note.pitch, note.velocity))
        assert note.off_block is not None
        events.append((note.off_block - first, 2 * index + 1, note.pitch, 0))
    ordered = tuple((block, pitch, velocity) for block, _, pitch, velocity in sorted(events))
    setup, program = run[0].state
    return first * FLUID_BLOCK, SoundKey(run[0].channel == DRUM_CHANNEL, setup, program, ordered)


def _events_with_mido(data: bytes) -> list[list[tuple[int, str, int, int, int]]] | None:
    """Each track's events as mido reads them, in the reader's terms (a meta event by its type and tempo,
    sysex by kind alone); None when mido refuses the file."""
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception:
        return None
    tracks = []
    for track in midi.tracks:
        tick, events = 0, []
        for message in track:
            tick += message.time
            if message.is_meta:
                tempo = message.tempo if message.type == "set_tempo" else 0
                events.append((tick, smf.META, -1, message.bytes()[1], tempo))
            elif message.type == "sysex":
                events.append((tick, smf.SYSEX, -1, 0, 0))
            else:
                data_bytes = [*message.bytes()[1:], 0, 0]
                events.append((tick, message.type, getattr(message, "channel", -1), data_bytes[0], data_bytes[1]))
        tracks.append(events)
    return tracks


def _events(data: bytes) -> list[list[tuple[int, str, int, int, int]]]:
    """Each track's events as the reader reads them, in `_events_with_mido`'s terms."""
    midi = smf.read(data)
    return [[(tick, kind, channel, 0 if kind == smf.SYSEX else data1, data2)
             for tick, kind, channel, data1, data2, _ in track] for track in midi.tracks]


def _assert_read_and_planned_as_with_mido(data: bytes) -> Plan | None:
    expected_events = _events_with_mido(data)
    try:
        assert _events(data) == expected_events
    except smf.SmfError as error:
        # mido reads running status after sysex as more sysex, losing the byte: plan leaves either to FluidSynth
        assert expected_events is None or "running status after sysex" in str(error)
    plan = notecache.plan(data, RATE)
    assert plan == _plan_with_mido(data)
    return plan


# Files of the product

def test_the_warm_up_clips_are_planned_as_with_mido() -> None:
    for data in warm_files():
        assert _assert_read_and_planned_as_with_mido(data) is not None


@pytest.mark.parametrize("backing", BACKINGS)
def test_arranged_clips_of_every_backing_are_planned_as_with_mido(backing: str) -> None:
    rng = np.random.default_rng(3)
    for seed in range(40):
        tempo, instrument = int(rng.integers(40, 240)), int(rng.integers(0, 128))
        steps = 32 if seed % 4 else 64
        data = arrange(melody(seed, steps), backing, tempo, instrument, steps).midi
        assert _assert_read_and_planned_as_with_mido(data) is not None


def test_melody_files_are_planned_as_with_mido() -> None:
    for seed in range(20):
        data = melody_to_midi(melody(seed), 60 + 7 * seed, seed * 6 % 128)
        assert _assert_read_and_planned_as_with_mido(data) is not None
    assert _assert_read_and_planned_as_with_mido(melody_to_midi([], 120, 0)) is not None


@pytest.mark.slow
@pytest.mark.parametrize(("bars", "backing"), [(16, "band"), (8, "chords"), (8, "none")])
def test_tunes_are_planned_as_with_mido(melody_model, bars: int, backing: str) -> None:
    theme = [Note(p, 4 * i, 4 * i + 3) for i, p in enumerate([67, 72, 76, 79, 77, 74, 71, 67])]
    tune = build_tune(melody_model, melody_model.encode([theme])[0], contrast=None, bars=bars, backing=backing,
                      tempo=90, instrument=65, subspace=load_subspace(), rng=np.random.default_rng(7),
                      theme_notes=theme)
    assert _assert_read_and_planned_as_with_mido(tune.midi) is not None


# Files written by mido: running status, every kind of message and meta event, formats 0, 1 and 2

def _random_file(rng: np.random.Generator) -> bytes:
    """A MIDI file of notes on a few channels with their programs and controllers, and now and then
    what only FluidSynth plays (pitch bends, aftertouch, sysex, tempo changes, the sustain pedal)."""
    file_format = int(rng.choice([0, 1, 1, 1, 2]))
    ticks_per_beat = SMPTE_DIVISION if rng.random() < 0.03 else int(rng.choice([96, 220, 480, 960]))
    rare = rng.random() < 0.3  # a file with something plan leaves to FluidSynth
    midi = mido.MidiFile(type=file_format, ticks_per_beat=ticks_per_beat)
    for index in range(1 if file_format == 0 else int(rng.integers(1, 5))):
        timed: list[tuple[int, mido.Message | mido.MetaMessage]] = []
        if index == 0:
            timed.append((0, mido.MetaMessage("set_tempo", tempo=int(rng.integers(200_000, 1_500_000)))))
            timed.append((0, mido.MetaMessage("time_signature", numerator=3, denominator=4)))
            timed.append((0, mido.MetaMessage("key_signature", key=str(rng.choice(["C", "F#m", "Eb"])))))
        timed.append((0, mido.MetaMessage("track_name", name=f"part {index}")))
        channels = [int(c) for c in rng.choice(16, size=int(rng.integers(1, 3)), replace=False)]
        if rng.random() < 0.3:
            channels.append(DRUM_CHANNEL)
        for channel in channels:
            for control in rng.choice([0, 32, 7, 10, 11, 91, 93], size=int(rng.integers(0, 4))):
                timed.append((0, mido.Message("control_change", channel=channel, control=int(control),
                                              value=int(rng.integers(0, 128)))))
            timed.append((0, mido.Message("program_change", channel=channel, program=int(rng.integers(0, 128)))))
        length = int(rng.integers(1, 16)) * abs(ticks_per_beat) // 4 * 4
        for _ in range(int(rng.integers(0, 40))):
            channel = int(rng.choice(channels))
            pitch = int(rng.choice(list(EXCLUSIVE))) if channel == DRUM_CHANNEL else int(rng.integers(30, 100))
            start = int(rng.integers(0, length))
            stop = start + int(rng.integers(0, abs(ticks_per_beat)))
            velocity = int(rng.integers(1, 128))
            timed.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
            off = (mido.Message("note_off", channel=channel, note=pitch, velocity=int(rng.integers(0, 128)))
                   if rng.random() < 0.5 else mido.Message("note_on", channel=channel, note=pitch, velocity=0))
            timed.append((stop, off))
        if rng.random() < 0.2:
            timed.append((length, mido.Message("control_change", channel=channels[0], control=123, value=0)))
        if rng.random() < 0.3:
            timed.append((int(rng.integers(0, length + 1)), mido.Message("program_change", channel=channels[-1],
                                                                          program=int(rng.integers(0, 128)))))
        for kind in rng.choice(["text", "lyrics", "marker", "smpte_offset", "midi_port", "sequencer_specific",
                                "unknown", "songpos", "song_select", "quarter_frame"],
                               size=int(rng.integers(0, 3))):
            timed.append((int(rng.integers(0, length + 2 * abs(ticks_per_beat))), _other(str(kind))))
        if rare:
            timed.append((int(rng.integers(0, length)), _rare(rng, channels[0])))
        timed.sort(key=lambda item: item[0])  # stable: a note's start before its end at one tick
        track, now = mido.MidiTrack(), 0
        for at, message in timed:
            track.append(message.copy(time=at - now))
            now = at
        midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def _other(kind: str) -> mido.Message | mido.MetaMessage:
    if kind in ("text", "lyrics", "marker"):
        return mido.MetaMessage(kind, text="é la")
    if kind == "smpte_offset":
        return mido.MetaMessage("smpte_offset", frame_rate=25, minutes=59, sub_frames=99)
    if kind == "midi_port":
        return mido.MetaMessage("midi_port", port=3)
    if kind == "sequencer_specific":
        return mido.MetaMessage("sequencer_specific", data=[1, 2, 255])
    if kind == "unknown":
        return mido.UnknownMetaMessage(0x60, data=[9, 200])
    if kind == "songpos":
        return mido.Message("songpos", pos=300)
    if kind == "song_select":
        return mido.Message("song_select", song=5)
    return mido.Message("quarter_frame", frame_type=3, frame_value=9)


def _rare(rng: np.random.Generator, channel: int) -> mido.Message | mido.MetaMessage:
    kind = str(rng.choice(["pitchwheel", "aftertouch", "polytouch", "sysex", "set_tempo", "sustain"]))
    if kind == "pitchwheel":
        return mido.Message("pitchwheel", channel=channel, pitch=int(rng.integers(-8192, 8192)))
    if kind == "aftertouch":
        return mido.Message("aftertouch", channel=channel, value=64)
    if kind == "polytouch":
        return mido.Message("polytouch", channel=channel, note=60, value=64)
    if kind == "sysex":
        return mido.Message("sysex", data=[0x7E, 0x7F, 0x09, 0x01])
    if kind == "set_tempo":
        return mido.MetaMessage("set_tempo", tempo=400_000)
    return mido.Message("control_change", channel=channel, control=64, value=127)


def _random_files(seed: int, count: int) -> Iterator[bytes]:
    rng = np.random.default_rng(seed)
    return (_random_file(rng) for _ in range(count))


def test_files_written_by_mido_are_read_and_planned_as_with_mido() -> None:
    plans = [_assert_read_and_planned_as_with_mido(data) for data in _random_files(0, 400)]
    planned = sum(plan is not None for plan in plans)
    assert 100 < planned < 350  # both what plan mixes and what it leaves to FluidSynth


def test_running_status_continues_across_meta_events() -> None:
    track = (b"\x00\xc0\x05\x00\x90\x3c\x64\x00\xff\x01\x01x\x60\x3c\x00\x00\x3e\x64\x60\x3e\x00"
             b"\x00\xff\x2f\x00")
    data = _file(track)
    midi = smf.read(data)
    assert [event[:5] for event in midi.tracks[0] if event[1] != smf.META] == [
        (0, "program_change", 0, 5, 0), (0, "note_on", 0, 60, 100), (96, "note_on", 0, 60, 0),
        (96, "note_on", 0, 62, 100), (192, "note_on", 0, 62, 0),
    ]
    plan = _assert_read_and_planned_as_with_mido(data)
    assert plan is not None and len(plan.sounds) == 2


def test_a_meta_event_of_an_unknown_type_keeps_its_delta_time() -> None:
    midi = smf.read(_file(b"\x00\x90\x3c\x64\x60\xff\x7e\x01\x00\x60\x80\x3c\x00" + END))
    assert [event[:4] for event in midi.tracks[0]] == [
        (0, "note_on", 0, 60), (96, smf.META, -1, 0x7E), (192, "note_off", 0, 60),
        (192, smf.META, -1, smf.END_OF_TRACK),
    ]


def _file(*tracks: bytes, file_format: int = 1, division: int = 96, header: bytes = b"",
          track_count: int | None = None) -> bytes:
    """A MIDI file of `tracks` (the header says `track_count` of them, when given)."""
    count = len(tracks) if track_count is None else track_count
    head = b"MThd" + (6 + len(header)).to_bytes(4, "big") + file_format.to_bytes(2, "big", signed=True)
    head += count.to_bytes(2, "big") + division.to_bytes(2, "big", signed=True) + header
    return head + b"".join(b"MTrk" + len(track).to_bytes(4, "big") + track for track in tracks)


NOTE = b"\x00\x90\x3c\x64\x60\x80\x3c\x00"
END = b"\x00\xff\x2f\x00"

# Files at the edges of the format, each read or refused as mido reads or refuses it.
EDGE_FILES = {
    "a plain note": _file(NOTE + END),
    "an empty track": _file(b""),
    "no tracks": _file(),
    "a longer header": _file(NOTE + END, header=b"\x01\x02"),
    "bytes after the last track": _file(NOTE + END) + b"\x00junk",
    "format 0": _file(NOTE + END, file_format=0),
    "format 2": _file(NOTE + END, NOTE + END, file_format=2),
    "an unknown format": _file(NOTE + END, file_format=7),
    "SMPTE time": _file(NOTE + END, division=SMPTE_DIVISION),
    "zero ticks per beat": _file(NOTE + END, division=0),
    "a five-byte delta": _file(b"\x80\x80\x80\x80\x00\x90\x3c\x64\x60\x80\x3c\x00"),
    "a note-on data byte over 127": _file(b"\x00\x90\x3c\xe4" + END),
    "running status before any status": _file(b"\x00\x3c\x64" + END),
    "running status after sysex": _file(b"\x00\xf0\x02\x01\xf7\x00\x03\x01\x02\xf7" + END),
    "running status after a tune request": _file(b"\x00\xf6\x00\x05" + END),
    "running status after a song select": _file(b"\x00\xf3\x01\x00\x02" + NOTE + END),
    "an undefined status": _file(b"\x00\xf4" + END),
    "a real-time message": _file(b"\x00\xf8" + NOTE + END),
    "a sysex with F7 alone": _file(b"\x00\xf7\x02\x01\x02" + NOTE + END),
    "a sysex byte over 127": _file(b"\x00\xf0\x03\x01\x90\xf7" + END),
    "a tempo of 2 bytes": _file(b"\x00\xff\x51\x02\x07\xa1" + NOTE + END),
    "a tempo of 4 bytes": _file(b"\x00\xff\x51\x04\x07\xa1\x20\x05" + NOTE + END),
    "a tempo of 0": _file(b"\x00\xff\x51\x03\x00\x00\x00" + NOTE + END),
    "a tempo late": _file(NOTE + b"\x00\xff\x51\x03\x07\xa1\x20" + END),
    "a time signature of 3 bytes": _file(b"\x00\xff\x58\x03\x04\x02\x18" + NOTE + END),
    "a time signature over 2 to the 29": _file(b"\x00\xff\x58\x04\x04\x1d\x18\x08" + NOTE + END),
    "a time signature over 2 to the 30": _file(b"\x00\xff\x58\x04\x04\x1e\x18\x08" + NOTE + END),
    "a key signature of 8 sharps": _file(b"\x00\xff\x59\x02\x08\x00" + NOTE + END),
    "a key signature of 7 flats minor": _file(b"\x00\xff\x59\x02\xf9\x01" + NOTE + END),
    "a key signature in mode 2": _file(b"\x00\xff\x59\x02\x00\x02" + NOTE + END),
    "a sequence number of 1 byte": _file(b"\x00\xff\x00\x01\x05" + NOTE + END),
    "a sequence number of 0 bytes": _file(b"\x00\xff\x00\x00" + NOTE + END),
    "a channel prefix of 0 bytes": _file(b"\x00\xff\x20\x00" + NOTE + END),
    "an SMPTE offset at 60 minutes": _file(b"\x00\xff\x54\x05\x01\x3c\x00\x00\x00" + NOTE + END),
    "an SMPTE offset at frame rate 4": _file(b"\x00\xff\x54\x05\x80\x00\x00\x00\x00" + NOTE + END),
    "an SMPTE offset of 4 bytes": _file(b"\x00\xff\x54\x04\x01\x00\x00\x00" + NOTE + END),
    "an unknown meta event": _file(b"\x00\xff\x7e\x02\xff\xfe" + NOTE + END),
    "a meta event past the track's end": _file(NOTE + b"\x00\xff\x01\x09ab"),
    "a note past the track's end": _file(b"\x00\x90\x3c"),
    "a track that claims more than there is": _file(NOTE + END)[:-2],
    "a missing track": _file(NOTE + END, track_count=2),
    "a track more than the header says": _file(NOTE + END, b"\x00\x90" + END, track_count=1),
    "a chunk that is not MTrk": _file(NOTE + END).replace(b"MTrk", b"MTrx"),
    "a short header": b"MThd\x00\x00\x00\x04\x00\x01\x00\x01",
    "not MIDI": b"RIFF\x00\x00\x00\x06\x00\x01\x00\x01\x00\x60",
    "nothing": b"",
}


@pytest.mark.parametrize("name", list(EDGE_FILES))
def test_files_at_the_edges_are_read_or_refused_as_mido_does(name: str) -> None:
    _assert_read_and_planned_as_with_mido(EDGE_FILES[name])


def test_smpte_time_format_2_and_damage_are_left_to_fluidsynth() -> None:
    for name in ("SMPTE time", "zero ticks per beat", "format 2", "a missing track", "a note past the track's end"):
        assert notecache.plan(EDGE_FILES[name], RATE) is None
    assert notecache.plan(EDGE_FILES["an unknown format"], RATE) is not None  # as mido, which reads it


# Damaged files

def _products_files() -> list[bytes]:
    files = [arrange(melody(seed), backing, 100, 0, 32).midi for seed, backing in enumerate(BACKINGS)]
    return files + list(_random_files(1, 6))


def test_every_truncation_is_refused_and_left_to_fluidsynth() -> None:
    for data in _products_files():
        for end in range(len(data)):
            with pytest.raises(smf.SmfError):
                smf.read(data[:end])
            assert notecache.plan(data[:end], RATE) is None


def test_damaged_bytes_are_read_or_refused_and_planned_as_with_mido() -> None:
    rng = np.random.default_rng(5)
    files = _products_files()
    for _ in range(3000):
        data = bytearray(files[int(rng.integers(len(files)))])
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(len(data)))
            how = rng.random()
            if how < 0.6:
                data[at] = int(rng.integers(256))
            elif how < 0.8:
                del data[at]
            else:
                data.insert(at, int(rng.integers(256)))
        _assert_read_and_planned_as_with_mido(bytes(data))


def test_a_file_with_a_still_clock_or_an_event_hours_in_is_left_to_fluidsynth_whole():
    from engine import notecache

    def written(tempo: int, late_ticks: int) -> bytes:
        track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo),
                                mido.Message("note_on", note=60, velocity=90),
                                mido.Message("note_off", note=60, time=480),
                                mido.Message("program_change", program=5, time=late_ticks)])
        buffer = io.BytesIO()
        mido.MidiFile(tracks=[track], ticks_per_beat=480).save(file=buffer)
        return buffer.getvalue()

    assert notecache.plan(written(500_000, 0), 48_000) is not None
    assert notecache.plan(written(0, 0), 48_000) is None  # no division by a tempo of 0
    # Past MAX_PLAN_S: no table of its blocks (it would take gigabytes), whatever kind of event it is.
    assert notecache.plan(written(500_000, 480 * 2 * 3600 * 10), 48_000) is None
