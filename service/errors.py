"""Errors of the breeding service that front ends answer, besides domain.errors.BreedError."""

from __future__ import annotations

from storage import UNAVAILABLE as _STORE_UNAVAILABLE

# What any service call raises while Redis is away, restarting or loading its data: front ends
# answer "restarting, try again" (and loops wait and try again); nothing was changed.
UNAVAILABLE: tuple[type[Exception], ...] = _STORE_UNAVAILABLE

__all__ = ["UNAVAILABLE"]
