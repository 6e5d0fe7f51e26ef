"""Who this process is to the others: its name in a Redis consumer group."""

from __future__ import annotations

import os
import socket


def consumer_name(role: str) -> str:
    """This process's name in its consumer group, e.g. `bot-host-4242`: each process (bot or worker, `role`)
    reads a stream as itself, so two processes, on one host or on two, never share pending entries."""
    return f"{role}-{socket.gethostname()}-{os.getpid()}"
