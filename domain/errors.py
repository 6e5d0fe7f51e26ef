"""The errors people see: one line they can act on."""

from __future__ import annotations


class BreedError(Exception):
    """A refusal or problem with a user-facing, one-line message."""


class UnknownBreedError(BreedError):
    """A breed id that names no breed (here): a front end may say so in its own way, e.g. HTTP 404."""


class ParamsError(ValueError):
    """Breed options outside their limits; the message names the option and its range."""
