"""Who is asking, as the breeding service needs to know: the user, and whether they may manage messages
where it matters (the breed's thread, or the whole server for its gallery)."""

from __future__ import annotations

import discord

from domain.model import Breed
from domain.rules import Actor


def actor_in(interaction: discord.Interaction, breed: Breed) -> Actor:
    """The person who pressed a button or ran a command, and whether they may manage messages in the
    breed's thread: not in the channel they typed in, which may grant them more (or less) than the thread.

    Nobody manages another server's breed; a thread this process does not know is judged by its channel.
    """
    user = interaction.user
    guild = interaction.guild
    if guild is None or breed.guild_id != guild.id or not isinstance(user, discord.Member):
        return Actor(user.id)
    place: discord.abc.GuildChannel | discord.Thread | None = None
    if breed.thread_id is not None:
        place = guild.get_thread(breed.thread_id) or guild.get_channel(breed.thread_id)
    if place is None and breed.channel_id is not None:
        place = guild.get_channel(breed.channel_id)
    if place is None:
        return Actor(user.id)
    return Actor(user.id, place.permissions_for(user).manage_messages)


def actor_in_server(interaction: discord.Interaction) -> Actor:
    """The person, and whether they may manage messages in the whole server (its gallery is the server's)."""
    user = interaction.user
    return Actor(user.id, isinstance(user, discord.Member) and user.guild_permissions.manage_messages)
