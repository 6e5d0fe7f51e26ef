"""Settings: limits from the domain, shards, the Redis password; one line and exit 2 when wrong."""

from __future__ import annotations

import pytest

from domain import limits
from runtime.redis_server import safe_url, with_password
from runtime.settings import BotSettings, CommonSettings, load


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "x")


def test_shards_come_as_a_count_and_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("SHARD_IDS", "2, 3")
    settings = BotSettings()
    assert (settings.shard_count, settings.shard_ids) == (4, [2, 3])
    assert BotSettings(shard_ids="").shard_ids is None


@pytest.mark.parametrize("ids", ["4", "1,1", "-1"])
def test_shards_outside_the_count_stop_the_bot_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ids: str
) -> None:
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("SHARD_IDS", ids)
    with pytest.raises(SystemExit) as stopped:
        load(BotSettings)
    assert stopped.value.code == 2
    assert "SHARD_IDS must be different numbers from 0 to 3" in capsys.readouterr().err


def test_setting_ranges_are_the_domain_limits() -> None:
    fields = CommonSettings.model_fields
    bounds = {name: {type(m).__name__: m for m in fields[name].metadata} for name in ("population", "tempo")}
    assert bounds["population"]["Ge"].ge == limits.POPULATION.low and bounds["population"]["Le"].le == 10
    assert bounds["tempo"]["Ge"].ge == limits.TEMPO.low and bounds["tempo"]["Le"].le == limits.TEMPO.high


def test_the_redis_password_joins_the_url_but_never_its_printed_form() -> None:
    settings = CommonSettings(redis_url="redis://cache:6379/0", redis_password="s3cret")
    url = with_password(settings.redis_url, settings.redis_password.get_secret_value())
    assert url == "redis://:s3cret@cache:6379/0"
    assert "s3cret" not in safe_url(url) and "s3cret" not in repr(settings)
    assert with_password("redis://:own@cache:6379/0", "other") == "redis://:own@cache:6379/0"


def test_the_web_page_has_limits_only_when_it_listens_beyond_loopback() -> None:
    from runtime.settings import CommonSettings

    settings = CommonSettings(_env_file=None, web_max_open_breeds=5, web_max_open_breeds_per_client=1,
                              web_start_cooldown_s=12)
    assert settings.web_limits("127.0.0.1") is None and settings.web_limits("::1") is None
    assert settings.web_limits("localhost") is None
    exposed = settings.web_limits("0.0.0.0")
    assert exposed is not None
    assert (exposed.open_per_server, exposed.open_per_member, exposed.start_cooldown_s) == (5, 1, 12)
    # A third of the wait between starts between two requests of each other kind.
    assert [exposed.cooldown_s(kind) for kind in ("morph", "tune", "tree", "compose", "replay")] == [4] * 5
