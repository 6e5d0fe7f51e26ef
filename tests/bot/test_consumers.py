"""Each bot process reads the events stream under its own consumer name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_two_bot_processes_read_events_under_different_consumer_names() -> None:
    probe = ("from bot.client import MelodyBot; from runtime.settings import BotSettings; "
             "print(MelodyBot(BotSettings(_env_file=None, discord_token='t'), 'redis://127.0.0.1:1').consumer)")
    names = [subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                            check=True, timeout=120).stdout.strip() for _ in range(2)]
    assert names[0] != names[1]
    assert all(name.startswith("bot-") for name in names)
