"""Local mode end to end: scripted votes over several generations through the real worker."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

import pytest

from domain import artifacts
from engine.midi import midi_to_notes, read_midi
from tests.support.local import local

pytestmark = pytest.mark.slow


async def test_scripted_votes_breed_to_the_chosen_candidates_midi(redis_url, store, tmp_path):
    result = local(redis_url, tmp_path, "--population", "4", "--foreign", "1",
                   "--votes", "1 3 3; ; sigma 0.2; 2 2 4; finish 2")
    assert result.returncode == 0, result.stdout + result.stderr
    [breed_dir] = [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "data"]
    breed = await store.breeds.get(breed_dir.name)
    assert breed is not None and breed.status == "finished" and breed.winner == 1
    assert breed.generation == 3 and breed.params.sigma == 0.2
    rerolled = await store.breeds.get_generation(breed.breed_id, 2)
    assert rerolled.rerolled  # the empty round had no votes
    assert "fresh random" in result.stdout
    for number in range(4):
        folder = breed_dir / f"gen-{number + 1:02d}"
        assert (folder / artifacts.ROLL_PNG).exists()
        for i in range(4):
            clip = folder / artifacts.clip_name(i)
            assert clip.stat().st_size > 1000 and str(clip) in result.stdout
    winner = midi_to_notes((breed_dir / "winner" / artifacts.WINNER_MID).read_bytes())
    chosen = (await store.breeds.get_generation(breed.breed_id, 3)).melodies[1]
    assert [(n.pitch, n.start, n.end) for n in winner] == [(n.pitch, n.start, n.end) for n in chosen]
    assert str(breed_dir / "winner" / artifacts.WINNER_MID) in result.stdout


def test_a_vote_for_a_missing_candidate_is_refused_in_one_line(redis_url, tmp_path):
    result = local(redis_url, tmp_path, "--population", "3", "--votes", "7")
    assert result.returncode == 2
    assert "Cannot vote: no candidate 7: candidates are 1 to 3." in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_bad_options_are_refused_before_anything_starts(redis_url, tmp_path):
    result = local(redis_url, tmp_path, "--population", "12")
    assert result.returncode == 2
    assert "population must be between 2 and 10" in result.stderr
    assert not any(tmp_path.iterdir())


def test_a_worker_that_cannot_start_ends_the_session_at_once_with_its_reason(redis_url, tmp_path):
    env = {**os.environ, "REDIS_URL": redis_url, "SOUNDFONT": str(tmp_path / "missing.sf2"),
           "DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "local", "--out", str(tmp_path / "out"), "--votes", "1"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert "the worker stopped (status 2)" in result.stderr
    assert "missing.sf2" in result.stderr  # the worker's own line, read back from its log file
    assert "Traceback" not in result.stdout + result.stderr
    assert (tmp_path / "data" / "logs" / "worker.log").exists()


@pytest.mark.parametrize("signum, status", [
    (signal.SIGINT, 130),  # Ctrl-C
    (signal.SIGTERM, 128 + signal.SIGTERM),  # kill
    (signal.SIGHUP, 128 + signal.SIGHUP),  # the terminal window closed
])
def test_a_signal_while_waiting_for_a_line_stops_the_session_and_its_worker(redis_url, tmp_path, signum, status):
    env = {**os.environ, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING", "DATA_DIR": str(tmp_path / "data")}
    session = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", "local", "--out", str(tmp_path), "--population", "2"],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        output = read_until(session, "> ", timeout=120)  # the prompt: it waits for a line now
        assert "clip-2.ogg" in output
        session.send_signal(signum)
        assert session.wait(timeout=30) == status  # stdin stays open: nothing but the signal ends it
    finally:
        session.kill()
    worker_log = (tmp_path / "data" / "logs" / "worker.log").read_text()
    assert "Traceback" not in worker_log
    # Nobody can come back to a terminal breed: the one left this way is stopped, so that it expires.
    [breed_id] = re.findall(r"^Breed (\w+):", output, re.MULTILINE)
    assert asyncio.run(_status(redis_url, breed_id)) == "stopped"


async def _status(redis_url: str, breed_id: str) -> str:
    from storage import BreedStore, connect

    store = BreedStore(connect(redis_url))
    try:
        breed = await store.breeds.get(breed_id)
        return breed.status if breed is not None else "missing"
    finally:
        await store.close()


def read_until(process: subprocess.Popen, text: str, timeout: float) -> str:
    """What the process printed until `text` appears; fails after `timeout` s instead of blocking."""
    import select
    import time

    assert process.stdout is not None
    fd = process.stdout.fileno()
    output = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in output:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out waiting for {text!r}; got {output.decode(errors='replace')[-500:]!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, f"the process ended before printing {text!r}"
            output += chunk
    return output.decode(errors="replace")


def test_lines_can_come_from_a_file_on_stdin(redis_url, tmp_path):
    typed = tmp_path / "typed.txt"
    typed.write_text("1 2 2\nfinish")  # no newline after the last line
    env = {**os.environ, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING", "DATA_DIR": str(tmp_path / "data")}
    with typed.open() as stdin:
        result = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", "local", "--out", str(tmp_path / "out"), "--population", "3"],
            env=env, stdin=stdin, capture_output=True, text=True, timeout=300,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Generation 2" in result.stdout
    assert "> 1 2 2\n" in result.stdout and "> finish\n" in result.stdout  # echoed: nothing else shows them
    # `finish` alone: the favourite of the last votes, in the generation those votes were for.
    assert "Winner: candidate 2 of generation 1" in result.stdout
    [breed_dir] = [p for p in (tmp_path / "out").iterdir()]
    generations = sorted(p.name for p in breed_dir.iterdir())
    assert generations == ["gen-01", "gen-02", "winner"]
    winner = midi_to_notes((breed_dir / "winner" / artifacts.WINNER_MID).read_bytes())
    voted_for = midi_to_notes((breed_dir / "gen-01" / artifacts.midi_name(1)).read_bytes())
    assert winner == voted_for


def test_finish_without_a_number_before_any_vote_asks_for_one(redis_url, tmp_path):
    result = local(redis_url, tmp_path, "--population", "2", "--votes", "finish")
    assert result.returncode == 2
    assert "nobody has voted yet: type `finish N`" in result.stdout


async def test_a_winner_has_its_family_tree_and_a_second_session_branches_from_it(redis_url, store, tmp_path):
    first = local(redis_url, tmp_path / "one", "--population", "3", "--votes", "2 3; finish 1")
    assert first.returncode == 0, first.stdout + first.stderr
    [breed_dir] = [p for p in (tmp_path / "one").iterdir() if p.is_dir() and p.name != "data"]
    tree = breed_dir / "winner" / artifacts.LINEAGE_PNG
    assert tree.read_bytes().startswith(b"\x89PNG") and f"tree:  {tree}" in first.stdout
    winner_id = f"{breed_dir.name}-g2-1"
    assert f"id:    {winner_id}" in first.stdout

    second = local(redis_url, tmp_path / "two", "--population", "3", "--from", winner_id, "--votes", "finish 1")

    assert second.returncode == 0, second.stdout + second.stderr
    assert f"Branched from {winner_id}" in second.stdout
    [branch_dir] = [p for p in (tmp_path / "two").iterdir() if p.is_dir() and p.name != "data"]
    branch = await store.breeds.get(branch_dir.name)
    assert branch.source == winner_id
    winner = midi_to_notes((breed_dir / "winner" / artifacts.WINNER_MID).read_bytes())
    assert midi_to_notes((branch_dir / "gen-01" / artifacts.midi_name(0)).read_bytes()) == winner
    assert (branch_dir / "winner" / artifacts.LINEAGE_PNG).exists()
    assert [w.melody_id for w in await store.gallery.winners(None, 0, 10)] == [f"{branch_dir.name}-g1-1", winner_id]


def test_branching_from_a_melody_that_is_not_there_is_refused_in_one_line(redis_url, tmp_path):
    result = local(redis_url, tmp_path, "--from", "zzzzzzzz-g1-1", "--votes", "finish 1")
    assert result.returncode == 2
    assert ("There is no melody `zzzzzzzz-g1-1`: breed `zzzzzzzz` does not exist, or ended over 90 days ago "
            "and is no longer kept.") in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


async def test_a_breed_left_at_the_end_of_the_input_is_closed_not_left_open(redis_url, store, tmp_path):
    result = local(redis_url, tmp_path, "--population", "2", "--votes", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    [breed_dir] = [p for p in tmp_path.iterdir() if p.is_dir() and p.name != "data"]
    breed = await store.breeds.get(breed_dir.name)
    assert breed.status == "stopped" and breed.breed_id not in {b.breed_id for b in await store.breeds.open_breeds()}
    assert 0 < await store.redis.ttl(f"mb:breed:{breed.breed_id}")  # and it expires with the retention


async def test_a_band_breed_writes_its_tune_at_the_finish_and_tune_makes_more(redis_url, store, tmp_path):
    first = local(redis_url, tmp_path / "first", "--population", "3", "--foreign", "0", "--backing", "band",
                  "--bars", "16", "--votes", "1 2; finish 2; tune 8 none")
    assert first.returncode == 0, first.stdout + first.stderr
    [breed_dir] = [p for p in (tmp_path / "first").iterdir() if p.is_dir() and p.name != "data"]
    breed = await store.breeds.get(breed_dir.name)
    assert (breed.params.backing, breed.params.bars) == ("band", 16)
    clip = (breed_dir / "gen-01" / artifacts.midi_name(0)).read_bytes()
    assert any(track.is_drum for track in read_midi(clip).instruments)
    tune = breed_dir / "winner" / artifacts.TUNE_MID
    assert f"{breed_dir / 'winner' / artifacts.TUNE_AUDIO}  (16 bars, backing: band)" in first.stdout
    winner = (await store.breeds.get_generation(breed.breed_id, 1)).melodies[1]
    assert [n for n in midi_to_notes(tune.read_bytes()) if n.start < 32] == list(winner)
    assert (breed_dir / "winner" / artifacts.TUNE_AUDIO).stat().st_size > 1000
    assert (breed_dir / "winner" / artifacts.TUNE_PNG).read_bytes().startswith(b"\x89PNG")
    again = breed_dir / f"tune-{breed.breed_id}-g2-2-8-none"
    assert len(read_midi((again / artifacts.TUNE_MID).read_bytes()).instruments) == 1
    assert (again / artifacts.TUNE_AUDIO).stat().st_size > 1000 and str(again / artifacts.TUNE_AUDIO) in first.stdout

    # Another session makes a tune from any candidate of that breed, by its id.
    second = local(redis_url, tmp_path / "second", "--population", "2", "--foreign", "0",
                   "--votes", f"tune {breed.breed_id}-g1-3 chords")
    assert second.returncode == 0, second.stdout + second.stderr
    [made] = (tmp_path / "second").glob(f"*/tune-{breed.breed_id}-g1-3-16-chords")
    candidate = (await store.breeds.get_generation(breed.breed_id, 0)).melodies[2]
    assert [n for n in midi_to_notes((made / artifacts.TUNE_MID).read_bytes()) if n.start < 32] == list(candidate)


@pytest.mark.parametrize("arguments, refusal", [
    (("--bars", "12"), "bars must be 8 or 16, not 12"),
    (("--backing", "orchestra"), "backing must be one of none, chords, band, not `orchestra`"),
])
def test_bad_tune_options_are_refused_before_anything_starts(redis_url, tmp_path, arguments, refusal):
    result = local(redis_url, tmp_path, *arguments)
    assert result.returncode == 2 and f"breeder local: {refusal}" in result.stderr
    assert not any(tmp_path.iterdir())


def test_a_tune_of_a_melody_that_is_not_there_is_refused_in_one_line(redis_url, tmp_path):
    result = local(redis_url, tmp_path, "--population", "2", "--foreign", "0", "--votes", "tune zzzzzzzz-g1-1")
    assert result.returncode == 2
    assert ("There is no melody `zzzzzzzz-g1-1`: breed `zzzzzzzz` does not exist, or ended over 90 days ago "
            "and is no longer kept.") in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not list(tmp_path.glob("*/tune-*"))
