"""The deploy files agree with the settings classes and the packaging."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from runtime.settings import BotSettings, WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
SETTING_KEYS = {name.upper() for name in {*BotSettings.model_fields, *WorkerSettings.model_fields}}


def env_example_keys() -> set[str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_]+=", line)}


def test_compose_has_redis_with_aof_on_a_volume_one_bot_and_scalable_workers():
    services = COMPOSE["services"]
    assert set(services) == {"redis", "bot", "worker"}
    redis = services["redis"]
    assert "--appendonly yes" in " ".join(redis["command"])
    volume = redis["volumes"][0].split(":")[0]
    assert volume in COMPOSE["volumes"]
    # `--scale worker=N` needs the worker to have no fixed name or published port.
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]


def test_compose_services_build_the_two_images_and_reach_redis():
    services = COMPOSE["services"]
    for name in ("bot", "worker"):
        service = services[name]
        dockerfile = ROOT / "deploy" / Path(service["build"]["dockerfile"]).name
        assert dockerfile.exists()
        assert service["image"].startswith(f"melody-breeder-{name}")
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert {k.upper() for k in service["environment"]} <= SETTING_KEYS
        assert service["env_file"] == "../.env"


def test_images_install_the_project_with_its_extras_instead_of_copying_files():
    bot = (ROOT / "deploy" / "bot.Dockerfile").read_text()
    worker = (ROOT / "deploy" / "worker.Dockerfile").read_text()
    assert "'/src[bot]'" in bot and "engine]" not in bot and "magenta" not in bot
    assert "'/src[engine]'" in worker and "fluidsynth" in worker
    # The worker runs the model in numpy: no TensorFlow, no Magenta, no training extra in its image.
    assert "magenta" not in worker and "training" not in worker.split("FROM", 1)[1]
    for dockerfile in (bot, worker):
        copies = [line for line in dockerfile.splitlines() if line.startswith("COPY")]
        assert copies == ["COPY . /src"]  # no file picked by hand: the packaging decides what is installed
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "data", ".env"} <= set(ignored)


@pytest.mark.slow
def test_every_bot_module_imports_from_the_installed_file_set_without_tensorflow(tmp_path: Path) -> None:
    """Build the wheel the images install, and import the bot process's modules from it alone."""
    wheel_dir, installed = tmp_path / "wheel", tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheel_dir), str(ROOT)], check=True, capture_output=True, timeout=300)
    [wheel] = wheel_dir.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert not [name for name in archive.namelist() if name.startswith(("bench/", "tests/"))]
        archive.extractall(installed)
    site_packages = next(Path(p) for p in sys.path if p.endswith("site-packages"))
    # -S: no site-packages processing, so this project's editable install cannot point back at the sources.
    env = {"PYTHONPATH": f"{installed}{os.pathsep}{site_packages}", "PATH": os.environ.get("PATH", "")}
    result = subprocess.run([sys.executable, "-S", "-c", _BOT_PROBE], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    origins, heavy = json.loads(result.stdout.strip().splitlines()[-1])
    assert heavy == []
    assert origins and all(origin.startswith(str(installed)) for origin in origins)


_BOT_PROBE = """
import importlib, json, pkgutil, sys
origins = []
for package in ("bot", "service", "storage", "domain", "runtime"):
    module = importlib.import_module(package)
    origins.append(module.__file__)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        origins.append(importlib.import_module(info.name).__file__)
importlib.import_module("entrypoints.bot_cmd")
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"tensorflow", "tf_keras", "magenta", "note_seq"})
print(json.dumps([origins, heavy]))
"""


def test_env_example_lists_every_setting_and_nothing_else():
    assert env_example_keys() == SETTING_KEYS


def test_env_example_holds_no_secret():
    lines = (ROOT / ".env.example").read_text().splitlines()
    for key in ("DISCORD_TOKEN", "REDIS_PASSWORD"):
        assert f"{key}=" in lines and not any(line.startswith(f"{key}=") and line != f"{key}=" for line in lines)


def test_redis_is_password_protected_and_not_exposed_and_the_images_run_as_a_user():
    redis = COMPOSE["services"]["redis"]
    assert "ports" not in redis and "network_mode" not in redis
    command = " ".join(redis["command"])
    assert '--requirepass "$$REDIS_PASSWORD"' in command and "REDIS_PASSWORD" in redis["healthcheck"]["test"][1]
    for name in ("bot", "worker"):
        assert "ports" not in COMPOSE["services"][name]
        dockerfile = (ROOT / "deploy" / f"{name}.Dockerfile").read_text().splitlines()
        users = [line for line in dockerfile if line.startswith("USER ")]
        assert users and users[-1] != "USER root"


def test_the_discord_token_reaches_the_bot_only():
    services = COMPOSE["services"]
    assert "DISCORD_TOKEN" not in services["bot"].get("environment", {})
    for name, service in services.items():
        if name != "bot" and "env_file" in service:
            # environment overrides env_file: the token from .env is blanked in this container.
            assert service["environment"]["DISCORD_TOKEN"] == "", name
    worker_unit = (ROOT / "deploy" / "systemd" / "melody-breeder-worker@.service").read_text()
    assert "UnsetEnvironment=DISCORD_TOKEN" in worker_unit.splitlines()


def _compose_redis(port: int, data: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Compose's Redis command as its container's shell runs it (compose turns $$ into $), on a test port."""
    script = COMPOSE["services"]["redis"]["command"][2].replace("$$", "$")
    script = script.replace("exec redis-server", f"exec redis-server --port {port} --bind 127.0.0.1 --dir {data}")
    return subprocess.Popen(["sh", "-c", script], env={"PATH": os.environ["PATH"], **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_compose_redis_refuses_to_start_with_an_empty_password(tmp_path: Path) -> None:
    from runtime.redis_server import free_port

    for env in ({}, {"REDIS_PASSWORD": ""}):
        process = _compose_redis(free_port(), tmp_path, env)
        _out, err = process.communicate(timeout=30)
        assert process.returncode == 2 and err.strip() == "REDIS_PASSWORD is empty: set it in .env"


def test_compose_redis_wants_the_password_bounds_memory_and_has_no_config(tmp_path: Path) -> None:
    import redis

    from runtime.redis_server import free_port

    port, password = free_port(), "compose-password-9"
    process = _compose_redis(port, tmp_path, {"REDIS_PASSWORD": password, "REDIS_MAXMEMORY": "32mb"})
    client = redis.Redis(host="127.0.0.1", port=port, password=password)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr
                time.sleep(0.05)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port).set("mb:probe", b"1")
        memory = client.info("memory")
        assert memory["maxmemory"] == 32 * 1024**2 and memory["maxmemory_policy"] == "noeviction"
        for command in (("CONFIG", "SET", "dir", "/tmp"), ("DEBUG", "SLEEP", "0"), ("MODULE", "LIST")):
            with pytest.raises(redis.ResponseError, match="unknown command"):
                client.execute_command(*command)
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.parametrize("unit", ["melody-breeder-bot.service", "melody-breeder-worker@.service"])
def test_systemd_units_run_hardened_as_a_dedicated_user(unit: str) -> None:
    lines = (ROOT / "deploy" / "systemd" / unit).read_text().splitlines()
    service = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    assert service["User"] == service["Group"] == "breeder"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "yes" and service["PrivateTmp"] == "yes"
    assert service["ReadWritePaths"] == "/opt/melody-breeder/data" and service["CapabilityBoundingSet"] == ""


def test_images_run_as_a_user_of_their_own_and_the_readme_never_asks_for_root():
    for name in ("bot", "worker"):
        dockerfile = (ROOT / "deploy" / f"{name}.Dockerfile").read_text().splitlines()
        assert [line for line in dockerfile if line.startswith("USER ")][-1] == "USER breeder"
        assert any(line.startswith("RUN useradd --system") and line.endswith(" breeder") for line in dockerfile)
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "as root" not in readme
