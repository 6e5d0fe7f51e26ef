"""Backing for a melody: chords, a bass line and, for a band, drums, as one multi-track MIDI file.

Pure: notes in, Standard MIDI File bytes out (written here as pretty_midi writes them). Each part is its own track and
General MIDI instrument; the melody comes first and is the loudest (highest velocity and channel
volume), the backing sits under it. Backings (domain.tune.BACKINGS):
- "none": the melody alone, the same file `engine.midi.melody_to_midi` writes;
- "chords": sustained chords (strings, or an electric piano under a string melody) and a bass that
  plays each chord's root, and its fifth when a chord lasts a whole bar;
- "band": the chords comped on an electric piano (piano under an electric-piano melody), a bass
  with a pushed rhythm and approach notes, and a drum groove on the General MIDI drum channel.
In a tune (longer than a 2-bar clip) the last bar holds the final chord, so it ends rather than stops.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.model import Note
from domain.tune import BACKINGS, Backing
from engine.harmony import STEPS_PER_BAR, Chord, Key, estimate_key, fit_chords, merge_repeats
from engine.midi import END_MARKER, TICKS_PER_BEAT, VELOCITY, melody_to_midi, step_seconds

log = logging.getLogger(__name__)

CHORD_STEPS = 8  # half a bar: the harmonic rhythm the fitter may use
CLIP_STEPS = 32  # a breed's clips: 2 bars, which loop the groove instead of ending

MELODY_VOLUME = 124  # MIDI channel volume (controller 7); the backing parts stay well below
CHORDS_VOLUME, BASS_VOLUME, DRUMS_VOLUME = 72, 88, 76
CHORDS_VELOCITY, BASS_VELOCITY = 62, 80
VOLUME, PAN = 7, 10  # controller numbers
CHORDS_PAN = 44  # a little left of the melody, so that the two do not mask each other

STRINGS, ELECTRIC_PIANO, PIANO = 48, 4, 0
ACOUSTIC_BASS, FINGERED_BASS = 32, 33
STRING_FAMILY = range(40, 56)
PIANO_FAMILY = range(0, 8)

VOICING_FLOOR = 48  # C3: the lowest tone of a chord voicing
VOICING_CEILING = 67  # G4: the highest, lowered under a low melody down to VOICING_MIN_TOP
VOICING_MIN_TOP = 58
VOICING_CENTRE = 57
BASS_LOW, BASS_HIGH = 36, 47  # C2..B2: each root in this octave

DRUM_CHANNEL = 9  # General MIDI's drums
KICK, SNARE, CLOSED_HAT, OPEN_HAT, CRASH = 36, 38, 42, 46, 49
# One bar of the groove: (step, drum, velocity).
GROOVE = (
    (0, KICK, 96), (8, KICK, 88), (10, KICK, 70), (4, SNARE, 92), (12, SNARE, 92),
    *((step, CLOSED_HAT, 72 if step % 4 == 0 else 52) for step in range(0, 16, 2)),
)
OPEN_HAT_STEP = 14  # every second bar, the last eighth opens the hi-hat into the next bar


@dataclass(frozen=True)
class Part:
    """One track: its name, General MIDI program (None on the drum channel) and loudness."""

    name: str
    program: int | None
    volume: int
    notes: list[tuple[int, int, int, int]] = field(default_factory=list)  # (pitch, start, end, velocity)


@dataclass(frozen=True)
class Arrangement:
    """A melody with its backing: the MIDI file, the chords under it (none without backing), its key."""

    midi: bytes
    chords: list[Chord]
    key: Key | None
    parts: list[Part]


def arrange(
    melody: Sequence[Note], backing: str, tempo: int, instrument: int, steps: int,
    chords: Sequence[Chord] | None = None, key: Key | None = None,
) -> Arrangement:
    """The melody with `backing` ("none", "chords", "band") as a Standard MIDI File of at least `steps` steps.

    Without `chords`, they are fitted to the melody in `key` (estimated when not given).
    """
    if backing not in BACKINGS:
        raise ValueError(f"backing must be one of {', '.join(BACKINGS)}, not {backing!r}")
    if backing == Backing.NONE:
        return Arrangement(melody_to_midi(melody, tempo, instrument, steps), [], key, [])
    length = max([steps, *(note.end for note in melody)])
    if chords is None:
        key = key or estimate_key(melody)
        chords = fit_chords(melody, key, math.ceil(length / CHORD_STEPS) * CHORD_STEPS, CHORD_STEPS)
    chords = list(chords)
    length = max(length, chords[-1].end_step if chords else 0)
    melody_part = Part("Melody", instrument, MELODY_VOLUME,
                       [(note.pitch, note.start, note.end, VELOCITY) for note in melody])
    parts = [melody_part, _chord_part(melody, chords, backing, instrument), _bass_part(chords, backing)]
    if backing == "band":
        parts.append(_drum_part(length))
    return Arrangement(_write(parts, tempo, length), chords, key, parts)


def _chord_part(melody: Sequence[Note], chords: Sequence[Chord], backing: str, instrument: int) -> Part:
    if backing == "chords":
        program = ELECTRIC_PIANO if instrument in STRING_FAMILY else STRINGS
    else:
        program = PIANO if instrument in (4, 5) else ELECTRIC_PIANO
    part = Part("Chords", program, CHORDS_VOLUME)
    final_bar = _final_bar_start(chords)
    previous: list[int] = []
    for chord in _per_bar(merge_repeats(chords)):
        lowest = min((n.pitch for n in melody if n.start < chord.end_step and n.end > chord.start_step), default=127)
        voicing = _voicing(chord, previous, max(min(VOICING_CEILING, lowest - 1), VOICING_MIN_TOP))
        previous = voicing
        if backing == "chords" or chord.start_step >= final_bar:
            hits = [(chord.start_step, chord.end_step, CHORDS_VELOCITY)]
        else:
            hits = _comp_hits(chord)
        part.notes.extend((pitch, start, end, velocity) for start, end, velocity in hits for pitch in voicing)
    return part


def _comp_hits(chord: Chord) -> list[tuple[int, int, int]]:
    """An electric piano's comping: each half bar, a hit on the beat and a short push on its last eighth."""
    hits = []
    for start in range(chord.start_step, chord.end_step, CHORD_STEPS):
        end = min(start + CHORD_STEPS, chord.end_step)
        hits.append((start, min(start + 4, end), CHORDS_VELOCITY))
        if end - start >= CHORD_STEPS:
            hits.append((start + 6, end, CHORDS_VELOCITY - 10))
    return hits


