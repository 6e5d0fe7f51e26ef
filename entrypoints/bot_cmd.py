"""`breeder bot`: run the Discord bot (composition: settings, Redis, the bot, signals).

Imports only the standard library at module level (`breeder --help` imports this); the bot,
discord.py and Redis come in when it runs. Logging is configured here, once; the token is
read from the settings and handed to discord.py, never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.settings import BotSettings

from runtime.exits import CONFIG_ERROR, FAILURE, OK

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sync", action="store_true",
        help="register the slash commands with Discord at start-up (as SYNC_COMMANDS=true; "
             "to DEV_GUILD_ID only if set); needed once after install or an update",
    )


def run(args: argparse.Namespace) -> int:
    from runtime.logs import configure
    from runtime.settings import BotSettings, load

    settings = load(BotSettings)
    configure(settings.log_level)
    if args.sync:
        settings = settings.model_copy(update={"sync_commands": True})
    return asyncio.run(serve(settings))


async def serve(settings: BotSettings) -> int:
    """Run the bot until it fails, Ctrl-C or SIGTERM; the exit status."""
    import discord

    from bot.client import MelodyBot
    from runtime.health import ProbeServer
    from runtime.redis_server import RedisServerError, embedded_or_configured
    from runtime.signals import stop_event

    # The bot has no voice features, so discord.py's warnings about missing voice libraries are noise.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    stop = stop_event()
    try:
        with embedded_or_configured(settings) as url:
            async with MelodyBot(settings, url) as bot:
                probes = ProbeServer(bot.probes(), settings.metrics_host, settings.metrics_port, "bot")
                await probes.start()
                try:
                    runner = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
                    stopper = asyncio.create_task(stop.wait())
                    await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    if not runner.done():
                        log.info("stopping the bot")
                        await bot.close()
                    stopper.cancel()
                    await runner
                finally:
                    await probes.stop()
    except discord.LoginFailure:
        print("breeder bot: Discord refused DISCORD_TOKEN; copy the token again from the developer "
              "portal (Bot tab, Reset Token)", file=sys.stderr)
        return CONFIG_ERROR
    except discord.PrivilegedIntentsRequired:
        print("breeder bot: Discord refused the intents; the bot needs no privileged intents, "
              "check the developer portal", file=sys.stderr)
        return CONFIG_ERROR
    except RedisServerError as error:
        print(f"breeder bot: {error}", file=sys.stderr)
        return FAILURE
    except OSError as error:
        # No network, DNS or Discord outage: exit non-zero so that a supervisor retries later.
        print(f"breeder bot: cannot reach Discord: {error}", file=sys.stderr)
        return FAILURE
    log.info("bot stopped")
    return OK
