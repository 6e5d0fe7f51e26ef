"""Who is asking, as the breeding service needs to know: the user and their Manage Messages right there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.rules import Actor

if TYPE_CHECKING:
    import discord


def actor_of(interaction: discord.Interaction) -> Actor:
    """The person who pressed a button or ran a command, and whether they may manage messages there."""
    return Actor(interaction.user.id, interaction.permissions.manage_messages)
