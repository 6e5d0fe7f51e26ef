"""Running `breeder local` as a process, for the terminal session's end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def local(redis_url: str, out: Path, *arguments: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """`breeder local` as a person runs it, with `settings` (such as BREED_MAX_IDLE_ROUNDS) in its environment."""
    env = {**os.environ, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING", "DATA_DIR": str(out / "data"), **settings}
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "local", "--out", str(out), *arguments],
        env=env, capture_output=True, text=True, timeout=300,
    )


def breed_folder(out: Path) -> Path:
    """The one breed's folder that `local` wrote under `out`."""
    [folder] = [path for path in out.iterdir() if path.is_dir() and path.name != "data"]
    return folder
