"""Piano rolls: a numbered PNG of a whole generation, a PNG of one melody, and a text roll.

Pillow only. The PNGs use Discord's dark colours; each candidate's panel carries a blue number
badge like the keycap emoji (1️⃣…🔟) people vote with, and every panel shares one pitch range so
that melodies can be compared at a glance.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from domain.model import STEPS_PER_BEAT, Note, pitch_name
from engine.harmony import Chord

if TYPE_CHECKING:
    from engine.tune import Tune

log = logging.getLogger(__name__)

STEPS_PER_BAR = 16
BLACK_KEYS = {1, 3, 6, 8, 10}

WIDTH = 1000
MARGIN = 16
GAP = 12
GUTTER = 52  # left of each roll: the number badge and the C labels
PANEL_ROLL_HEIGHT = 160
MELODY_ROLL_HEIGHT = 260
TITLE_HEIGHT = 44
MIN_KEY_ROW = 6  # px: thinner key rows would be a blur of stripes
MIN_NOTE_HEIGHT = 5  # px: notes stay visible when the range is wide
MIN_SPAN = 13  # semitones shown at least, so that a melody of one note is not a full-height bar

BACKGROUND = (43, 45, 49)  # Discord's dark theme
PANEL = (30, 31, 34)
WHITE_KEY_ROW = (36, 37, 41)
BEAT_LINE = (56, 58, 64)
BAR_LINE = (110, 113, 122)
LABEL = (148, 155, 164)
TEXT = (242, 243, 245)
BADGE = (59, 136, 195)  # the keycap emoji's blue
NOTE_COLOURS = (
    (88, 166, 255), (255, 138, 76), (76, 217, 138), (255, 92, 122), (176, 124, 255),
    (255, 210, 76), (76, 214, 224), (255, 124, 224), (166, 224, 76), (255, 166, 76),
)
WINNER_NOTE = NOTE_COLOURS[0]


@dataclass(frozen=True)
class _Grid:
    """The shared frame of all panels: steps across, pitches `low`..`high` up."""

    steps: int
    low: int
    high: int

    @classmethod
    def around(cls, melodies: Sequence[Sequence[Note]], steps: int) -> _Grid:
        pitches = [note.pitch for melody in melodies for note in melody]
        low, high = (min(pitches) - 1, max(pitches) + 1) if pitches else (60, 72)
        if high - low + 1 < MIN_SPAN:
            extra = MIN_SPAN - (high - low + 1)
            low -= extra // 2
            high += extra - extra // 2
        low, high = max(low, 0), min(high, 127)
        length = max([steps, *(note.end for melody in melodies for note in melody)])
        return cls(length, low, high)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: the same picture on every machine, no system fonts needed.
    return ImageFont.load_default(size=size)


def _draw_roll(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], notes: Sequence[Note], grid: _Grid,
    colour: tuple[int, int, int],
) -> None:
    """One piano roll: key rows, beat and bar lines, then the notes, inside `box` (left, top, right, bottom)."""
    left, top, right, bottom = box
    rows = grid.high - grid.low + 1
    row_height = (bottom - top) / rows
    step_width = (right - left) / grid.steps
    draw.rectangle(box, fill=PANEL)
    for pitch in range(grid.low, grid.high + 1):
        y = top + (grid.high - pitch) * row_height
        if row_height >= MIN_KEY_ROW:
            if pitch % 12 not in BLACK_KEYS:
                draw.rectangle((left, round(y), right, round(y + row_height) - 1), fill=WHITE_KEY_ROW)
        elif pitch % 12 == 0:
            # Rows too thin for key stripes (a wide range): a line under each C instead.
            draw.line((left, round(y + row_height), right, round(y + row_height)), fill=BEAT_LINE)
    for step in range(0, grid.steps + 1, STEPS_PER_BEAT):
        x = min(round(left + step * step_width), right)
        bar = step % STEPS_PER_BAR == 0
        draw.line((x, top, x, bottom), fill=BAR_LINE if bar else BEAT_LINE, width=2 if bar else 1)
    _draw_notes(draw, box, notes, grid, colour)


def _draw_notes(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], notes: Sequence[Note], grid: _Grid,
    colour: tuple[int, int, int],
) -> None:
    """The notes of a roll drawn by `_draw_roll`, in `colour`."""
    left, top, right, bottom = box
    row_height = (bottom - top) / (grid.high - grid.low + 1)
    step_width = (right - left) / grid.steps
    outline = tuple(channel // 2 for channel in colour)
    thickness = max(row_height, MIN_NOTE_HEIGHT)
    for note in notes:
        middle = top + (grid.high - note.pitch + 0.5) * row_height
        y0, y1 = round(middle - thickness / 2), round(middle + thickness / 2) - 1
        x0, x1 = round(left + note.start * step_width) + 1, round(left + note.end * step_width) - 2
        # Short of the next step at the end, so that repeated notes stay apart.
        draw.rounded_rectangle(
            (x0, y0, max(x1, x0 + 2), y1), radius=3 if thickness >= 9 else 0, fill=colour, outline=outline
        )


def _draw_pitch_labels(
    draw: ImageDraw.ImageDraw, right: int, top: int, bottom: int, grid: _Grid, skip_above: int
) -> None:
    """Names of the C rows, right-aligned at `right`, leaving the area above `skip_above` free."""
    font = _font(13)
    row_height = (bottom - top) / (grid.high - grid.low + 1)
    for pitch in range(grid.low, grid.high + 1):
        if pitch % 12 == 0:
            y = top + (grid.high - pitch + 0.5) * row_height
            if y - 6 > skip_above:
                draw.text((right, y), pitch_name(pitch), fill=LABEL, font=font, anchor="rm")


def _draw_badge(draw: ImageDraw.ImageDraw, left: int, top: int, label: str, size: int = 40) -> None:
    draw.rounded_rectangle((left, top, left + size, top + size), radius=7, fill=BADGE)
    font = _font(26 if len(label) < 2 else 21)
    # A stroke in the text colour makes the bundled regular font bold enough to read small.
    draw.text((left + size / 2, top + size / 2), label, fill=TEXT, font=font, anchor="mm", stroke_width=1,
              stroke_fill=TEXT)


def _png(image: Image.Image) -> bytes:
    """The picture as a PNG compressed quickly (level 1): a generation's roll in 12 ms instead of 16, for a
    half more bytes (29 KB instead of 20), which the media store keeps, not Redis."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def panel_boxes(count: int, width: int = WIDTH) -> tuple[tuple[int, int], list[tuple[int, int, int, int]]]:
    """Image size and the (left, top, right, bottom) box of each panel: 2 columns (1 for a single one)."""
    columns = 1 if count <= 1 else 2
    rows = max(math.ceil(count / columns), 1)
    panel_width = (width - 2 * MARGIN - (columns - 1) * GAP) // columns
    height = 2 * MARGIN + rows * PANEL_ROLL_HEIGHT + (rows - 1) * GAP
    boxes = []
    for index in range(count):
        row, column = divmod(index, columns)
        left = MARGIN + column * (panel_width + GAP)
        top = MARGIN + row * (PANEL_ROLL_HEIGHT + GAP)
        boxes.append((left, top, left + panel_width, top + PANEL_ROLL_HEIGHT))
    return (width, height), boxes


