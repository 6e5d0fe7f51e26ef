"""The names of the genetic algorithm's strategies (engine.ga implements them; a test keeps both equal)."""

from __future__ import annotations

from enum import StrEnum


class Strategy(StrEnum):
    """How the genetic algorithm makes the next generation from the votes."""

    CLASSIC = "classic"
    ELITIST = "elitist"
    PREFERENCE = "preference"


CLASSIC = Strategy.CLASSIC
ELITIST = Strategy.ELITIST
PREFERENCE = Strategy.PREFERENCE

# name -> what it does, in the words of the slash-command option and the settings.
DESCRIPTIONS: dict[str, str] = {
    CLASSIC: "as in the paper",
    ELITIST: "the favourite always survives unchanged",
    PREFERENCE: "learns what the group likes from every vote so far",
}
STRATEGIES: tuple[str, ...] = tuple(DESCRIPTIONS)
# Picked by `breeder bench converge` (docs/benchmarks.md): closer to what voters hear, sooner.
DEFAULT_STRATEGY = PREFERENCE
