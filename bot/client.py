"""The bot: a commands.Bot that opens the breeding service, loads the extensions and runs the background work."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.controller import BreedController
from bot.errors import answer_error, too_long_option
from domain.errors import BreedError
from runtime.backoff import Outage
from runtime.health import Probes
from runtime.identity import consumer_name
from runtime.metrics import Metrics
from runtime.settings import BotSettings
from service.breeding import BreedingService
from service.connection import media_of, open_service
from service.errors import UNAVAILABLE
from service.events import ExternalWait, discord_group, wait_plainly
from service.tasks import BackgroundTasks

log = logging.getLogger(__name__)

# listen after breed: it adds /breed listen to the breed group.
EXTENSIONS = ("bot.cogs.breed", "bot.cogs.votes", "bot.cogs.listen")


def utc_now() -> float:
    """Seconds since the epoch by Discord's clock helper (which SimCord's virtual time drives too)."""
    return discord.utils.utcnow().timestamp()


def bot_intents() -> discord.Intents:
    """Guilds (channels, threads, permissions), guild reactions (the votes) and voice states (who is in the
    channel /breed listen plays in; joining voice needs them too); nothing privileged."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_reactions = True
    intents.voice_states = True
    return intents


class BreedTree(app_commands.CommandTree):
    """The command tree; its error handler is the one place that answers failed commands."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await answer_error(interaction, error)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Refuse, in one line, a text option longer than its command declares (Discord's client never
        sends one; an answer echoing it could exceed Discord's limit and never arrive)."""
        refusal = too_long_option(interaction)
        if refusal is None:
            return True
        await answer_error(interaction, BreedError(refusal))
        return False


