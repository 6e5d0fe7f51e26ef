"""Running `breeder local` as a process, for the terminal session's end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys


def local(redis_url: str, out, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING", "DATA_DIR": str(out / "data")}
    return subprocess.run(
        [sys.executable, "-m", "breeder.cli", "local", "--out", str(out), *arguments],
        env=env, capture_output=True, text=True, timeout=300,
    )
