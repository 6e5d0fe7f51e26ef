"""Piano-roll pictures and the terminal roll, checked pixel by pixel and character by character."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from domain.model import Note
from engine import pianoroll
from engine.pianoroll import BACKGROUND, BADGE, BAR_LINE, GUTTER, NOTE_COLOURS, TEXT

SCALE = [Note(60 + offset, 4 * i, 4 * i + 3) for i, offset in enumerate((0, 2, 4, 5, 7, 9, 11, 12))]


def picture(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def mask(pixels: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(pixels == np.array(colour, dtype=np.uint8), axis=-1)


def runs(line: np.ndarray) -> int:
    """How many separate stretches of True a 1-D mask has."""
    padded = np.concatenate([[False], line, [False]])
    return int(np.count_nonzero(padded[1:] & ~padded[:-1]))


def melodies(count: int) -> list[list[Note]]:
    return [[Note(60 + (i + k) % 12, 4 * k, 4 * k + 2) for k in range(8)] for i in range(count)]


def labels(count: int) -> list[str]:
    return [str(i + 1) for i in range(count)]


@pytest.mark.parametrize("count", [1, 2, 5, 8, 10])
def test_generation_png_has_one_panel_per_melody(count):
    pixels = picture(pianoroll.generation_png(melodies(count), labels(count)))
    (width, height), boxes = pianoroll.panel_boxes(count)
    assert pixels.shape == (height, width, 3)
    assert 900 <= width <= 1100
    # Count the panels where they are, not where the layout says: runs of non-background pixels
    # across the middle of each band of panels.
    bands = sorted({(top + bottom) // 2 for _, top, _, bottom in boxes})
    found = sum(runs(np.any(pixels[y] != np.array(BACKGROUND, dtype=np.uint8), axis=-1)) for y in bands)
    assert found == count


@pytest.mark.parametrize("count", [3, 10])
def test_each_panel_has_its_badge_and_its_own_notes(count):
    pixels = picture(pianoroll.generation_png(melodies(count), labels(count)))
    _, boxes = pianoroll.panel_boxes(count)
    outside = np.ones(pixels.shape[:2], dtype=bool)
    for index, (left, top, right, bottom) in enumerate(boxes):
        panel = pixels[top:bottom, left:right]
        outside[top:bottom, left:right] = False
        assert mask(panel[:GUTTER, :GUTTER], BADGE).sum() > 400  # the keycap-blue number badge
        assert mask(panel[:GUTTER, :GUTTER], TEXT).sum() > 20  # its digit
        assert mask(panel, NOTE_COLOURS[index]).sum() > 8 * 20  # eight notes
        for other in set(range(count)) - {index}:
            assert mask(panel, NOTE_COLOURS[other]).sum() == 0
    for colour in NOTE_COLOURS[:count]:
        assert mask(pixels[outside], colour).sum() == 0


def note_box(panel: np.ndarray, colour: tuple[int, int, int]) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask(panel, colour))
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def test_panels_share_one_pitch_range():
    pixels = picture(pianoroll.generation_png([[Note(60, 0, 32)], [Note(72, 0, 32)], [Note(60, 0, 32)]],
                                              labels(3)))
    _, boxes = pianoroll.panel_boxes(3)
    tops = []
    for index, (left, top, right, bottom) in enumerate(boxes):
        tops.append(note_box(pixels[top:bottom, left:right], NOTE_COLOURS[index])[1])
    low, high, low_again = tops
    assert low == low_again
    row_height = (boxes[0][3] - boxes[0][1]) / (72 - 60 + 3)  # the range has a row of room each side
    assert low - high == pytest.approx(12 * row_height, abs=2)


def test_note_positions_follow_steps_and_bars_are_drawn():
    pixels = picture(pianoroll.generation_png([[Note(64, 16, 24)], SCALE], labels(2)))
    _, boxes = pianoroll.panel_boxes(2)
    left, top, right, bottom = boxes[0]
    panel = pixels[top:bottom, left:right]
    roll_width = right - left - GUTTER
    x0, _, x1, _ = note_box(panel, NOTE_COLOURS[0])
    assert x0 - GUTTER == pytest.approx(roll_width / 2, abs=3)
    assert x1 - GUTTER == pytest.approx(roll_width * 3 / 4, abs=4)
    bar_columns = np.nonzero(mask(panel[bottom - top - 3: bottom - top - 1, GUTTER:], BAR_LINE).any(axis=0))[0]
    middle = roll_width / 2
    assert np.any(np.abs(bar_columns - middle) <= 2)  # the line between bar 1 and bar 2


def test_silent_candidate_still_gets_a_numbered_panel():
    pixels = picture(pianoroll.generation_png([SCALE, []], labels(2)))
    _, boxes = pianoroll.panel_boxes(2)
    left, top, right, bottom = boxes[1]
    panel = pixels[top:bottom, left:right]
    assert mask(panel[:GUTTER, :GUTTER], BADGE).sum() > 400
    assert mask(panel, NOTE_COLOURS[1]).sum() == 0


def test_labels_must_match_melodies():
    with pytest.raises(ValueError, match="labels"):
        pianoroll.generation_png(melodies(3), labels(2))


def test_melody_png_shows_the_title_and_the_notes():
    pixels = picture(pianoroll.melody_png(SCALE, "Winner: candidate 3"))
    height, width, _ = pixels.shape
    assert 900 <= width <= 1100 and 200 <= height <= 500
    notes = mask(pixels, pianoroll.WINNER_NOTE)
    assert notes.sum() > 8 * 100
    title_band = pixels[: pianoroll.MARGIN + pianoroll.TITLE_HEIGHT]
    assert mask(title_band, TEXT).sum() > 100
    assert not notes[: pianoroll.MARGIN + pianoroll.TITLE_HEIGHT].any()