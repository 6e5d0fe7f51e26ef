"""Votes: number reactions on a vote message, mirrored live into Redis from raw gateway events.

Raw events arrive for every message, cached or not (so also after a restart). The mirror is
what `/breed status` shows; when voting closes the tally is read again from Discord itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.voting import index_of
from runtime.backoff import Outage
from service.errors import UNAVAILABLE

if TYPE_CHECKING:
    from bot.client import MelodyBot

log = logging.getLogger(__name__)


class Votes(commands.Cog):
    def __init__(self, bot: MelodyBot) -> None:
        self.bot = bot
        # Reactions while Redis is away are not mirrored; closing the vote reads them from Discord again.
        self.outage = Outage(log, "vote mirror")

    def _is_me(self, user_id: int) -> bool:
        return self.bot.user is not None and user_id == self.bot.user.id

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        # Only guild reactions carry the member, which says whether the reactor is a bot.
        if self._is_me(payload.user_id) or payload.member is None or payload.member.bot:
            return
        await self._mirror(payload, added=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        # Removal events carry no member; a bot's vote was never counted, so removing it changes nothing.
        if self._is_me(payload.user_id) or payload.guild_id is None:
            return
        await self._mirror(payload, added=False)

    async def _mirror(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        index = index_of(str(payload.emoji))
        if index is None:
            return
        try:
            changed = await self.bot.service.votes.record(payload.message_id, index, payload.user_id, added=added)
        except UNAVAILABLE as error:
            self.outage.failed(error)
            return
        self.outage.recovered()
        if changed:
            log.debug("vote by %d on message %d %s: %s", payload.user_id, payload.message_id,
                      "cast" if added else "taken back", payload.emoji)


async def setup(bot: MelodyBot) -> None:
    await bot.add_cog(Votes(bot))
