"""The names of the genetic algorithm's strategies (engine.ga implements them; a test keeps both equal)."""

from __future__ import annotations

CLASSIC = "classic"
ELITIST = "elitist"
PREFERENCE = "preference"

# name -> what it does, in the words of the slash-command option and the settings.
DESCRIPTIONS: dict[str, str] = {
    CLASSIC: "as in the paper",
    ELITIST: "the favourite always survives unchanged",
    PREFERENCE: "learns what the group likes from every vote so far",
}
STRATEGIES: tuple[str, ...] = tuple(DESCRIPTIONS)
# Picked by `breeder bench converge` (docs/benchmarks.md): closer to what voters hear, sooner.
DEFAULT_STRATEGY = PREFERENCE
