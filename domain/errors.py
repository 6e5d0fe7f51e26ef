"""The errors people see: one line they can act on."""

from __future__ import annotations


class BreedError(Exception):
    """A refusal or problem with a user-facing, one-line message."""


class ParamsError(ValueError):
    """Breed options outside their limits; the message names the option and its range."""
