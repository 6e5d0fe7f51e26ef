"""Seed MIDI files are checked before anything is written; `breeder bot` starts from its settings."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import entrypoints.bot_cmd as bot_cmd
from bot.seed import check_attachment
from domain.errors import BreedError
from domain.limits import MAX_SEED_BYTES
from domain.model import Note
from engine.midi import melody_to_midi
from runtime.settings import BotSettings
from service.breeding import BreedingService

check_content = BreedingService.check_seed


@pytest.mark.parametrize("name", ["tune.mid", "TUNE.MIDI", "my song.midi"])
def test_midi_names_of_up_to_one_mib_pass_the_first_check(name: str) -> None:
    check_attachment(name, MAX_SEED_BYTES)


@pytest.mark.parametrize("name, size, message", [
    ("tune.mp3", 10, "`tune.mp3` is not a MIDI file: attach a .mid file."),
    ("mid", 10, "`mid` is not a MIDI file"),
    ("tune.mid", MAX_SEED_BYTES + 1, "`tune.mid` is 1.0 MiB; a seed MIDI file may be 1 MiB at most."),
])
def test_other_names_and_bigger_files_are_refused_before_downloading(name: str, size: int, message: str) -> None:
    with pytest.raises(BreedError, match=message.replace(".", r"\.")):
        check_attachment(name, size)


def test_a_midi_file_with_a_melody_is_accepted() -> None:
    check_content("tune.mid", melody_to_midi([Note(60, 0, 4), Note(64, 4, 8)], 120, 0))


@pytest.mark.parametrize("data, reason", [
    (b"", "the file is empty"),
    (b"RIFF....WAVE", "not a MIDI file"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01", "corrupt"),
    (melody_to_midi([], 120, 0), "has no notes"),
])
def test_broken_or_empty_midi_files_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BreedError) as refused:
        check_content("x.mid", data)
    assert str(refused.value).startswith("`x.mid` cannot be used: ") and reason in str(refused.value)


# --- `breeder bot` ---------------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env and no setting from the environment of whoever runs the tests."""
    monkeypatch.chdir(tmp_path)
    for key in ("DISCORD_TOKEN", "SYNC_COMMANDS", "DEV_GUILD_ID", "REDIS_URL", "LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bot_cmd.add_arguments(parser)
    return parser.parse_args(argv)


def test_without_a_token_the_bot_exits_with_one_line_naming_the_setting(
    clean_environment: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        bot_cmd.run(parse())
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("breeder: setting DISCORD_TOKEN: ") and error.count("\n") == 1


@pytest.mark.parametrize("argv, environment, synced", [
    ((), {}, False),
    (("--sync",), {}, True),
    ((), {"SYNC_COMMANDS": "true"}, True),
])
def test_commands_are_synced_only_when_asked_to(
    clean_environment: None, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...],
    environment: dict[str, str], synced: bool,
) -> None:
    seen: list[BotSettings] = []

    async def serve(settings: BotSettings) -> int:
        seen.append(settings)
        return 0

    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(bot_cmd, "serve", serve)

    assert bot_cmd.run(parse(*argv)) == 0
    assert seen[0].sync_commands is synced
    assert "not-a-real-token" not in repr(seen[0])
