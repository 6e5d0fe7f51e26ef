"""The names of the files a worker renders for a generation, as people see them."""

from __future__ import annotations

ROLL_PNG = "roll.png"
WINNER_MID = "winner.mid"
WINNER_AUDIO = "winner.ogg"
WINNER_PNG = "winner.png"
LINEAGE_PNG = "lineage.png"
TUNE_MID = "tune.mid"
TUNE_AUDIO = "tune.ogg"
TUNE_PNG = "tune.png"
TUNE_FILES = (TUNE_MID, TUNE_AUDIO, TUNE_PNG)
# A finish writes the winner's files and the tune made from it (7 files: one Discord message).
WINNER_FILES = (WINNER_MID, WINNER_AUDIO, WINNER_PNG, LINEAGE_PNG, *TUNE_FILES)
COMPOSITION_AUDIO = "composition.ogg"
COMPOSITION_MID = "composition.mid"
COMPOSITION_FILES = (COMPOSITION_AUDIO, COMPOSITION_MID)


def clip_name(index: int, extension: str = "ogg") -> str:
    """The audio artifact of candidate `index` (0-based), named as people number it."""
    return f"clip-{index + 1}.{extension}"


def midi_name(index: int) -> str:
    """The MIDI artifact of candidate `index` (0-based)."""
    return f"clip-{index + 1}.mid"


def morph_name(start: int, end: int, extension: str) -> str:
    """A file of the morph from candidate `start` to `end` (0-based): one name per pair, as people number them."""
    return f"morph-{start + 1}-{end + 1}.{extension}"


def tree_name(index: int) -> str:
    """The family tree of candidate `index` (0-based) of a generation."""
    return f"tree-{index + 1}.png"


def generation_files(count: int) -> list[str]:
    """The files of a generation post: every candidate's clip, then the piano roll."""
    return [clip_name(index) for index in range(count)] + [ROLL_PNG]


def morph_files(start: int, end: int) -> list[str]:
    return [morph_name(start, end, "ogg"), morph_name(start, end, "mid")]
