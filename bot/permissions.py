"""Who may steer a breed: its starter, and members who may manage messages in its channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import discord

REFUSAL = "Only the breed's starter or members with Manage Messages can do that."


@dataclass(frozen=True)
class Caller:
    """Who pressed a button or ran a command, and whether they may manage messages there."""

    user_id: int
    manage_messages: bool

    @classmethod
    def of(cls, interaction: discord.Interaction) -> Caller:
        return cls(interaction.user.id, interaction.permissions.manage_messages)


def may_steer(owner_id: int, caller: Caller) -> bool:
    """Whether `caller` may close voting, finish, stop or change the mutation of a breed."""
    return caller.user_id == owner_id or caller.manage_messages