def generation_png(melodies: Sequence[Sequence[Note]], labels: Sequence[str], steps: int = 32) -> bytes:
    """One PNG with a numbered panel per candidate (2 columns, ~1000 px wide), all on one pitch range."""
    if len(labels) != len(melodies):
        raise ValueError(f"{len(melodies)} melodies but {len(labels)} labels")
    grid = _Grid.around(melodies, steps)
    size, boxes = panel_boxes(len(melodies))
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    for index, (melody, label, (left, top, right, bottom)) in enumerate(zip(melodies, labels, boxes, strict=True)):
        _draw_badge(draw, left, top, label)
        _draw_pitch_labels(draw, left + GUTTER - 6, top, bottom, grid, skip_above=top + 44)
        roll = (left + GUTTER, top, right, bottom)
        _draw_roll(draw, roll, melody, grid, NOTE_COLOURS[index % len(NOTE_COLOURS)])
        if not melody:
            draw.text(((roll[0] + right) / 2, (top + bottom) / 2), "silence", fill=LABEL, font=_font(14),
                      anchor="mm")
    return _png(image)


def melody_png(notes: Sequence[Note], title: str, steps: int = 32) -> bytes:
    """A PNG of one melody (the winner) under a title."""
    grid = _Grid.around([notes], steps)
    height = 2 * MARGIN + TITLE_HEIGHT + MELODY_ROLL_HEIGHT
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, MARGIN + TITLE_HEIGHT / 2 - 4), title, fill=TEXT, font=_font(22), anchor="lm")
    top, bottom = MARGIN + TITLE_HEIGHT, height - MARGIN
    _draw_pitch_labels(draw, MARGIN + GUTTER - 6, top, bottom, grid, skip_above=top)
    _draw_roll(draw, (MARGIN + GUTTER, top, WIDTH - MARGIN, bottom), notes, grid, WINNER_NOTE)
    return _png(image)


