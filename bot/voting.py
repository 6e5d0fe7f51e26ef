"""Votes as emoji reactions: the number emoji of each candidate, and the votes a message's reactions show.

The vote rule itself (fitness, the top candidate) is `domain.votes`.

Pure functions: no Discord objects, so the rules are tested without anything running.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.limits import MAX_CANDIDATES

# Keycaps 1️⃣..9️⃣ are digit + VS16 + U+20E3; ten is its own code point.
NUMBER_EMOJI: tuple[str, ...] = tuple(f"{digit}\ufe0f\u20e3" for digit in "123456789") + ("\U0001f51f",)
assert len(NUMBER_EMOJI) == MAX_CANDIDATES

# Clients send keycaps with or without the variation selector; compare without it.
_INDEX_BY_EMOJI = {emoji.replace("\ufe0f", ""): index for index, emoji in enumerate(NUMBER_EMOJI)}

# (user id, is a bot) of one person who reacted.
Voter = tuple[int, bool]


def emoji_for(index: int) -> str:
    """The reaction that votes for candidate `index` (0-based)."""
    if not 0 <= index < MAX_CANDIDATES:
        raise ValueError(f"candidate index must be 0-{MAX_CANDIDATES - 1}, not {index}")
    return NUMBER_EMOJI[index]


def index_of(emoji: str) -> int | None:
    """The candidate index (0-based) an emoji votes for, or None for any other emoji."""
    return _INDEX_BY_EMOJI.get(emoji.replace("\ufe0f", ""))


def votes_from_reactions(
    reactions: Iterable[tuple[str, Iterable[Voter]]], population: int
) -> dict[int, set[int]]:
    """Candidate index -> ids of the people who voted for it, from a message's reactions.

    Bots (this one included) do not vote; other emoji and numbers above the population are ignored.
    """
    votes: dict[int, set[int]] = {}
    for emoji, voters in reactions:
        index = index_of(emoji)
        if index is None or index >= population:
            continue
        people = {user_id for user_id, is_bot in voters if not is_bot}
        if people:
            votes.setdefault(index, set()).update(people)
    return votes


def describe_tally(fitness: Iterable[int]) -> str:
    """One line of the votes each candidate got, e.g. "1️⃣ 2 · 3️⃣ 1", or "no votes"."""
    parts = [f"{emoji_for(index)} {count}" for index, count in enumerate(fitness) if count]
    return " · ".join(parts) if parts else "no votes"
