"""Capped exponential back-off, and an outage logged once instead of once per retry."""

from __future__ import annotations

import logging
import time


class Outage:
    """Retries against a service that is away: the delay doubles up to `max_s`; one warning when the
    outage starts and one line when it ends, whatever the number of retries in between."""

    def __init__(self, log: logging.Logger, what: str, *, min_s: float = 0.5, max_s: float = 30.0) -> None:
        self.log = log
        self.what = what
        self.min_s = min_s
        self.max_s = max_s
        self.retries = 0
        self.started: float | None = None

    def failed(self, error: BaseException) -> float:
        """Note a failed attempt; the seconds to wait before the next one."""
        if self.started is None:
            self.started = time.monotonic()
            self.log.warning("%s: Redis is unreachable (%s: %s); retrying with back-off up to %.0f s",
                             self.what, type(error).__name__, error, self.max_s)
        delay = min(self.max_s, self.min_s * 2.0 ** self.retries)
        self.retries += 1
        return delay

    def recovered(self) -> None:
        """Note a successful attempt; ends the outage if there was one."""
        if self.started is not None:
            self.log.warning("%s: Redis is back after %.1f s and %d retries", self.what,
                             time.monotonic() - self.started, self.retries)
        self.started = None
        self.retries = 0