def _bass_part(chords: Sequence[Chord], backing: str) -> Part:
    part = Part("Bass", ACOUSTIC_BASS if backing == "chords" else FINGERED_BASS, BASS_VOLUME)
    final_bar = _final_bar_start(chords)
    spans = _per_bar(merge_repeats(chords))
    for index, chord in enumerate(spans):
        root = _in_octave(chord.root)
        fifth = _in_octave(chord.pitch_classes[2])
        following = spans[(index + 1) % len(spans)]  # a clip's last chord leads back to its first
        if chord.start_step >= final_bar:
            part.notes.append((root, chord.start_step, chord.end_step, BASS_VELOCITY))
            continue
        for start in range(chord.start_step, chord.end_step, CHORD_STEPS):
            first_half = start == chord.start_step
            last_half = start + CHORD_STEPS >= chord.end_step
            tone = root if first_half else fifth
            if backing == "chords":
                part.notes.append((tone, start, start + CHORD_STEPS - 1, BASS_VELOCITY))
                continue
            approach = _approach(chord, following) if last_half else root
            part.notes.extend([
                (tone, start, start + 3, BASS_VELOCITY),
                (tone, start + 3, start + 5, BASS_VELOCITY - 16),
                (approach, start + 6, start + 8, BASS_VELOCITY - 8),
            ])
    return part


def _drum_part(length: int) -> Part:
    part = Part("Drums", None, DRUMS_VOLUME)
    bars = math.ceil(length / STEPS_PER_BAR)
    for bar in range(bars):
        offset = bar * STEPS_PER_BAR
        if bar == bars - 1 and length > CLIP_STEPS:  # a tune's ending: one crash with the final chord
            part.notes.extend([(CRASH, offset, offset + 8, 96), (KICK, offset, offset + 2, 100)])
            break
        for step, drum, velocity in GROOVE:
            if drum == CLOSED_HAT and step == OPEN_HAT_STEP and bar % 2 == 1:
                drum = OPEN_HAT
            part.notes.append((drum, offset + step, offset + step + 1, velocity))
        if bar == 0:
            part.notes.append((CRASH, 0, 8, 84))
    return part


