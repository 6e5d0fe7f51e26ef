"""Settings for each process, read from the environment and `.env`.

Create them in `main()` through `load()`, never at import time: a missing value then
gives one clear line and a non-zero exit instead of an import-time traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.schemas import STRATEGIES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"


class CommonSettings(BaseSettings):
    """What every process needs: where Redis is, and the breeding defaults."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    redis_url: str | None = Field(None, description="Redis URL; unset: an embedded Redis in data/redis")
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Folder for the embedded Redis and local output")
    population: int = Field(8, ge=2, le=10, description="Default population size")
    mutation_sigma: float = Field(0.5, ge=0.0, le=1.0, description="Default mutation sigma")
    foreign: int = Field(1, ge=0, le=9, description="Default count of fresh random candidates a step")
    vote_minutes: float = Field(3.0, gt=0, le=1440, description="Default vote window in minutes")
    tempo: int = Field(120, ge=40, le=240, description="Default tempo in BPM")
    instrument: int = Field(0, ge=0, le=127, description="Default General MIDI program (0 = piano)")
    strategy: str = Field(
        "classic", description="Default GA strategy: classic (as in the paper) or elitist (the favourite survives)"
    )
    log_level: str = Field("INFO", description="Logging level")

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"must be one of {', '.join(STRATEGIES)}")
        return value


class WorkerSettings(CommonSettings):
    """The worker: the model and the renderer."""

    musicvae_config: str = Field("cat-mel_2bar_small", description="Magenta config name of the model")
    musicvae_checkpoint: Path | None = Field(
        None, description="Checkpoint file prefix or folder; unset: the model shipped in engine/model"
    )
    soundfont: Path | None = Field(None, description="General MIDI .sf2; unset: TimGM6mb.sf2 from pretty_midi")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Decoding temperature; 0 = argmax")
    job_timeout_s: float = Field(60.0, gt=0, description="A job unacknowledged this long is reclaimed")
    artifact_ttl_days: float = Field(14.0, gt=0, description="How long rendered audio/images stay in Redis")


class BotSettings(CommonSettings):
    """The Discord process."""

    discord_token: SecretStr = Field(..., description="Bot token from the Discord developer portal")
    sync_commands: bool = Field(False, description="Sync slash commands to Discord at start-up")
    dev_guild_id: int | None = Field(None, description="Sync commands to this guild only (instant)")


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides: object) -> S:
    """Build settings or exit with one line naming the key that is missing or invalid."""
    try:
        return cls(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        key = str(first["loc"][0]).upper() if first["loc"] else "?"
        hint = ""
        if key == "DISCORD_TOKEN":
            hint = " (create a bot at https://discord.com/developers/applications, see README)"
        message = first["msg"].removeprefix("Value error, ")
        print(f"breeder: setting {key}: {message}{hint}", file=sys.stderr)
        raise SystemExit(2) from None
