"""Nudges typed in the terminal: counted, shown when the vote closes, and heard in the next generation."""

from __future__ import annotations

import numpy as np
import pytest

from engine.attributes import measure_all
from tests.support.local import local

pytestmark = pytest.mark.slow


async def third_generation(redis_url, store, out, script: str):
    """The session's output, and its third generation with the attributes of its nudged melodies."""
    result = local(redis_url, out, "--votes", script)
    assert result.returncode == 0, result.stdout + result.stderr
    [breed_dir] = [p for p in out.iterdir() if p.is_dir() and p.name != "data"]
    generation = await store.breeds.get_generation(breed_dir.name, 2)
    nudged = [m for c, m in zip(generation.candidates, generation.melodies, strict=True) if "nudged" in c.operators]
    assert len(nudged) >= 3  # half of the bred candidates; the family tree draws their operator
    return result.stdout, generation, measure_all(nudged)


async def test_a_typed_nudge_moves_the_generation_after_the_next_vote(redis_url, store, tmp_path):
    fewer_out, fewer, fewer_values = await third_generation(
        redis_url, store, tmp_path / "fewer", "1 2; nudge density -2; 3 4; finish 1")
    more_out, more, more_values = await third_generation(
        redis_url, store, tmp_path / "more", "1 2; nudge density +2; 3 4; finish 1")
    assert "nudged: fewer notes 2" in fewer_out and "Nudges: fewer notes 2" in fewer_out
    assert "Nudges: more notes 2" in more_out
    assert fewer.nudges == (("density", -2.0),) and more.nudges == (("density", 2.0),)
    # density is notes per bar: -2 and +2 are about four standard deviations (2.5 notes per bar) apart.
    assert np.nanmean(fewer_values[:, 0]) + 4 < np.nanmean(more_values[:, 0])


async def test_register_nudges_move_pitch_their_way(redis_url, store, tmp_path):
    _, _, low = await third_generation(redis_url, store, tmp_path / "low", "1 2; nudge register -2; 3 4; finish 1")
    _, _, high = await third_generation(redis_url, store, tmp_path / "high", "1 2; nudge register 2; 3 4; finish 1")
    assert np.nanmean(low[:, 1]) + 6 < np.nanmean(high[:, 1])  # mean pitch, semitones


@pytest.mark.parametrize(("nudge", "message"), [
    ("nudge loudness 1", "There is no attribute `loudness` to nudge"),
    ("nudge density 5", "A nudge's amount must be between -2 and 2, not 5."),
    ("nudge density", "type `nudge`, an attribute"),
])
def test_a_bad_nudge_is_refused_in_one_line(redis_url, tmp_path, nudge, message):
    result = local(redis_url, tmp_path, "--population", "2", "--votes", nudge)
    assert result.returncode == 2
    assert message in result.stdout
