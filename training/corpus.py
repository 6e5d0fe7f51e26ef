"""Melodies from the public-domain tune collections that the music21 package ships.

Each tune becomes one NoteSequence (monophonic, 120 qpm, offsets in quarter notes
shifted so that bar lines fall on multiples of the bar length). Magenta's melody
converter later slices 2-bar windows from them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from note_seq.protobuf import music_pb2

log = logging.getLogger(__name__)

QPM = 120.0

# Collections, with the licence that decides whether they may train a shipped model.
PUBLIC_DOMAIN = {
    "oneills1850": "O'Neill's Music of Ireland (1850 tunes, 1903), public domain",
    "ryansMammoth": "Ryan's Mammoth Collection (1883), public domain",
    "nottingham-dataset": "Nottingham folk reels (ABC transcriptions of traditional tunes), public domain",
    "airdsAirs": "Aird's Selection of Scotch, English, Irish and Foreign Airs (1782-1797), public domain",
    "miscFolk": "American fife and Northumbrian minstrelsy collections (19th century), public domain",
    "bach": "J. S. Bach chorales, soprano lines (18th century), public domain",
}
NON_COMMERCIAL = {
    "essenFolksong": "Essen Folksong Collection: non-commercial use only",
}


# Words that differ between two transcriptions of one tune's title ("The Rocky Road To Dublin",
# "Rocky Road to Dublin"); dropped before titles are compared.
TITLE_NOISE = {"the", "a", "an", "of", "to", "and"}
FINGERPRINT_NOTES = 12


@dataclass(frozen=True)
class Tune:
    """One tune of the corpus: its collection, a key unique within the corpus, its title, its notes."""

    collection: str
    key: str
    sequence: music_pb2.NoteSequence
    title: str = ""

    @property
    def split_key(self) -> str:
        """What decides the split: the normalised title, so that every transcription of a tune
        (O'Neill's comes in two or three, and Ryan's shares many) lands on the same side."""
        words = re.findall(r"[a-z0-9]+", self.title.lower())
        words = [word for word in words if word not in TITLE_NOISE]
        return " ".join(words) if words else f"{self.collection}/{self.key}"

    @property
    def held_out(self) -> bool:
        """Whether the tune belongs to the held-out split (about 5 %, fixed by its normalised title)."""
        return hashlib.sha1(self.split_key.encode()).digest()[0] < 13

    @property
    def fingerprint(self) -> tuple[tuple[int, float], ...] | None:
        """Its opening as (interval, duration) pairs: the same in any key and any transcription
        that plays the same notes; None for tunes too short to tell."""
        notes = sorted(self.sequence.notes, key=lambda note: note.start_time)[: FINGERPRINT_NOTES + 1]
        if len(notes) <= FINGERPRINT_NOTES:
            return None
        return tuple(
            (b.pitch - a.pitch, round(a.end_time - a.start_time, 3)) for a, b in zip(notes, notes[1:], strict=False)
        )


def corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def corpus_files(include_essen: bool = False) -> list[tuple[str, Path]]:
    """The (collection, path) pairs to read, in a stable order."""
    collections = dict(PUBLIC_DOMAIN)
    if include_essen:
        collections.update(NON_COMMERCIAL)
    files: list[tuple[str, Path]] = []
    root = corpus_root()
    for name in sorted(collections):
        folder = root / name
        pattern = "*.mxl" if name == "bach" else "*.abc"
        files.extend((name, path) for path in sorted(folder.rglob(pattern)))
    return files


def _melody_part(score):  # music21 objects are untyped
    parts = list(score.parts) if hasattr(score, "parts") else []
    if not parts:
        return score
    for part in parts:
        if str(part.id or "").lower().startswith("soprano"):
            return part
    return parts[0]


def score_to_sequence(score) -> music_pb2.NoteSequence | None:
    """The top line of a music21 score as a NoteSequence, or None if it has no notes."""
    part = _melody_part(score)
    measures = list(part.getElementsByClass("Measure"))
    # A pickup bar is padded on the left: shifting by the padding puts bar lines on the grid.
    shift = float(measures[0].paddingLeft or 0.0) if measures else 0.0
    sequence = music_pb2.NoteSequence()
    sequence.tempos.add(qpm=QPM)
    sequence.ticks_per_quarter = 220
    seconds_per_quarter = 60.0 / QPM
    end = 0.0
    for element in part.stripTies().flatten().notes:
        length = float(element.quarterLength)
        if length <= 0:  # grace notes
            continue
        pitch = max(p.midi for p in element.pitches) if element.isChord else element.pitch.midi
        start = float(element.offset) + shift
        note = sequence.notes.add(
            pitch=int(pitch),
            velocity=90,
            start_time=start * seconds_per_quarter,
            end_time=(start + length) * seconds_per_quarter,
            program=0,
        )
        end = max(end, note.end_time)
    if not sequence.notes:
        return None
    sequence.total_time = end
    return sequence


def read_file(collection: str, path: Path) -> list[Tune]:
    """All tunes of one corpus file; a file music21 cannot parse yields none."""
    from music21 import converter

    try:
        parsed = converter.parse(str(path))
    except Exception as error:  # music21 raises many kinds on odd ABC
        log.warning("skipping %s: %s", path.name, error)
        return []
    scores = list(parsed.scores) if hasattr(parsed, "scores") else [parsed]
    tunes = []
    for index, score in enumerate(scores):
        try:
            sequence = score_to_sequence(score)
        except Exception as error:
            log.warning("skipping tune %d of %s: %s", index, path.name, error)
            continue
        if sequence is None:
            continue
        title = (score.metadata.title if score.metadata and score.metadata.title else "") or ""
        tunes.append(Tune(collection, f"{path.stem}/{index}/{title}", sequence, title))
    return tunes


def iter_tunes(include_essen: bool = False, processes: int = 2) -> Iterator[Tune]:
    """Every tune of the chosen collections, parsed in `processes` worker processes."""
    from multiprocessing import get_context

    files = corpus_files(include_essen)
    with get_context("spawn").Pool(processes) as pool:
        for tunes in pool.starmap(read_file, files, chunksize=4):
            yield from tunes


def split(tunes: list[Tune]) -> tuple[list[Tune], list[Tune]]:
    """(training, held-out) tunes: held out by normalised title (`Tune.held_out`); a training tune
    whose opening is that of a held-out tune (the same tune under another title) is left out of
    both, so that no held-out melody is trained on in another transcription or key."""
    held_out = [tune for tune in tunes if tune.held_out]
    held_prints = {tune.fingerprint for tune in held_out} - {None}
    training = [tune for tune in tunes if not tune.held_out and tune.fingerprint not in held_prints]
    return training, held_out
