"""How votes become fitness: the one vote rule of every front end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def ballot_counts(picks: Iterable[int], population: int) -> tuple[int, ...]:
    """Votes per candidate from one person's picks (0-based), where a pick may repeat: "1 3 3" -> 3 gets two."""
    counts = Counter(picks)
    outside = [index for index in counts if not 0 <= index < population]
    if outside:
        raise ValueError(f"no candidate {outside[0] + 1}: candidates are 1 to {population}")
    return tuple(counts.get(index, 0) for index in range(population))


def top_candidate(fitness: Iterable[int]) -> int | None:
    """The index with most votes (the lowest index on a tie), or None when nobody voted."""
    counts = list(fitness)
    if not counts or max(counts) == 0:
        return None
    return counts.index(max(counts))
