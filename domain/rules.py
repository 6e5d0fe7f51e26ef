"""The state rules of a breed: which action is allowed in which status, and who may steer it.

Pure functions over domain types, so every front end obeys the same rules and they are tested
without anything running.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.model import OPEN_STATUSES, Breed

STEER_REFUSAL = "Only the breed's starter or members with Manage Messages can do that."

_CLOSED_MESSAGES = {
    "finished": "This breed is finished.",
    "stopped": "This breed was stopped.",
    "failed": "This breed failed; start a new one with /breed start.",
}


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: a person, and whether they may manage messages where the breed is."""

    user_id: int
    manage_messages: bool = False


def may_steer(owner_id: int, actor: Actor) -> bool:
    """Whether `actor` may close voting, finish, stop or change the mutation of a breed."""
    return actor.user_id == owner_id or actor.manage_messages


def refusal(breed: Breed, action: str) -> str | None:
    """Why `action` is not possible in the breed's current state, or None when it is.

    "close" and "finish" need open voting, "stop" and "sigma" an open breed, "post" (a generation
    the worker made) a step in progress, "winner" (the winner's files the worker made) a finish in progress,
    "morph" (anyone's, it changes nothing) a generation up for votes, "vote" and "nudge" a generation
    up for votes.
    """
    status = breed.status
    if action in ("morph", "vote", "nudge"):
        if status == "voting":
            return None
        doing = {"morph": "morph between its candidates", "nudge": "nudge"}.get(action, "vote")
        if status == "starting":
            return f"Generation 1 is still being made; {doing} once it is posted."
        if status == "evolving":
            if breed.winner is not None:
                if action in ("vote", "nudge"):
                    return "The winner is being rendered; voting is over."
                return "The winner is being rendered; morphs are made while a generation is up for votes."
            return f"The next generation is on its way; {doing} once it is posted."
        return _CLOSED_MESSAGES.get(status, f"This breed is {status}.")
    if action in ("stop", "sigma"):
        return None if status in OPEN_STATUSES else _CLOSED_MESSAGES.get(status, f"This breed is {status}.")
    if action in ("close", "finish"):
        if status == "voting":
            return None
        if status == "starting":
            return "Generation 1 is still being made; vote once it is posted."
        if status == "evolving":
            if breed.winner is not None:
                return "The winner is being rendered already."
            return "Voting is closed already; the next generation is on its way."
        return _CLOSED_MESSAGES.get(status, f"This breed is {status}.")
    if action == "post":
        return None if status in ("starting", "evolving") and breed.winner is None else "no step in progress"
    if action == "winner":
        return None if status == "evolving" and breed.winner is not None else "no finish in progress"
    raise ValueError(f"unknown action {action!r}")


class EndReason(StrEnum):
    """Why a breed ended by itself: nobody voted for `max_idle_rounds` closes, or it reached `max_generations`."""

    IDLE = "idle"
    GENERATIONS = "generations"


def ends_by_itself(breed: Breed, idle_rounds: int) -> EndReason | None:
    """Why the breed ends instead of breeding on as its vote closes now, or None when it goes on.

    `idle_rounds`: the closes in a row without a vote, this one included.
    """
    if idle_rounds >= breed.params.max_idle_rounds:
        return EndReason.IDLE
    if breed.generation + 1 >= breed.params.max_generations:
        return EndReason.GENERATIONS
    return None


def end_line(breed: Breed) -> str | None:
    """The one line that says why a breed ended by itself, or None when it did not."""
    if breed.ended == EndReason.IDLE:
        rounds = breed.idle_rounds
        return f"This breed ended by itself after {rounds} round{'' if rounds == 1 else 's'} without a vote."
    if breed.ended == EndReason.GENERATIONS:
        return f"This breed ended by itself: it reached generation {breed.generation + 1}."
    return None


def morph_marker(start: int, end: int, *, failed: bool = False) -> str:
    """The posting marker (kind) of the morph from candidate `start` to `end` (0-based), or of its failure."""
    return f"morph-{start + 1}-{end + 1}" + ("-failed" if failed else "")


def tree_marker(index: int, *, failed: bool = False) -> str:
    """The posting marker (kind) of candidate `index`'s family tree (0-based), or of its failure."""
    return f"tree-{index + 1}" + ("-failed" if failed else "")
