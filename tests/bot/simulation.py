"""A simulated Discord server (SimCord) running the real bot, and helpers to drive and inspect it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import discord
import simcord
from simcord import ChannelHandle, GuildHandle, HttpLogEntry, InteractionResult, MemberActor

from bot.client import MelodyBot
from domain.errors import BreedError
from domain.model import Breed
from runtime.settings import BotSettings
from storage import BreedStore

GUILD_ID = 424242424242424242
# Bot settings without a member's waits, for tests that do not test them (each kind has its own wait).
NO_COOLDOWNS = {f"{kind}_cooldown_s": 0 for kind in ("start", "morph", "tune", "tree", "compose", "play")}
# How long SimCord waits for the bot's work to settle (SimCord's default is 5 s). The bot's handlers wait
# on Redis and the worker shares the CPU: a loaded machine makes them slower, never wrong, so the tests
# wait longer than the default. It must stay under the shortest timer a test lets run out by advancing
# virtual time (a vote window is 30 s at least): SimCord waits in wall time for a timer due within it.
SETTLE_TIMEOUT_S = 20.0


def simulated_discord(bot: MelodyBot) -> simcord.Env:
    """SimCord around `bot`, waiting as long as a loaded machine needs for the bot to settle."""
    env = simcord.Env(bot, settle_timeout=SETTLE_TIMEOUT_S)
    # The events loop blocks on Redis; SimCord must know that this wait is for outside input.
    bot.external_wait = env.external_wait
    return env


def make_bot(
    settings: BotSettings, redis_url: str, env: simcord.Env | None = None, cls: type[MelodyBot] = MelodyBot,
) -> MelodyBot:
    bot = cls(settings, redis_url)
    if env is not None:
        # The events loop blocks on Redis; SimCord must know that this wait is for outside input.
        bot.external_wait = env.external_wait
    return bot


@dataclass
class World:
    """One guild with a text channel, people and a bot user, served by the bot under test."""

    env: simcord.Env
    settings: BotSettings
    redis_url: str
    store: BreedStore
    guild: GuildHandle
    channel: ChannelHandle
    starter: MemberActor
    voters: list[MemberActor]
    moderator: MemberActor
    other_bot: MemberActor
    bots: list[MelodyBot] = field(default_factory=list)
    error_cursor: int = 0
    # Servers a test adds beside `guild`, whose breeds' threads thread_of finds too.
    other_guilds: list[GuildHandle] = field(default_factory=list)

    @property
    def bot(self) -> MelodyBot:
        return self.bots[-1]

    async def restart(self, cls: type[MelodyBot] = MelodyBot) -> MelodyBot:
        """Stop the bot and start a new instance (of `cls`) on the same Redis and the same Discord server."""
        old = self.bot
        new = make_bot(self.settings, self.redis_url, self.env, cls)
        await old.stop_events()
        await self.env.restart_bot(new)
        self.bots.append(new)
        await old.service.close()
        return new

    async def wait_for(self, check: Callable[[], Awaitable[bool]], what: str, timeout: float = 90.0) -> None:
        """Let the bot and the worker run until `check()` holds."""
        deadline = time.monotonic() + timeout
        while True:
            await self.env.settle()
            if await check():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            await asyncio.sleep(0.05)

    async def wait_for_status(self, breed_id: str, status: str, generation: int | None = None) -> Breed:
        """Wait until the breed has `status` (at `generation`, if given) and return it."""
        found: list[Breed] = []

        async def reached() -> bool:
            breed = await self.store.breeds.get(breed_id)
            found[:] = [breed] if breed is not None else []
            return breed is not None and breed.status == status and generation in (None, breed.generation)

        label = f"breed {breed_id} {status}" + (f" on generation {generation + 1}" if generation is not None else "")
        await self.wait_for(reached, label)
        return found[0]

    def requests(self, method: str, path_part: str) -> list[HttpLogEntry]:
        """The REST calls the bot made with `method` to a path containing `path_part`, in order."""
        return [r for r in self.env.http_requests if r.method == method and path_part in r.path]

    def mark(self) -> int:
        """A position in the bot's REST calls, for `callbacks_since`."""
        return len(self.env.http_requests)

    def callbacks_since(self, mark: int) -> list[object]:
        """The interaction responses (callback bodies) the bot sent since `mark`, in order."""
        return [r.json for r in self.env.http_requests[mark:] if r.method == "POST" and "/callback" in r.path]

    def threads(self) -> list[ChannelHandle]:
        return self.channel.threads

    def thread_of(self, breed: Breed) -> ChannelHandle:
        threads = [thread for guild in (self.guild, *self.other_guilds)
                   for channel in guild.channels.values() for thread in channel.threads]
        [thread] = [thread for thread in threads if thread.id == breed.thread_id]
        return thread

    def vote_messages(self, breed: Breed) -> list[discord.Message]:
        """The bot's messages in the breed's thread that carry number reactions, oldest first."""
        return [m for m in self.thread_of(breed).history() if m.author.bot and m.reactions]

    def new_errors(self) -> list[BaseException]:
        """Errors the bot reported to SimCord since the last call (refusals included)."""
        errors = list(self.env.errors_since(self.error_cursor))
        self.error_cursor = self.env.error_cursor
        return errors

    def refusals(self) -> list[str]:
        """The domain errors (BreedError) among the new errors; anything else fails the test."""
        messages = []
        for error in self.new_errors():
            original = getattr(error, "original", error)
            if not isinstance(original, BreedError):
                raise AssertionError(f"the bot failed unexpectedly: {error!r}") from error
            messages.append(str(original))
        return messages


# What an interaction that is deferred ephemerally ("thinking", only the user sees it) sends first.
DEFERRED_EPHEMERAL = {"type": 5, "data": {"flags": 64}}


def answer_of(result: InteractionResult) -> str:
    """The text of an interaction's (ephemeral) answer."""
    assert result.response is not None, "the interaction got no answer"
    return result.response.content
