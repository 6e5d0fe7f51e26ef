"""The engine's errors: a model that cannot be loaded."""

from __future__ import annotations


class ModelError(RuntimeError):
    """The model cannot be loaded; the message is one line naming what to fix."""
