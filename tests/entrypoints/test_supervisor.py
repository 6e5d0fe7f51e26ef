"""The supervisor restarts crashed children, stops on configuration errors, and shuts down cleanly."""

from __future__ import annotations

import asyncio
import signal
import sys

from entrypoints.supervisor import backoff_s, supervise
from runtime.processes import Child


def child(code: str, name: str = "child") -> Child:
    return Child(name, [sys.executable, "-c", code], {})


async def test_a_crashed_child_is_restarted(tmp_path):
    marker = tmp_path / "starts"
    crashing = child(f"open({str(marker)!r}, 'a').write('x'); raise SystemExit(1)")
    stop = asyncio.Event()
    task = asyncio.create_task(supervise([crashing], stop))
    deadline = asyncio.get_running_loop().time() + 60  # restarts after 1 s and 2 s, plus interpreter start-ups
    while crashing.restarts < 2 or len(marker.read_text() if marker.exists() else "") < 3:
        assert asyncio.get_running_loop().time() < deadline, "the child was not restarted twice"
        assert not task.done()
        await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(task, 30) == 0


async def test_a_configuration_error_stops_everything_without_restart(tmp_path):
    marker = tmp_path / "starts"
    misconfigured = child(f"open({str(marker)!r}, 'a').write('x'); raise SystemExit(2)")
    sleeper = child("import time; time.sleep(60)", "sleeper")
    status = await asyncio.wait_for(supervise([misconfigured, sleeper], asyncio.Event()), 20)
    assert status == 2
    assert marker.read_text() == "x"
    assert sleeper.poll() is not None  # stopped, not left behind


async def test_stop_terminates_running_children(tmp_path):
    marker = tmp_path / "running"
    # The child says it runs, then sleeps: a child that never started never writes the marker.
    sleeper = child(f"import time; open({str(marker)!r}, 'w').write('up'); time.sleep(60)")
    stop = asyncio.Event()
    task = asyncio.create_task(supervise([sleeper], stop))
    deadline = asyncio.get_running_loop().time() + 30
    while not marker.exists():
        assert asyncio.get_running_loop().time() < deadline, "the child never started"
        await asyncio.sleep(0.05)
    assert sleeper.process is not None and sleeper.poll() is None
    stop.set()
    await asyncio.wait_for(task, 25)
    assert sleeper.poll() == -signal.SIGTERM  # ended by the stop, not by itself


def test_backoff_grows_and_is_capped():
    assert [backoff_s(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff_s(50) == 30


async def test_a_child_with_a_log_file_writes_there_and_its_last_lines_explain_a_stop(tmp_path, caplog):
    log_path = tmp_path / "logs" / "worker.log"
    failing = Child("worker", [sys.executable, "-c", "print('FluidSynth is not installed'); raise SystemExit(2)"],
                    {}, log_path)
    with caplog.at_level("WARNING", logger="entrypoints.supervisor"):
        status = await asyncio.wait_for(supervise([failing], asyncio.Event()), 20)
    assert status == 2
    assert log_path.read_text() == "FluidSynth is not installed\n"
    assert "FluidSynth is not installed" in caplog.text and str(log_path) in caplog.text


async def test_the_page_and_the_terminal_of_make_run_keep_max_queued_jobs(monkeypatch, tmp_path) -> None:
    import pytest

    import service.connection
    from entrypoints import supervisor
    from web.access import Access

    asked: list[int] = []

    class Opened(Exception):
        pass

    def open_service(*args: object, max_queued_jobs: int = 0, **kwargs: object) -> None:
        asked.append(max_queued_jobs)
        raise Opened

    monkeypatch.setattr(service.connection, "open_service", open_service)
    monkeypatch.setenv("MAX_QUEUED_JOBS", "7")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    settings = supervisor.RunSettings()
    with pytest.raises(Opened):
        await supervisor._web([], asyncio.Event(), "redis://unused", settings, Access("127.0.0.1"))
    with pytest.raises(Opened):
        await supervisor._local([], asyncio.Event(), "redis://unused", settings)
    assert asked == [7, 7]
