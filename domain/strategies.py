"""The names of the genetic algorithm's strategies (engine.ga implements them; a test keeps both equal)."""

from __future__ import annotations

CLASSIC = "classic"
ELITIST = "elitist"

# name -> what it does, in the words of the slash-command option and the settings.
DESCRIPTIONS: dict[str, str] = {
    CLASSIC: "as in the paper",
    ELITIST: "the favourite always survives unchanged",
}
STRATEGIES: tuple[str, ...] = tuple(DESCRIPTIONS)
DEFAULT_STRATEGY = CLASSIC