# --- a whole tune: rows of 8 bars, section labels and chord names above the bars ------------------

TUNE_BARS_PER_ROW = 8
TUNE_ROLL_HEIGHT = 200
TUNE_LABEL_HEIGHT = 24  # the section labels (A, A', B...) over each phrase
TUNE_CHORD_HEIGHT = 22  # the chord names over the bars
SECTION_COLOURS = {"A": NOTE_COLOURS[0], "B": NOTE_COLOURS[2], "C": NOTE_COLOURS[3]}
VARIATION_COLOUR = NOTE_COLOURS[1]


def tune_roll(tune: Tune) -> bytes:
    """A PNG of a tune: its melody in rows of 8 bars, coloured by section, chord names above the bars."""
    steps = max([tune.steps, *(note.end for note in tune.melody)])
    row_steps = TUNE_BARS_PER_ROW * STEPS_PER_BAR
    rows = max(math.ceil(steps / row_steps), 1)
    band = TUNE_LABEL_HEIGHT + TUNE_CHORD_HEIGHT + TUNE_ROLL_HEIGHT
    height = 2 * MARGIN + TITLE_HEIGHT + rows * band + (rows - 1) * GAP
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    labels = " ".join(section.label for section in tune.sections)
    title = f"Tune in {tune.key.name} · {tune.bars} bars · {labels}"
    draw.text((MARGIN, MARGIN + TITLE_HEIGHT / 2 - 4), title, fill=TEXT, font=_font(22), anchor="lm")
    grid = _Grid.around([tune.melody], row_steps)
    phrase_steps = steps // max(len(tune.sections), 1)
    left, right = MARGIN + GUTTER, WIDTH - MARGIN
    step_width = (right - left) / row_steps
    for row in range(rows):
        first, last = row * row_steps, (row + 1) * row_steps
        top = MARGIN + TITLE_HEIGHT + row * (band + GAP)
        roll_top = top + TUNE_LABEL_HEIGHT + TUNE_CHORD_HEIGHT
        row_grid = _Grid(row_steps, grid.low, grid.high)
        _draw_roll(draw, (left, roll_top, right, roll_top + TUNE_ROLL_HEIGHT), [], row_grid, WINNER_NOTE)
        _draw_pitch_labels(draw, left - 6, roll_top, roll_top + TUNE_ROLL_HEIGHT, row_grid, skip_above=roll_top)
        for index, section in enumerate(tune.sections):
            start = index * phrase_steps
            if not first <= start < last:
                continue
            colour = _section_colour(section.label)
            notes = [Note(n.pitch, n.start - first, min(n.end, last) - first)
                     for n in tune.melody if start <= n.start < start + phrase_steps]
            x0 = left + (start - first) * step_width
            draw.text((x0 + 4, top + TUNE_LABEL_HEIGHT / 2), section.label, fill=colour, font=_font(18),
                      anchor="lm", stroke_width=1, stroke_fill=colour)
            _draw_notes(draw, (left, roll_top, right, roll_top + TUNE_ROLL_HEIGHT), notes, row_grid, colour)
        for chord in _chord_changes(tune.chords):
            if first <= chord.start_step < last:
                x = left + (chord.start_step - first) * step_width
                draw.text((x + 3, top + TUNE_LABEL_HEIGHT + TUNE_CHORD_HEIGHT / 2), chord.name, fill=TEXT,
                          font=_font(14), anchor="lm")
    return _png(image)


def _section_colour(label: str) -> tuple[int, int, int]:
    """The theme's colour for A, another for its variations (A', A''), one each for B and C."""
    if label.endswith("'") and label.startswith("A"):
        return VARIATION_COLOUR
    return SECTION_COLOURS.get(label[:1], VARIATION_COLOUR)


def _chord_changes(chords: Sequence[Chord]) -> list[Chord]:
    """The chords where they change, and again at each bar line (so each bar shows its chord)."""
    shown: list[Chord] = []
    for chord in chords:
        repeat = shown and shown[-1].name == chord.name
        if not repeat or chord.start_step % STEPS_PER_BAR == 0:
            shown.append(chord)
    return shown
