"""How interactions are answered: `answer` with the one line an action returns, and the one place that
answers failed ones (`answer_error`).

A BreedError is something the user can act on; its text is the one line they see. Anything
else is a bug: the user gets a short apology and the details go to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands

from domain.errors import BreedError
from service.errors import STORAGE_FULL, STORAGE_FULL_TEXT, UNAVAILABLE, UNAVAILABLE_TEXT

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on my side; the details are in the bot's log."
# Discord refuses a message over 2,000 characters: an answer that echoes what someone typed is cut short.
MAX_ANSWER = 1900
# The longest text option a command takes when it declares no longest value of its own.
MAX_TEXT_OPTION = 100


async def answer(interaction: discord.Interaction, act: Callable[[], Awaitable[str]]) -> None:
    """Defer the interaction at once (ephemerally, thinking: Discord's 3-second limit holds however slow
    `act` is), then send the one line `act()` returns, ephemerally. What `act` raises goes up, to the
    command tree's handler or a button's `answer_error`."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    await interaction.followup.send(await act(), ephemeral=True)


def user_message(error: BaseException) -> str:
    """The one line to show for an error raised while handling an interaction."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, app_commands.TransformerError):
        return f"`{error.value}` is not a valid value for that option."
    if isinstance(error, BreedError):
        return one_line(str(error))
    if isinstance(error, UNAVAILABLE):
        return UNAVAILABLE_TEXT
    if isinstance(error, STORAGE_FULL):
        return STORAGE_FULL_TEXT
    if isinstance(error, app_commands.NoPrivateMessage):
        return "The /breed commands work in a server's text channels."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use that command here."
    return UNEXPECTED


def one_line(text: str) -> str:
    line = " ".join(text.split()) or UNEXPECTED
    return line if len(line) <= MAX_ANSWER else line[:MAX_ANSWER - 1] + "…"


def too_long_option(interaction: discord.Interaction) -> str | None:
    """The one line refusing a command's text option longer than it declares (a client that ignores the
    declared length), else None."""
    command = interaction.command
    if not isinstance(command, app_commands.Command) or not interaction.data:
        return None
    for name, value in _text_options(interaction.data.get("options", [])):
        parameter = command.get_parameter(name)
        declared = parameter.max_value if parameter is not None else None
        most = int(declared) if isinstance(declared, int | float) else MAX_TEXT_OPTION
        if len(value) > most:
            return f"`{name}` is too long ({len(value)} characters): it takes at most {most}."
    return None


def _text_options(options: list[dict[str, object]]) -> list[tuple[str, str]]:
    found = []
    for option in options:
        nested = option.get("options")
        if isinstance(nested, list):
            found.extend(_text_options(nested))
        elif option.get("type") == discord.AppCommandOptionType.string.value and isinstance(option.get("value"), str):
            found.append((str(option["name"]), str(option["value"])))
    return found


def _is_expected(error: BaseException) -> bool:
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    expected = (BreedError, app_commands.CheckFailure, app_commands.TransformerError, *UNAVAILABLE)
    if isinstance(original, STORAGE_FULL):
        log.error("Redis refused a write: it holds REDIS_MAXMEMORY already (%s)", original)
        return True
    return isinstance(original, expected)


async def answer_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Answer an interaction that failed with one ephemeral line; log the details."""
    where = _describe(interaction)
    if _is_expected(error):
        log.info("%s refused: %s", where, user_message(error))
    else:
        log.error("%s failed", where, exc_info=error)
    text = user_message(error)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("%s: could not send the error answer to the user", where, exc_info=True)


def _describe(interaction: discord.Interaction) -> str:
    command = interaction.command.qualified_name if interaction.command else None
    custom_id = interaction.data.get("custom_id") if interaction.data else None
    return f"interaction {command or custom_id or interaction.type.name} by user {interaction.user.id}"
