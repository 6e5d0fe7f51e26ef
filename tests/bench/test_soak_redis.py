"""What a finished 10-generation breed with a tune keeps in Redis, measured by the soak through the real bot,
workers and Redis: at most 100 KB when it has just finished, at most 23 KB on average over its retention (2 GiB
for 1,000 breeds a day kept 90 days), no audio or image at all."""

from __future__ import annotations

import pytest

from bench.soak import soak

pytestmark = pytest.mark.slow


async def test_a_finished_breed_keeps_under_100_kb_and_23_kb_on_average_over_its_retention() -> None:
    report = await soak(breeds=2, voters=2, generations=9, worker_count=2, seed=3, timeout_s=420, warm_starts=0)
    assert report.problems == []
    assert (report.finished, report.lost_generations, report.duplicate_generations) == (2, 0, 0)
    assert report.redis is not None
    assert report.redis.now <= 100_000
    assert report.redis.over_retention <= 23_000
    assert report.redis.after_retention <= 4_000  # the gallery's record, winner.mid and tune.mid
    assert not [kind for kind in report.redis.kinds if kind.endswith((".ogg", ".png", ".wav"))]
