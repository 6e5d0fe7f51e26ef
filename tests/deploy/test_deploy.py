"""The deploy files agree with the settings classes and the packaging."""

from __future__ import annotations

import re
from pathlib import Path

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
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
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


def test_bot_image_installs_no_tensorflow_and_the_worker_image_has_magenta_and_fluidsynth():
    bot = (ROOT / "deploy" / "bot.Dockerfile").read_text()
    worker = (ROOT / "deploy" / "worker.Dockerfile").read_text()
    assert "'.[bot]'" in bot and "engine]" not in bot and "magenta" not in bot
    assert "'.[engine]'" in worker and "magenta==2.1.4" in worker and "fluidsynth" in worker


def test_env_example_lists_every_setting_and_nothing_else():
    assert env_example_keys() == SETTING_KEYS


def test_env_example_holds_no_secret():
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("DISCORD_TOKEN="):
            assert line == "DISCORD_TOKEN="
