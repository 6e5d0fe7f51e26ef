"""Errors of the breeding service that front ends answer, besides domain.errors.BreedError."""

from __future__ import annotations

from domain.errors import BreedError
from storage import FULL as _STORE_FULL
from storage import UNAVAILABLE as _STORE_UNAVAILABLE

# What any service call raises while Redis is away, restarting or loading its data: front ends
# answer "restarting, try again" (and loops wait and try again); nothing was changed.
UNAVAILABLE: tuple[type[Exception], ...] = _STORE_UNAVAILABLE
UNAVAILABLE_TEXT = "The breeding service is restarting, try again in a minute."

# What any service call raises when Redis refuses a write for memory (REDIS_MAXMEMORY, noeviction):
# every write is one transaction, so nothing of it was stored; front ends answer STORAGE_FULL_TEXT.
STORAGE_FULL: tuple[type[Exception], ...] = _STORE_FULL
STORAGE_FULL_TEXT = "The bot's storage is full; ask the operator to free space or raise REDIS_MAXMEMORY."


class QueueFull(BreedError):
    """New work refused while the workers' queue is at its bound (backpressure): one line, nothing changed."""


__all__ = ["STORAGE_FULL", "STORAGE_FULL_TEXT", "UNAVAILABLE", "UNAVAILABLE_TEXT", "QueueFull"]
