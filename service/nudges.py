"""Nudges (`service.nudges`, a collaborator of the breeding service): any member steers the next
generation with words.

A nudge counts on the generation up for votes, like a vote: it is checked (domain.nudges: a
known attribute, an amount from -2 to 2 other than 0; the breed's state, domain.rules), stored
beside the votes, and when voting closes the generation's nudges are combined (each member's
latest amount per attribute, averaged over the members) into the evolve job. Every nudge is kept,
so a generation takes a bounded number: per member, and from everyone together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from domain import nudges
from domain.errors import BreedError, UnknownBreedError
from domain.model import Breed
from domain.rules import refusal
from service.stores import BreedStates, NudgeRecords
from storage.codec import Nudge

log = logging.getLogger(__name__)

# Nudges a generation keeps: each member's (five attributes, changed a few times each), and all together.
MAX_NUDGES_PER_MEMBER = 25
MAX_NUDGES_PER_GENERATION = 500


class TooManyNudges(BreedError):
    """A nudge past a generation's cap (a front end answers it as "too many requests")."""


@dataclass(frozen=True)
class Nudged:
    """A counted nudge: its attribute and amount, and the generation's combined nudges now, in words."""

    breed_id: str
    generation: int
    attribute: str
    amount: float
    combined: dict[str, float]
    summary: str

    @property
    def words(self) -> str:
        """This nudge in people's words: "fewer notes 2"."""
        return nudges.describe({self.attribute: self.amount})


class Nudges:
    """The nudges of every breed; `lock` is the breed's lock."""

    def __init__(self, breeds: BreedStates, nudges: NudgeRecords,
                 lock: Callable[[str], AbstractAsyncContextManager[None]]) -> None:
        self.breeds = breeds
        self.nudges = nudges
        self.lock = lock

    async def add(self, breed_id: str, user_id: int, attribute: str, amount: float | str,
                    generation: int | None = None) -> Nudged:
        """Count `user_id`'s nudge on the generation up for votes; BreedError (nothing changes) when it
        cannot count. `amount` may be text as people type it ("-2", "+1.5"); `generation` (0-based), if
        given, must be the one up for votes."""
        value = nudges.parse_amount(amount) if isinstance(amount, str) else amount
        name, value = nudges.check(attribute, value)
        async with self.lock(breed_id):
            breed = await self.breeds.get(breed_id)
            if breed is None:
                raise UnknownBreedError(f"There is no breed `{breed_id}`.")
            reason = refusal(breed, "nudge")
            if reason is not None:
                raise BreedError(reason)
            if generation is not None and generation != breed.generation:
                raise BreedError(f"Generation {generation + 1} is not up for votes; generation "
                                 f"{breed.generation + 1} is.")
            given = await self.nudges.read(breed_id, breed.generation)
            if sum(1 for n in given if n.user_id == user_id) >= MAX_NUDGES_PER_MEMBER:
                raise TooManyNudges(f"You have nudged generation {breed.generation + 1} {MAX_NUDGES_PER_MEMBER} "
                                    "times, the most one member may: vote, or wait for the next generation.")
            if len(given) >= MAX_NUDGES_PER_GENERATION:
                raise TooManyNudges(f"Generation {breed.generation + 1} has {MAX_NUDGES_PER_GENERATION} nudges, "
                                    "the most it takes: vote, or wait for the next generation.")
            await self.nudges.add(breed_id, breed.generation, Nudge(user_id, name, value))
            combined, summary = await self.combined(breed)
        return Nudged(breed_id, breed.generation, name, value, combined, summary)

    async def combined(self, breed: Breed, generation: int | None = None) -> tuple[dict[str, float], str]:
        """A generation's combined nudges (default: the current one's) and them in words with how
        many nudged ("fewer notes ×3"); ({}, "") when nobody nudged."""
        number = breed.generation if generation is None else generation
        given = [(str(n.user_id), n.attribute, n.amount) for n in await self.nudges.read(breed.breed_id, number)]
        combined = nudges.combine(given)
        return combined, nudges.describe(combined, nudges.counts(given))
