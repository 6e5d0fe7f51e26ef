"""`breeder bot`: run the Discord bot.

Imports only the standard library at module level (`breeder --help` imports this); the bot,
discord.py and Redis come in when it runs. Logging is configured here, once; the token is
read from the settings and handed to discord.py, never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from breeder.settings import BotSettings

log = logging.getLogger(__name__)

CONFIG_ERROR = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sync", action="store_true",
        help="register the slash commands with Discord at start-up (as SYNC_COMMANDS=true; "
             "to DEV_GUILD_ID only if set); needed once after install or an update",
    )


def run(args: argparse.Namespace) -> int:
    from breeder.logs import configure
    from breeder.settings import BotSettings, load

    settings = load(BotSettings)
    configure(settings.log_level)
    if args.sync:
        settings = settings.model_copy(update={"sync_commands": True})
    return asyncio.run(serve(settings))


async def serve(settings: BotSettings) -> int:
    """Run the bot until it fails, Ctrl-C or SIGTERM; the exit status."""
    import discord

    from bot.client import MelodyBot
    from breeder.redis_server import RedisServerError, embedded_or_configured

    # The bot has no voice features, so discord.py's warnings about missing voice libraries are noise.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        with embedded_or_configured(settings) as url:
            async with MelodyBot(settings, url) as bot:
                runner = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if not runner.done():
                    log.info("stopping the bot")
                    await bot.close()
                stopper.cancel()
                await runner
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
        return 1
    except OSError as error:
        # No network, DNS or Discord outage: exit non-zero so that a supervisor retries later.
        print(f"breeder bot: cannot reach Discord: {error}", file=sys.stderr)
        return 1
    log.info("bot stopped")
    return 0
