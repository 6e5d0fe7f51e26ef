"""Child processes: started, watched, stopped, with their output in the terminal or a log file."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)


class Child:
    """One supervised child process; its output goes to the terminal, or appended to `log_path`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.started_at = 0.0

    def start(self) -> None:
        if self.log_path is None:
            self.process = subprocess.Popen(self.argv, env=self.env)
        else:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as output:  # the child keeps its own copy of the descriptor
                self.process = subprocess.Popen(self.argv, env=self.env, stdout=output, stderr=subprocess.STDOUT)
        self.started_at = time.monotonic()
        where = f", log {self.log_path}" if self.log_path else ""
        log.info("%s: started, pid %d%s", self.name, self.process.pid, where)

    def log_tail(self, lines: int = 5) -> str:
        """The last lines the child wrote to its log file ("" without one): why it stopped."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as output:
            output.seek(max(output.seek(0, os.SEEK_END) - 16384, 0))
            text = output.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def poll(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s: did not stop in %.0f s, killing it", self.name, timeout_s)
            self.process.kill()
            self.process.wait()
