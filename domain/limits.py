"""Every limit on what people choose, in one place.

The slash-command options, the settings, the terminal commands and the web form all derive
their ranges from these, and `BreedParams.validate` checks them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """An inclusive range [low, high]; `low_open` makes it (low, high]."""

    low: float
    high: float
    low_open: bool = False

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high

    def describe(self) -> str:
        low, high = _plain(self.low), _plain(self.high)
        return f"above {low} and at most {high}" if self.low_open else f"between {low} and {high}"


def _plain(number: float) -> str:
    return f"{number:g}"


POPULATION = Limit(2, 10)
SIGMA = Limit(0.0, 1.0)
# Foreign candidates: at least 0 and below the population (checked against it), so at most 9.
FOREIGN = Limit(0, POPULATION.high - 1)
# Half a minute at least, so that people have time to listen: on every front end, and in the settings.
VOTE_MINUTES = Limit(0.5, 1440.0)
# Discord's option and the page's form show the same floor.
VOTE_MINUTES_OPTION_LOW = VOTE_MINUTES.low
TEMPO = Limit(40, 240)
INSTRUMENT = Limit(0, 127)
TEMPERATURE = Limit(0.0, 2.0)
# A breed ends by itself after this many vote closes in a row without a vote (BREED_MAX_IDLE_ROUNDS),
# and when the vote on this generation closes (BREED_MAX_GENERATIONS): a forgotten breed does not run forever.
MAX_IDLE_ROUNDS = Limit(1, 100)
MAX_GENERATIONS = Limit(1, 1000)

# A morph's number of melodies, both ends included.
MORPH_STEPS = Limit(2, 8)
MORPH_DEFAULT_STEPS = 5

# A composition's phrases (melody ids, repeats allowed).
COMPOSE_PHRASES = Limit(2, 8)
# Gallery entries listed per page.
GALLERY_PAGE_SIZE = 10

MAX_SEED_BYTES = 1024 * 1024
MIDI_SUFFIXES = (".mid", ".midi")

# Candidates are voted for with the number reactions 1..10: the largest population.
MAX_CANDIDATES = int(POPULATION.high)


@dataclass(frozen=True)
class ServerLimits:
    """What protects a server from floods: open breeds at once, and a member's wait between two requests
    of one kind (each kind its own: a member who just asked for a morph may ask for a tune at once).

    None or 0 means no limit (the terminal and the web page have one person, who needs none).
    """

    open_per_server: int | None = None
    open_per_member: int | None = None
    start_cooldown_s: float = 0.0
    morph_cooldown_s: float = 0.0
    tune_cooldown_s: float = 0.0
    tree_cooldown_s: float = 0.0
    compose_cooldown_s: float = 0.0
    # Posting a gallery winner again (/breed play).
    play_cooldown_s: float = 0.0

    def cooldown_s(self, kind: str) -> float:
        """A member's wait between two requests of `kind`, as the service names the kinds: morph, tune,
        tree, compose, replay (/breed play)."""
        waits = {"morph": self.morph_cooldown_s, "tune": self.tune_cooldown_s, "tree": self.tree_cooldown_s,
                 "compose": self.compose_cooldown_s, "replay": self.play_cooldown_s}
        if kind not in waits:
            raise ValueError(f"no cooldown for requests of kind {kind!r}: one of {', '.join(waits)}")
        return waits[kind]


# Rendered files: Discord takes 10 MiB a file and 10 files a message; a generation has at most
# one clip and one MIDI file per candidate, a piano roll and a few more (winner, morphs, tree).
MAX_ARTIFACT_BYTES = 8 * 1024 * 1024
MAX_ARTIFACTS_PER_GENERATION = 64
