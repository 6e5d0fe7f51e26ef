"""The engine's errors: a job that cannot be done, a model that cannot be loaded."""

from __future__ import annotations


class JobError(Exception):
    """A job that cannot be done; the message is shown to people."""


class ModelError(RuntimeError):
    """The model cannot be loaded; the message is one line naming what to fix."""
