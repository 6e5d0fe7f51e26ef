"""One more bot process of `breeder bench soak --bots N`: `python -m bench.soak_bot CONFIG.json`.

It runs the bot of one shard on a simulated Discord of its own, against the soak's Redis and workers,
drives its share of the breeds to their winners as the soak's people do, and writes what its Discord
and Redis show (finished breeds, lost or doubled generations, lost votes, its errors and the events
it found handled already) to the report file the config names.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sys
from dataclasses import asdict
from pathlib import Path

from bench.soak import Report, bot_redis_without_read_timeout, bot_settings, counting_logs, drive_bot


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    part = Report(config["breeds"])
    consumers: list[str] = []
    with counting_logs() as counter, bot_redis_without_read_timeout():
        settings = bot_settings(config["shard"], config["bots"], Path(config["folder"]))
        asyncio.run(drive_bot(config["shard"], settings, config["url"], None, None, None, part, config["breeds"],
                              config["voters"], config["generations"], random.Random(config["seed"]),
                              config["timeout_s"], on_start=consumers.append))
    figures = asdict(part)
    report = {name: figures[name] for name in ("finished", "lost_generations", "duplicate_generations",
                                               "lost_votes", "restarting_answers", "close_to_post_s",
                                               "close_to_post_spans", "start_to_first_s", "problems")}
    report.update(pid=os.getpid(), consumer=consumers[0] if consumers else "?", errors=counter.errors,
                  suppressed=counter.suppressed)
    Path(config["result"]).write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
