"""The soak scenario, short: a few breeds through the bot while a worker is killed, Redis and the bot restart."""

from __future__ import annotations

import pytest

from breeder.bench_soak import soak

pytestmark = pytest.mark.slow


async def test_every_breed_finishes_through_a_killed_worker_a_redis_restart_and_a_bot_restart() -> None:
    report = await soak(breeds=3, voters=3, generations=2, worker_count=2, seed=1, timeout_s=300)
    assert report.faults == ["worker w1 SIGKILLed and started again", "Redis stopped for 2 s and started again (AOF)",
                             "the bot restarted"]
    assert report.problems == []
    assert (report.finished, report.lost_generations, report.duplicate_generations, report.lost_votes) == (3, 0, 0, 0)
    assert len(report.close_to_post_s) == 3 * 2
