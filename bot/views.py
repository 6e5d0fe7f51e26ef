"""The Next and Finish buttons and the nudge menu of a vote message and the Branch button of a winner,
persistent across restarts.

They are dynamic items: the custom id carries the breed id, so any bot process can answer
a press on any old message without having kept a view object around. A press counts only in the
breed's own server (a message elsewhere carrying its custom id finds no breed), and who may steer
is judged in the breed's thread.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, Self

import discord

from bot.errors import answer, answer_error
from bot.permissions import actor_in
from domain import nudges
from domain.ids import BREED_ID
from domain.model import Breed
from domain.rules import Actor


class Steering(Protocol):
    """What a press asks for (the bot's controller)."""

    async def find(self, breed_id: str, guild_id: int | None) -> Breed: ...

    async def close_voting(self, breed_id: str, actor: Actor | None, generation: int | None = None) -> str: ...

    async def finish(self, breed_id: str, actor: Actor, candidate: int | None = None) -> str: ...

    async def branch(self, interaction: discord.Interaction, melody_id: str) -> str: ...

    async def nudge(self, breed_id: str, user_id: int, attribute: str, amount: float) -> str: ...


_BREED_ID = rf"(?P<breed_id>{BREED_ID.pattern})"
_MELODY_ID = rf"(?P<melody_id>{BREED_ID.pattern}-g[0-9]{{1,6}}-[0-9]{{1,2}})"


class _Control:
    """What every control below shares (each is also a DynamicItem): any bot process rebuilds it from
    its custom id, whose one group (`_KEY`) is the breed or melody id; a press defers, then answers
    with the one line `act` returns. Controls have no command tree around them: their errors go to
    the same handler here."""

    _KEY = "breed_id"

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str]) -> Self:
        return cls(match[cls._KEY])  # each control takes the id its custom id carries

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            controller: Steering = interaction.client.controller
            await answer(interaction, lambda: self.act(interaction, controller))
        except Exception as error:
            await answer_error(interaction, error)

    # What a press does: each control's own `act`, answered with its one line.
    act: Callable[[discord.Interaction, Steering], Awaitable[str]]


def _button(action: str, key: str, label: str, emoji: str, style: discord.ButtonStyle) -> discord.ui.Button[Any]:
    return discord.ui.Button(label=label, emoji=emoji, style=style, custom_id=f"breed:{action}:{key}")


class NextButton(_Control, discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"breed:next:{_BREED_ID}"):
    """Closes voting now."""

    def __init__(self, breed_id: str) -> None:
        super().__init__(_button("next", breed_id, "Next", "⏭️", discord.ButtonStyle.primary))
        self.breed_id = breed_id

    async def act(self, interaction: discord.Interaction, controller: Steering) -> str:
        actor = actor_in(interaction, await controller.find(self.breed_id, interaction.guild_id))
        return await controller.close_voting(self.breed_id, actor)


class FinishButton(_Control, discord.ui.DynamicItem[discord.ui.Button[Any]],
                   template=rf"breed:finish:{_BREED_ID}"):
    """Ends the breed with the top-voted candidate."""

    def __init__(self, breed_id: str) -> None:
        super().__init__(_button("finish", breed_id, "Finish", "🏁", discord.ButtonStyle.success))
        self.breed_id = breed_id

    async def act(self, interaction: discord.Interaction, controller: Steering) -> str:
        actor = actor_in(interaction, await controller.find(self.breed_id, interaction.guild_id))
        return await controller.finish(self.breed_id, actor)


class BranchButton(_Control, discord.ui.DynamicItem[discord.ui.Button[Any]],
                   template=rf"breed:branch:{_MELODY_ID}"):
    """Starts a new breed seeded from a winner, in the channel its breed was started in; anyone may."""

    _KEY = "melody_id"

    def __init__(self, melody_id: str) -> None:
        super().__init__(_button("branch", melody_id, "Branch", "🌱", discord.ButtonStyle.secondary))
        self.melody_id = melody_id

    async def act(self, interaction: discord.Interaction, controller: Steering) -> str:
        return await controller.branch(interaction, self.melody_id)


class NudgeSelect(_Control, discord.ui.DynamicItem[discord.ui.Select[Any]], template=rf"breed:nudge:{_BREED_ID}"):
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

    async def act(self, interaction: discord.Interaction, controller: Steering) -> str:
        attribute, _, amount = self.item.values[0].partition(":")
        await controller.find(self.breed_id, interaction.guild_id)
        return await controller.nudge(self.breed_id, interaction.user.id, attribute, float(amount))


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

