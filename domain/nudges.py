"""Nudges: words that steer a breed as well as votes ("fewer notes", "higher", "smoother").

A member nudges an attribute by an amount from -2 to +2 (one unit moves the attribute by about
one standard deviation across melodies; see engine.attributes). The rule that combines a
generation's nudges: each member's latest amount per attribute counts, and an attribute's
combined amount is the mean of its members' amounts, so one loud member cannot outweigh a
group and a member who changes their mind replaces, not adds to, their earlier nudge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.errors import BreedError
from domain.limits import Limit

# name -> (what a negative amount means, what a positive one means), in people's words.
WORDS: dict[str, tuple[str, str]] = {
    "density": ("fewer notes", "more notes"),
    "register": ("lower", "higher"),
    "leaps": ("smoother", "leapier"),
    "syncopation": ("on the beat", "more syncopated"),
    "range": ("narrower", "wider"),
}
ATTRIBUTES: tuple[str, ...] = tuple(WORDS)
AMOUNT = Limit(-2.0, 2.0)


def check(attribute: str, amount: float) -> tuple[str, float]:
    """The nudge as (attribute, amount), or BreedError with one line saying what is wrong."""
    name = attribute.strip().lower()
    if name not in WORDS:
        raise BreedError(f"There is no attribute `{attribute}` to nudge: choose one of {', '.join(ATTRIBUTES)}.")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or float(amount) not in AMOUNT:
        raise BreedError(f"A nudge's amount must be {AMOUNT.describe()}, not {_plain(amount)}.")
    if amount == 0:
        raise BreedError("A nudge of 0 changes nothing: give an amount from -2 to 2 other than 0.")
    return name, float(amount)


def parse_amount(text: str) -> float:
    """An amount as people type it ("-2", "+1.5", "2"), or BreedError."""
    try:
        return float(text.strip())
    except ValueError:
        raise BreedError(
            f"A nudge's amount is a number {AMOUNT.describe()} such as -1 or +1.5, not `{text}`."
        ) from None


def combine(nudges: Iterable[tuple[str, str, float]]) -> dict[str, float]:
    """The combined amount per attribute from (member, attribute, amount) in the order they came."""
    latest: dict[tuple[str, str], float] = {}
    for member, attribute, amount in nudges:
        latest[(member, attribute)] = amount
    by_attribute: dict[str, list[float]] = {}
    for (_, attribute), amount in latest.items():
        by_attribute.setdefault(attribute, []).append(amount)
    return {name: sum(amounts) / len(amounts) for name, amounts in by_attribute.items()
            if name in WORDS and sum(amounts, 0.0)}


def counts(nudges: Iterable[tuple[str, str, float]]) -> dict[str, int]:
    """How many members nudged each attribute (their latest nudge)."""
    members: dict[str, set[str]] = {}
    for member, attribute, _ in nudges:
        members.setdefault(attribute, set()).add(member)
    return {name: len(who) for name, who in members.items()}


def describe(combined: Mapping[str, float], members: Mapping[str, int] | None = None) -> str:
    """People's words for combined nudges: "fewer notes ×3, higher +0.5"; "" when there are none."""
    parts = []
    for name in ATTRIBUTES:
        amount = combined.get(name, 0.0)
        if not amount:
            continue
        word = WORDS[name][amount > 0]
        size = f" {abs(amount):g}" if abs(amount) != 1 else ""
        who = f" ×{members[name]}" if members and members.get(name, 0) > 1 else ""
        parts.append(f"{word}{size}{who}")
    return ", ".join(parts)


def _plain(amount: object) -> str:
    return f"{amount:g}" if isinstance(amount, int | float) and not isinstance(amount, bool) else repr(amount)