class MelodyBot(commands.AutoShardedBot):
    """Melody Breeder on Discord. `external_wait` wraps the blocking Redis read of the events loop."""

    service: BreedingService
    controller: BreedController
    _events_task: asyncio.Task[None]

    def __init__(
        self,
        settings: BotSettings,
        redis_url: str,
        *,
        external_wait: ExternalWait = wait_plainly,
        consumer: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        # No message content and no prefix commands: slash commands and reactions are all there is.
        super().__init__(
            command_prefix=commands.when_mentioned, intents=bot_intents(), help_command=None,
            tree_cls=BreedTree, allowed_mentions=discord.AllowedMentions.none(),
            shard_count=settings.shard_count, shard_ids=settings.shard_ids,
        )
        self.settings = settings
        self.redis_url = redis_url
        self.external_wait = external_wait
        self.consumer = consumer or consumer_name("bot")
        self.tasks = BackgroundTasks()
        # The process's metrics (served on /metrics by `breeder bot`): the service's, and Discord's refusals.
        self.metrics = metrics or Metrics()
        self._rate_limits = RateLimitWaits(self.metrics)

    async def setup_hook(self) -> None:
        self.service = open_service(self.redis_url, utc_now, self.settings.default_params(),
                                    limits=self.settings.server_limits(), retention_s=self.settings.retention_s,
                                    max_queued_jobs=self.settings.max_queued_jobs,
                                    media=media_of(self.settings), metrics=self.metrics)
        self._count_discord_errors()
        logging.getLogger("discord.http").addHandler(self._rate_limits)
        self.controller = BreedController(self, self.service, self.tasks, self.consumer,
                                          external_wait=self.external_wait,
                                          max_deliveries=self.settings.max_deliveries,
                                          reader=discord_group(self.settings.shard_ids, self.settings.shard_count))
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        try:
            await self._prepare()
            prepared = True
        except UNAVAILABLE as error:
            # Redis is not up yet: the bot still comes online (commands answer that the service is
            # restarting) and prepares in the background once Redis is there.
            log.warning("Redis is not reachable at start-up (%s); waiting for it in the background", error)
            prepared = False
        self._events_task = self.tasks.spawn(self._consume_events(prepared), name="events consumer")
        if self.settings.sync_commands:
            await self.sync_commands(self.settings.dev_guild_id)

    def probes(self) -> Probes:
        """/readyz's checks (Redis answers, the events groups exist) and /metrics' gauges, over the service
        the bot opens as it logs in."""
        probes = Probes(self.metrics)

        async def ping() -> bool:
            return hasattr(self, "service") and await self.service.ping()

        async def refresh() -> None:
            if hasattr(self, "service"):
                await self.service.refresh_metrics()

        probes.add_redis(ping)
        probes.add_flag("group", lambda: hasattr(self, "service") and self.service.prepared)
        probes.on_scrape(refresh)
        return probes

    def _count_discord_errors(self) -> None:
        """Count each refusal of a request to Discord by the kind of its status (every REST call of discord.py
        goes through `http.request`), whatever code then handles it."""
        request = self.http.request
        metrics = self.metrics

        async def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return await request(*args, **kwargs)
            except discord.RateLimited:
                metrics.discord_error(429)
                raise
            except discord.HTTPException as error:
                metrics.discord_error(error.status)
                raise

        self.http.request = counted

    async def _prepare(self) -> None:
        """What needs Redis before events flow: the stream groups, and the vote deadlines to re-arm."""
        await self.service.prepare()
        await self.controller.router.resume()

    async def sync_commands(self, guild_id: int | None = None) -> list[app_commands.AppCommand]:
        """Register the slash commands with Discord: in one guild (instant) or globally."""
        if guild_id is not None:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d application commands to guild %d", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d application commands globally", len(synced))
        return synced

    async def _consume_events(self, prepared: bool) -> None:
        outage = Outage(log, "bot start-up")
        while not prepared:
            try:
                await self._prepare()
                prepared = True
                outage.recovered()
            except UNAVAILABLE as error:
                await self.external_wait(asyncio.sleep(outage.failed(error)), reason="waiting for Redis to start")
        await self.wait_until_ready()
        await self.controller.router.run()

    async def on_ready(self) -> None:
        log.info("connected as %s (%d) to %d servers", self.user, self.user.id if self.user else 0,
                 len(self.guilds))

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """The bot left a server (removed, banned, or the server deleted): forget its gallery and who took part."""
        log.info("removed from server %d; forgetting its gallery and breeds", guild.id)
        self.tasks.spawn(self.forget_server(guild.id), name=f"forget server {guild.id}")

    async def forget_server(self, guild_id: int) -> None:
        """Forget a server's gallery, breeds and requests, waiting for Redis if it is away."""
        outage = Outage(log, f"forgetting server {guild_id}")
        while True:
            try:
                await self.service.gallery.forget_server(guild_id)
                outage.recovered()
                return
            except UNAVAILABLE as error:
                await self.external_wait(asyncio.sleep(outage.failed(error)), reason="waiting for Redis")

    async def stop_events(self) -> None:
        """Stop reading worker events once the read in hand ends: a task cancelled inside redis-py's
        blocking read can hang, so whoever stops the bot (close, a host that detaches it) asks first."""
        if hasattr(self, "_events_task"):
            self.controller.router.stop()
            await asyncio.wait({self._events_task}, timeout=self.controller.router.stop_within_s)

    async def close(self) -> None:
        logging.getLogger("discord.http").removeHandler(self._rate_limits)
        await self.stop_events()
        await self.tasks.cancel_all()
        await super().close()
        if hasattr(self, "service"):
            await self.service.close()


class RateLimitWaits(logging.Handler):
    """Adds the seconds discord.py waits on a 429 (it logs each wait, and handles it itself) to the metrics."""

    # discord.http's line for a 429 it retries after waiting; its arguments end with the seconds.
    RETRYING = "We are being rate limited. %s %s responded with 429. Retrying in %.2f seconds."

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.WARNING)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg != self.RETRYING or not isinstance(record.args, tuple) or not record.args:
            return
        seconds = record.args[-1]
        if isinstance(seconds, int | float):
            self.metrics.discord_ratelimit_waited(float(seconds))
            self.metrics.discord_error(429)
