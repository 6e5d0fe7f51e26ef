"""The Next and Finish buttons and the nudge menu of a vote message and the Branch button of a winner,
persistent across restarts.

They are dynamic items: the custom id carries the breed id, so any bot process can answer
a press on any old message without having kept a view object around. A press counts only in the
breed's own server (a message elsewhere carrying its custom id finds no breed), and who may steer
is judged in the breed's thread.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

from bot.errors import answer_error
from bot.permissions import actor_in
from domain import nudges
from domain.model import Breed
from domain.rules import Actor


class Steering(Protocol):
    """What a press asks for (the bot's controller)."""

    async def find(self, breed_id: str, guild_id: int | None) -> Breed: ...

    async def close_voting(self, breed_id: str, actor: Actor | None, generation: int | None = None) -> str: ...

    async def finish(self, breed_id: str, actor: Actor, candidate: int | None = None) -> str: ...

    async def branch(self, interaction: discord.Interaction, melody_id: str) -> str: ...

    async def nudge(self, breed_id: str, user_id: int, attribute: str, amount: float) -> str: ...

_BREED_ID = r"(?P<breed_id>[a-z0-9]{1,32})"
_MELODY_ID = r"(?P<melody_id>[a-z0-9]{1,32}-g[0-9]{1,6}-[0-9]{1,2})"


class NextButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"breed:next:{_BREED_ID}"):
    """Closes voting now."""

    def __init__(self, breed_id: str) -> None:
        super().__init__(discord.ui.Button(
            label="Next", emoji="⏭️", style=discord.ButtonStyle.primary, custom_id=f"breed:next:{breed_id}"
        ))
        self.breed_id = breed_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> NextButton:
        return cls(match["breed_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _press(interaction, self.breed_id, "next")


class FinishButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"breed:finish:{_BREED_ID}"):
    """Ends the breed with the top-voted candidate."""

    def __init__(self, breed_id: str) -> None:
        super().__init__(discord.ui.Button(
            label="Finish", emoji="🏁", style=discord.ButtonStyle.success, custom_id=f"breed:finish:{breed_id}"
        ))
        self.breed_id = breed_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> FinishButton:
        return cls(match["breed_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _press(interaction, self.breed_id, "finish")


class BranchButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"breed:branch:{_MELODY_ID}"):
    """Starts a new breed seeded from a winner, in the channel its breed was started in; anyone may."""

    def __init__(self, melody_id: str) -> None:
        super().__init__(discord.ui.Button(
            label="Branch", emoji="🌱", style=discord.ButtonStyle.secondary, custom_id=f"breed:branch:{melody_id}"
        ))
        self.melody_id = melody_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> BranchButton:
        return cls(match["melody_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            controller: Steering = interaction.client.controller  # type: ignore[attr-defined]
            await interaction.followup.send(await controller.branch(interaction, self.melody_id), ephemeral=True)
        except Exception as error:
            await answer_error(interaction, error)


class NudgeSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=rf"breed:nudge:{_BREED_ID}"):
    """Nudges the next generation by one unit of an attribute ("fewer notes", "higher"); anyone may."""

    def __init__(self, breed_id: str) -> None:
        options = [
            discord.SelectOption(label=nudges.WORDS[name][positive], value=f"{name}:{1 if positive else -1}",
                                 description=f"nudge {name} {'+1' if positive else '-1'}")
            for name in nudges.ATTRIBUTES for positive in (False, True)
        ]
        super().__init__(discord.ui.Select(
            placeholder="Nudge the next generation…", options=options, custom_id=f"breed:nudge:{breed_id}", row=1,
        ))
        self.breed_id = breed_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Select[Any], match: re.Match[str]
    ) -> NudgeSelect:
        return cls(match["breed_id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            attribute, _, amount = self.item.values[0].partition(":")
            controller: Steering = interaction.client.controller  # type: ignore[attr-defined]
            await controller.find(self.breed_id, interaction.guild_id)
            answer = await controller.nudge(self.breed_id, interaction.user.id, attribute, float(amount))
            await interaction.followup.send(answer, ephemeral=True)
        except Exception as error:
            await answer_error(interaction, error)


def winner_controls(melody_id: str) -> discord.ui.View:
    """The button under a winner's post."""
    view = discord.ui.View(timeout=None)
    view.add_item(BranchButton(melody_id))
    return view


def breed_controls(breed_id: str) -> discord.ui.View:
    """The buttons under a generation's vote message."""
    view = discord.ui.View(timeout=None)
    view.add_item(NextButton(breed_id))
    view.add_item(FinishButton(breed_id))
    view.add_item(NudgeSelect(breed_id))
    return view


async def _press(interaction: discord.Interaction, breed_id: str, action: str) -> None:
    try:
        await interaction.response.defer(ephemeral=True, thinking=True)
        controller: Steering = interaction.client.controller  # type: ignore[attr-defined]
        actor = actor_in(interaction, await controller.find(breed_id, interaction.guild_id))
        if action == "next":
            answer = await controller.close_voting(breed_id, actor)
        else:
            answer = await controller.finish(breed_id, actor)
        await interaction.followup.send(answer, ephemeral=True)
    # Buttons have no command tree around them: their errors go to the same handler here.
    except Exception as error:
        await answer_error(interaction, error)