def _per_bar(chords: Sequence[Chord]) -> list[Chord]:
    """Chords cut at bar lines, so a chord held over several bars is struck again in each."""
    cut = []
    for chord in chords:
        start = chord.start_step
        while start < chord.end_step:
            end = min((start // STEPS_PER_BAR + 1) * STEPS_PER_BAR, chord.end_step)
            cut.append(Chord(chord.root, chord.quality, chord.roman, chord.name, start, end, chord.pitch_classes))
            start = end
    return cut


def _final_bar_start(chords: Sequence[Chord]) -> int:
    """Where a tune's held last bar starts; a clip of a breed (2 bars) keeps its groove to the end."""
    end = chords[-1].end_step if chords else 0
    if end <= CLIP_STEPS:
        return end
    return max((end - 1) // STEPS_PER_BAR * STEPS_PER_BAR, 0)


def _approach(chord: Chord, following: Chord) -> int:
    """A tone of `chord` next to the following root (not the root itself): the bass leads into the change."""
    target = _in_octave(following.root)
    tones = [_in_octave(pc) + octave for pc in chord.pitch_classes for octave in (-12, 0, 12)]
    return min((t for t in tones if t != target and BASS_LOW - 5 <= t <= BASS_HIGH + 5),
               key=lambda t: abs(t - target))


def _in_octave(pitch_class: int) -> int:
    return BASS_LOW + (pitch_class - BASS_LOW) % 12


def _voicing(chord: Chord, previous: Sequence[int], ceiling: int) -> list[int]:
    """A close voicing of the chord with its top at most `ceiling`, moving least from `previous`."""
    candidates = []
    for bottom in range(VOICING_FLOOR, VOICING_FLOOR + 12):
        if bottom % 12 not in chord.pitch_classes:
            continue
        voicing = [bottom]
        for _ in range(len(chord.pitch_classes) - 1):
            voicing.append(next(p for p in range(voicing[-1] + 1, voicing[-1] + 13)
                                if p % 12 in chord.pitch_classes and p % 12 not in {v % 12 for v in voicing}))
        candidates.append(voicing)
    fitting = [v for v in candidates if v[-1] <= ceiling] or [min(candidates, key=lambda v: v[-1])]

    def motion(voicing: list[int]) -> float:
        centre = abs(sum(voicing) / len(voicing) - VOICING_CENTRE) * 0.2
        if not previous:
            return centre
        return centre + sum(min(abs(p - q) for q in previous) for p in voicing)

    return min(fitting, key=motion)


def _write(parts: Sequence[Part], tempo: int, length: int) -> bytes:
    """The Standard MIDI File of `parts`: the very bytes pretty_midi writes for them (`tests/engine/test_arrange.py`
    holds the two together), in a tenth of its time, which a generation step spends on each of its clips.

    Track 0: the tempo, 4/4 and the end marker; then a track a part: its name, program, volume (and the
    chords' pan) and notes, in pretty_midi's order within a tick (program, controllers, then notes by pitch,
    a note's end before a start), and mido's running status.
    """
    step = step_seconds(tempo)
    tick_scale = 60.0 / (float(tempo) * TICKS_PER_BEAT)

    def tick(seconds: float) -> int:
        return int(round(seconds / tick_scale)) if seconds > 0 else 0

    end = tick(length * step)
    tempo_us = int(6e7 / (60.0 / (tick_scale * TICKS_PER_BEAT)))  # pretty_midi's rounding of it
    timing = bytearray(_delta(0) + b"\xff\x51\x03" + tempo_us.to_bytes(3, "big"))
    timing += _delta(0) + b"\xff\x58\x04\x04\x02\x18\x08"  # 4/4, 24 clocks a click, 8 32nds a beat
    timing += _delta(end) + _meta(0x01, END_MARKER.encode("latin-1")) + _delta(1) + b"\xff\x2f\x00"
    tracks = [bytes(timing)]
    channels = [channel for channel in range(16) if channel != DRUM_CHANNEL]
    for index, part in enumerate(parts):
        channel = DRUM_CHANNEL if part.program is None else channels[index % len(channels)]
        controls = [(VOLUME, part.volume)] + ([(PAN, CHORDS_PAN)] if part.name == "Chords" else [])
        # (tick, order within the tick, status, data): pretty_midi's sort, which is stable.
        events = [(0, 6 << 16, 0xC0 | channel, bytes([part.program or 0]))]
        for pitch, start, stop, velocity in part.notes:
            events.append((tick(start * step), (10 << 16) + (pitch << 8) + velocity, 0x90 | channel,
                           bytes([pitch, velocity])))
            events.append((tick(stop * step), (10 << 16) + (pitch << 8), 0x90 | channel, bytes([pitch, 0])))
        events += [(0, (8 << 16) + (number << 8) + value, 0xB0 | channel, bytes([number, value]))
                   for number, value in controls]
        events.sort(key=lambda event: (event[0], event[1]))
        track = bytearray(_delta(0) + _meta(0x03, part.name.encode("latin-1")))
        now, running = 0, None
        for at, _, status, data in events:
            track += _delta(at - now)
            track += data if status == running else bytes([status]) + data
            now, running = at, status
        track += _delta(1) + b"\xff\x2f\x00"
        tracks.append(bytes(track))
    header = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + len(tracks).to_bytes(2, "big")
    header += TICKS_PER_BEAT.to_bytes(2, "big")
    return header + b"".join(b"MTrk" + len(track).to_bytes(4, "big") + track for track in tracks)


def _delta(ticks: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [ticks & 0x7F]
    ticks >>= 7
    while ticks:
        out.append(0x80 | (ticks & 0x7F))
        ticks >>= 7
    return bytes(reversed(out))


def _meta(kind: int, data: bytes) -> bytes:
    return b"\xff" + bytes([kind]) + _delta(len(data)) + data
