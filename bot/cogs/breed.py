"""The /breed command group: start, next, mutation, finish, morph, status, stop.

Every command defers (ephemerally) before anything else, so Discord's 3-second limit holds
however slow Redis or an upload is; refusals are BreedErrors answered by the tree's handler.
Commands other than start act on the breed of the thread they are used in, or on `breed:`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.ext import commands

from bot.permissions import actor_of
from bot.seed import read_seed
from bot.texts import INSTRUMENTS
from bot.views import FinishButton, NextButton
from domain import limits
from domain.errors import BreedError
from domain.strategies import DESCRIPTIONS, STRATEGIES

if TYPE_CHECKING:
    from bot.client import MelodyBot

BREED_OPTION = "The breed's id (default: the breed of this thread)"


class _Ints:
    """A domain limit as the whole numbers a Discord option declares."""

    def __init__(self, limit: limits.Limit) -> None:
        self.low, self.high = int(limit.low), int(limit.high)


_POPULATION, _FOREIGN, _TEMPO, _MORPH = (_Ints(limit) for limit in (
    limits.POPULATION, limits.FOREIGN, limits.TEMPO, limits.MORPH_STEPS))
_SIGMA = limits.SIGMA


@app_commands.guild_only()
class BreedCommands(commands.GroupCog, group_name="breed", group_description="Breed melodies together by voting"):
    def __init__(self, bot: MelodyBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(description="Start a breed here; it gets its own thread")
    @app_commands.describe(
        population="Candidates per generation (2-10)",
        mutation="Mutation σ (0-1): how far children stray from their parents",
        foreign="Fresh random candidates in each generation",
        vote_minutes="How long each vote stays open, in minutes",
        tempo="Tempo in beats per minute",
        instrument="The instrument the melodies are played on",
        melody="A MIDI file (up to 1 MiB) to start from your own melody",
        strategy="; ".join(f"{name}: {what}" for name, what in DESCRIPTIONS.items()),
    )
    @app_commands.choices(
        instrument=[Choice(name=name, value=program) for name, program in INSTRUMENTS],
        strategy=[Choice(name=name, value=name) for name in STRATEGIES],
    )
    async def start(
        self,
        interaction: discord.Interaction,
        population: Range[int, _POPULATION.low, _POPULATION.high] | None = None,
        mutation: Range[float, _SIGMA.low, _SIGMA.high] | None = None,
        foreign: Range[int, _FOREIGN.low, _FOREIGN.high] | None = None,
        vote_minutes: Range[float, limits.VOTE_MINUTES_OPTION_LOW, limits.VOTE_MINUTES.high] | None = None,
        tempo: Range[int, _TEMPO.low, _TEMPO.high] | None = None,
        instrument: Choice[int] | None = None,
        melody: discord.Attachment | None = None,
        strategy: Choice[str] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel = interaction.channel
        if not isinstance(channel, discord.TextChannel):
            raise BreedError("Start a breed in a server's text channel (not in a thread): it gets its own thread.")
        params = self.bot.service.params(
            population=population, sigma=mutation, foreign=foreign,
            vote_minutes=vote_minutes, tempo=tempo, instrument=instrument.value if instrument else None,
            strategy=strategy.value if strategy else None,
        )
        seed = await read_seed(melody) if melody is not None else None
        breed = await self.bot.controller.start(
            channel, interaction.user, params, melody.filename if melody else None, seed
        )
        await interaction.followup.send(f"Breed `{breed.breed_id}` started in <#{breed.thread_id}>.", ephemeral=True)

    @app_commands.command(name="next", description="Close voting now and breed the next generation")
    @app_commands.describe(breed=BREED_OPTION)
    async def next_generation(self, interaction: discord.Interaction, breed: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.bot.service.find(breed, interaction.channel_id, interaction.guild_id)
        answer = await self.bot.controller.close_voting(found.breed_id, actor_of(interaction))
        await interaction.followup.send(answer, ephemeral=True)

    @app_commands.command(description="Set the mutation σ used from the next step on")
    @app_commands.describe(sigma="Mutation σ (0-1): how far children stray from their parents", breed=BREED_OPTION)
    async def mutation(self, interaction: discord.Interaction, sigma: Range[float, _SIGMA.low, _SIGMA.high],
                       breed: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.bot.service.find(breed, interaction.channel_id, interaction.guild_id)
        answer = await self.bot.controller.set_sigma(found.breed_id, actor_of(interaction), sigma)
        await interaction.followup.send(answer, ephemeral=True)

    @app_commands.command(description="Finish: post the winner's MIDI file, audio and piano roll")
    @app_commands.describe(candidate="The winner's number (default: the top-voted candidate)", breed=BREED_OPTION)
    async def finish(
        self, interaction: discord.Interaction, candidate: Range[int, 1, limits.MAX_CANDIDATES] | None = None,
        breed: str | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.bot.service.find(breed, interaction.channel_id, interaction.guild_id)
        answer = await self.bot.controller.finish(found.breed_id, actor_of(interaction), candidate)
        await interaction.followup.send(answer, ephemeral=True)

    @app_commands.command(description="Hear a morph from one candidate to another, through the latent space")
    @app_commands.describe(
        start="The candidate the morph starts from",
        end="The candidate the morph ends on",
        steps=f"Melodies on the way, both candidates included ({_MORPH.low}-{_MORPH.high}, "
              f"default {limits.MORPH_DEFAULT_STEPS})",
        breed=BREED_OPTION,
    )
    async def morph(
        self,
        interaction: discord.Interaction,
        start: Range[int, 1, limits.MAX_CANDIDATES],
        end: Range[int, 1, limits.MAX_CANDIDATES],
        steps: Range[int, _MORPH.low, _MORPH.high] = limits.MORPH_DEFAULT_STEPS,
        breed: str | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.bot.service.find(breed, interaction.channel_id, interaction.guild_id)
        answer = await self.bot.controller.morph(found.breed_id, start, end, steps, actor_of(interaction))
        await interaction.followup.send(answer, ephemeral=True)

    @app_commands.command(description="Where a breed stands: generation, votes, deadline, settings")
    @app_commands.describe(breed=BREED_OPTION)
    async def status(self, interaction: discord.Interaction, breed: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.bot.service.find(breed, interaction.channel_id, interaction.guild_id)
        await interaction.followup.send(await self.bot.controller.status(found), ephemeral=True)

    @app_commands.command(description="Stop a breed for good")
    @app_commands.describe(breed=BREED_OPTION)
    async def stop(self, interaction: discord.Interaction, breed: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.bot.service.find(breed, interaction.channel_id, interaction.guild_id)
        answer = await self.bot.controller.stop(found.breed_id, actor_of(interaction))
        await interaction.followup.send(answer, ephemeral=True)


async def setup(bot: MelodyBot) -> None:
    bot.add_dynamic_items(NextButton, FinishButton)
    await bot.add_cog(BreedCommands(bot))


async def teardown(bot: MelodyBot) -> None:
    bot.remove_dynamic_items(NextButton, FinishButton)
