"""The worker's errors: a job that cannot be done."""

from __future__ import annotations


class JobError(Exception):
    """A job that cannot be done; the message is shown to people."""
