"""The clips a worker renders ahead at start-up, so that the note cache holds what breeds play most.

A breed with the default options (tempo, instrument, backing) plays its melody's notes at one
velocity, in lengths of a few sixteenths, over the model's usual range, and the backing's chords
and bass under them; these files walk that range, the most common pitches and lengths first.
"""

from __future__ import annotations

from collections.abc import Iterator

from domain.model import BreedParams, Note
from engine.arrange import CLIP_STEPS, arrange

CENTRE_PITCH = 67
PITCHES = sorted(range(48, 85), key=lambda pitch: abs(pitch - CENTRE_PITCH))  # the model's usual range
LENGTHS = (2, 1, 4, 3, 6, 8)  # sixteenths, the most frequent first


def warm_files(params: BreedParams | None = None) -> Iterator[bytes]:
    """2-bar MIDI files with the default backing whose notes cover PITCHES in each of LENGTHS."""
    params = params or BreedParams()
    for length in LENGTHS:
        per_clip = CLIP_STEPS // length
        for first in range(0, len(PITCHES), per_clip):
            pitches = PITCHES[first : first + per_clip]
            melody = [Note(pitch, index * length, (index + 1) * length) for index, pitch in enumerate(pitches)]
            yield arrange(melody, params.backing, params.tempo, params.instrument, CLIP_STEPS).midi
