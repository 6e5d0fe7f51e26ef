"""Logging set-up, once per entry point."""

from __future__ import annotations

import logging


def configure(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("tensorflow", "absl", "discord.gateway", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
