"""Settings for each process, read from the environment and `.env`.

Create them in `main()` through `load()`, never at import time: a missing value then
gives one clear line and a non-zero exit instead of an import-time traceback.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain import limits
from domain.model import BreedParams
from domain.strategies import DEFAULT_STRATEGY, DESCRIPTIONS, STRATEGIES
from runtime.exits import CONFIG_ERROR

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
# Where the worker and the bot serve /metrics, /healthz and /readyz (the web page: on WEB_PORT).
WORKER_METRICS_PORT = 9101
BOT_METRICS_PORT = 9102


N = TypeVar("N", int, float)


def _within(default: N, limit: limits.Limit, description: str) -> N:
    """A setting bounded as the domain limit `limit` is (pydantic checks it)."""
    if limit.low_open:
        return Field(default, gt=limit.low, le=limit.high, description=description)
    return Field(default, ge=limit.low, le=limit.high, description=description)


class CommonSettings(BaseSettings):
    """What every process needs: where Redis is, and the breeding defaults."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    redis_url: str | None = Field(None, description="Redis URL; unset: an embedded Redis in data/redis")
    redis_password: SecretStr | None = Field(
        None, description="Redis password, added to REDIS_URL (or required by the embedded Redis); never logged"
    )
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Folder for the embedded Redis and local output")
    redis_maxmemory: str = Field(
        "2gb", description="Memory the embedded Redis may hold (e.g. 512mb, 2gb); beyond it writes are refused"
    )
    media_url: str | None = Field(
        None, description="s3://bucket/prefix: rendered audio and images in that bucket; unset: in MEDIA_DIR"
    )
    media_dir: Path | None = Field(None, description="Folder of rendered audio and images; unset: DATA_DIR/media")
    media_max_mb: float = Field(
        2048.0, gt=0, description="Megabytes MEDIA_DIR may hold; past it the least recently used files go"
    )
    media_endpoint_url: str | None = Field(None, description="The S3-compatible server of MEDIA_URL; unset: AWS")
    aws_region: str | None = Field(None, description="The region of MEDIA_URL's bucket")
    aws_access_key_id: SecretStr | None = Field(None, description="The key id for MEDIA_URL's bucket; never logged")
    aws_secret_access_key: SecretStr | None = Field(None, description="The secret for MEDIA_URL's bucket; never logged")
    population: int = _within(8, limits.POPULATION, description="Default population size")
    mutation_sigma: float = _within(0.5, limits.SIGMA, description="Default mutation sigma")
    foreign: int = _within(1, limits.FOREIGN, description="Default count of fresh random candidates a step")
    vote_minutes: float = _within(3.0, limits.VOTE_MINUTES, description="Default vote window in minutes")
    breed_max_idle_rounds: int = _within(
        3, limits.MAX_IDLE_ROUNDS, description="Vote closes in a row without a vote before a breed ends"
    )
    breed_max_generations: int = _within(
        100, limits.MAX_GENERATIONS, description="A breed ends when the vote on this generation closes"
    )
    tempo: int = _within(120, limits.TEMPO, description="Default tempo in BPM")
    instrument: int = _within(0, limits.INSTRUMENT, description="Default General MIDI program (0 = piano)")
    strategy: str = Field(
        DEFAULT_STRATEGY,
        description="Default GA strategy: " + "; ".join(f"{name} ({what})" for name, what in DESCRIPTIONS.items()),
    )
    log_level: str = Field("INFO", description="Logging level")
    web_host: str = Field("127.0.0.1", description="Where the web page listens; loopback only by default")
    web_port: int = Field(8765, ge=1, le=65535, description="The web page's port")
    metrics_host: str = Field(
        "127.0.0.1", description="Where the worker and the bot serve /metrics, /healthz, /readyz; 0.0.0.0 in a pod"
    )
    breed_retention_days: float = Field(
        90.0, gt=0, description="How long a finished or stopped breed is kept; gallery winners stay until removed"
    )
    web_max_open_breeds: int = Field(10, ge=1, description="Open breeds an exposed web page may have at once")
    web_max_open_breeds_per_client: int = Field(2, ge=1, description="Open breeds per client of an exposed page")
    web_start_cooldown_s: float = Field(30.0, ge=0, description="A client's wait between starts (exposed page)")
    web_access_token: SecretStr | None = Field(
        None, description="The web page's shared login (at least 16 characters); needed off loopback; never logged"
    )
    web_trusted_proxy: str | None = Field(
        None, description="Address of the reverse proxy whose X-Forwarded-For names the client; set: a login is needed"
    )
    # NoDecode: "a.example,b.example" is read as written, not as JSON.
    web_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Host names the page answers at besides its address and localhost"
    )
    web_max_streams_per_client: int = Field(20, ge=1, description="Open pages (streams of updates) per client")
    max_deliveries: int = Field(
        3, ge=1, le=100, description="A job or event handed out more often than this goes to the dead letters"
    )
    max_queued_jobs: int = Field(
        1000, ge=1, description="New work (starts, morphs, trees, pieces, tunes) is refused while this many jobs wait"
    )

    def web_limits(self, host: str) -> limits.ServerLimits | None:
        """The limits of a page listening on `host`: none on loopback (one person) unless a proxy forwards
        to it, else per client and in all."""
        try:
            if ipaddress.ip_address(host).is_loopback and self.web_trusted_proxy is None:
                return None
        except ValueError:
            if host == "localhost" and self.web_trusted_proxy is None:
                return None
        # A client waits a third of its wait between starts between two requests of each other kind.
        between = self.web_start_cooldown_s / 3
        return limits.ServerLimits(open_per_server=self.web_max_open_breeds,
                                   open_per_member=self.web_max_open_breeds_per_client,
                                   start_cooldown_s=self.web_start_cooldown_s, morph_cooldown_s=between,
                                   tune_cooldown_s=between, tree_cooldown_s=between, compose_cooldown_s=between,
                                   play_cooldown_s=between)

    @property
    def retention_s(self) -> float:
        return self.breed_retention_days * 86400

    @property
    def media_folder(self) -> Path:
        """Where rendered audio and images are kept on disk (when MEDIA_URL names no bucket)."""
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

    def default_params(self) -> BreedParams:
        """The breed options people leave out, from these settings."""
        return BreedParams(
            population=self.population, sigma=self.mutation_sigma, foreign=self.foreign,
            vote_minutes=self.vote_minutes, tempo=self.tempo, instrument=self.instrument, strategy=self.strategy,
            max_idle_rounds=self.breed_max_idle_rounds, max_generations=self.breed_max_generations,
        )

    @field_validator("media_url")
    @classmethod
    def _bucket_url(cls, value: str | None) -> str | None:
        if value and not (value.startswith("s3://") and len(value) > len("s3://") and not value[5:].startswith("/")):
            raise ValueError("must be s3://bucket/prefix")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("redis_maxmemory")
    @classmethod
    def _memory_amount(cls, value: str) -> str:
        from runtime.redis_server import check_maxmemory

        return check_maxmemory(value)

    @field_validator("web_trusted_proxy")
    @classmethod
    def _proxy_address(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError("must be the proxy's IP address, e.g. 127.0.0.1") from None

    @field_validator("web_allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip().lower() for name in value.split(",") if name.strip()]
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
    soundfont: Path | None = Field(
        None, description="General MIDI .sf2 or .sf3; unset: FluidR3_GM.sf2 if installed, else TimGM6mb.sf2"
    )
    render_mode: Literal["cache", "fluidsynth"] = Field(
        "cache", description="cache: clips mixed from notes FluidSynth rendered once; fluidsynth: every clip whole"
    )
    render_cache_mb: float = Field(200.0, ge=0, description="Samples of rendered notes a worker keeps (cache mode)")
    render_warm_s: float = Field(
        1.0, ge=0, le=30, description="Seconds a starting worker spends rendering the default instruments' notes"
    )
    temperature: float = _within(0.0, limits.TEMPERATURE, description="Decoding temperature; 0 = argmax")
    job_timeout_s: float = Field(60.0, gt=0, description="A job unacknowledged this long is reclaimed")
    job_deadline_s: float = Field(
        120.0, gt=0, description="A job running this long is given up (its render ended) and its breed told"
    )
    job_batch: int = Field(4, ge=1, le=32, description="Waiting jobs a worker takes at once, decoded in one call")
    artifact_ttl_days: float = Field(14.0, gt=0, description="How long the candidates' MIDI files stay in Redis")
    metrics_port: int = Field(WORKER_METRICS_PORT, ge=0, le=65535,
                              description="The worker's port for /metrics, /healthz and /readyz")


class BotSettings(CommonSettings):
    """The Discord process."""

    discord_token: SecretStr = Field(..., description="Bot token from the Discord developer portal")
    sync_commands: bool = Field(False, description="Sync slash commands to Discord at start-up")
    dev_guild_id: int | None = Field(None, description="Sync commands to this guild only (instant)")
    shard_count: int = Field(1, ge=1, description="Gateway shards of the whole bot (every bot process: the same)")
    # NoDecode: "0,1" is read as written, not as JSON (where "4" would be a number, not a list).
    shard_ids: Annotated[list[int] | None, NoDecode] = Field(
        None, description="The shards this process runs, e.g. 0,1; unset: all of them"
    )
    max_open_breeds_per_server: int = Field(10, ge=1, description="Open breeds one server may have at once")
    max_open_breeds_per_member: int = Field(2, ge=1, description="Open breeds one member may have started at once")
    start_cooldown_s: float = Field(30.0, ge=0, description="Seconds a member waits between two /breed start")
    morph_cooldown_s: float = Field(10.0, ge=0, description="Seconds a member waits between two /breed morph")
    # A tune renders a whole piece with its backing (about 0.35 s of a worker and a half-minute file to post,
    # docs/benchmarks.md; twice a morph's): the costliest request, so the longest wait.
    tune_cooldown_s: float = Field(30.0, ge=0, description="Seconds a member waits between two /breed tune")
    tree_cooldown_s: float = Field(10.0, ge=0, description="Seconds a member waits between two /breed tree")
    compose_cooldown_s: float = Field(10.0, ge=0, description="Seconds a member waits between two /breed compose")
    play_cooldown_s: float = Field(10.0, ge=0, description="Seconds a member waits between two /breed play")
    listen_gap_s: float = Field(1.5, ge=0, le=30, description="Seconds of silence between two clips in voice")
    listen_empty_s: float = Field(60.0, gt=0, description="Seconds a voice channel may be empty before the bot leaves")
    metrics_port: int = Field(BOT_METRICS_PORT, ge=0, le=65535,
                              description="The bot's port for /metrics, /healthz and /readyz")

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(" ", "").split(",") if part] or None
        return value

    @model_validator(mode="after")
    def _shards_exist(self) -> BotSettings:
        ids = self.shard_ids or []
        if len(set(ids)) != len(ids) or any(not 0 <= shard < self.shard_count for shard in ids):
            raise ValueError(f"SHARD_IDS must be different numbers from 0 to {self.shard_count - 1}")
        return self

    def server_limits(self) -> limits.ServerLimits:
        return limits.ServerLimits(
            open_per_server=self.max_open_breeds_per_server, open_per_member=self.max_open_breeds_per_member,
            start_cooldown_s=self.start_cooldown_s, morph_cooldown_s=self.morph_cooldown_s,
            tune_cooldown_s=self.tune_cooldown_s, tree_cooldown_s=self.tree_cooldown_s,
            compose_cooldown_s=self.compose_cooldown_s, play_cooldown_s=self.play_cooldown_s,
        )


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides: object) -> S:
    """Build settings or exit with one line naming the key that is missing or invalid."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]  # settings by field name; pydantic checks each
    except ValidationError as error:
        first = error.errors()[0]
        key = str(first["loc"][0]).upper() if first["loc"] else "?"
        hint = ""
        if key == "DISCORD_TOKEN":
            hint = " (create a bot at https://discord.com/developers/applications, see README)"
        message = first["msg"].removeprefix("Value error, ")
        print(f"breeder: setting {key}: {message}{hint}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR) from None
