"""The /breed command group: start, next, mutation, nudge, finish, morph, status, stop; tree, gallery,
play, remove, compose, tune; forget-server.

Every command answers through `answer`: it defers (ephemerally) before anything else, so Discord's
3-second limit holds however slow Redis or an upload is, then sends the one line the command's action
returns; refusals are BreedErrors answered by the tree's handler.
The commands about one breed find it through `for_breed`: the breed of the thread they are used in,
or `breed:`; who may steer it is decided by their rights in the breed's thread, not where they typed
the command. Every text option declares its longest value, so Discord's client refuses anything longer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.ext import commands

from bot.errors import answer
from bot.permissions import actor_in, actor_in_server
from bot.seed import read_seed
from bot.texts import (
    composition_requested_text,
    forget_server_confirm_text,
    gallery_text,
    server_forgotten_text,
    tree_requested_text,
    tune_requested_text,
)
from bot.views import BranchButton, FinishButton, NextButton, NudgeSelect
from domain import limits, nudges
from domain.errors import BreedError
from domain.ids import BREED_ID_LENGTH
from domain.instruments import INSTRUMENTS
from domain.model import Breed, Front
from domain.strategies import DESCRIPTIONS, STRATEGIES
from domain.tune import BACKINGS, TUNE_BARS
from service.breeding import check_origin

if TYPE_CHECKING:
    from bot.client import MelodyBot

BREED_OPTION = "The breed's id (default: the breed of this thread)"
MELODY_OPTION = "A melody id, e.g. ab12cd34-g3-5 (/breed gallery lists the winners')"
BARS_OPTION = "How long the tune made at the finish is, in bars"
BACKING_OPTION = "What plays under the melody: none, chords, or a band (chords, bass and drums)"
# The longest text each option takes: a breed id (as the buttons' custom ids allow), a melody id
# (breed id, generation, candidate), several melody ids, a server's name.
MELODY_ID_LENGTH = 64
MELODIES_LENGTH = int(limits.COMPOSE_PHRASES.high) * (MELODY_ID_LENGTH + 1)
SERVER_NAME_LENGTH = 100
BreedId = Range[str, 1, BREED_ID_LENGTH]
MelodyId = Range[str, 1, MELODY_ID_LENGTH]
BARS_CHOICES = [Choice(name=f"{bars} bars", value=bars) for bars in TUNE_BARS]
BACKING_CHOICES = [Choice(name=backing, value=backing) for backing in BACKINGS]


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

    async def for_breed(self, interaction: discord.Interaction, breed: str | None,
                       act: Callable[[Breed], Awaitable[str]]) -> None:
        """`answer` with what `act` returns for the breed named by `breed`, or else of this thread."""
        async def find_and_act() -> str:
            return await act(await self.bot.service.find(breed, interaction.channel_id, interaction.guild_id))

        await answer(interaction, find_and_act)

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
        from_="A melody id to branch from, e.g. ab12cd34-g3-5: the new breed starts around that melody",
        bars=BARS_OPTION,
        backing=BACKING_OPTION,
    )
    @app_commands.rename(from_="from")
    @app_commands.choices(
        instrument=[Choice(name=name, value=program) for name, program in INSTRUMENTS],
        strategy=[Choice(name=name, value=name) for name in STRATEGIES],
        bars=BARS_CHOICES,
        backing=BACKING_CHOICES,
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
        from_: MelodyId | None = None,
        bars: Choice[int] | None = None,
        backing: Choice[str] | None = None,
    ) -> None:
        async def start_here() -> str:
            channel = interaction.channel
            if not isinstance(channel, discord.TextChannel):
                raise BreedError("Start a breed in a server's text channel (not in a thread): it gets its own thread.")
            source = await self.bot.service.melodies.melody(from_, interaction.guild_id) if from_ else None
            params = self.bot.service.params(
                like=source[1] if source else None, population=population, sigma=mutation, foreign=foreign,
                vote_minutes=vote_minutes, tempo=tempo, instrument=instrument.value if instrument else None,
                strategy=strategy.value if strategy else None, bars=bars.value if bars else None,
                backing=backing.value if backing else None,
            )
            check_origin(b"" if melody is not None else None, source[0] if source else None)
            seed = await read_seed(melody) if melody is not None else None
            breed = await self.bot.controller.start(
                channel, interaction.user, params, melody.filename if melody else None, seed, source
            )
            return f"Breed `{breed.breed_id}` started in <#{breed.thread_id}>."

        await answer(interaction, start_here)

    @app_commands.command(name="next", description="Close voting now and breed the next generation")
    @app_commands.describe(breed=BREED_OPTION)
    async def next_generation(self, interaction: discord.Interaction, breed: BreedId | None = None) -> None:
        await self.for_breed(interaction, breed, lambda found: self.bot.controller.close_voting(
            found.breed_id, actor_in(interaction, found)))

    @app_commands.command(description="Set the mutation σ used from the next step on")
    @app_commands.describe(sigma="Mutation σ (0-1): how far children stray from their parents", breed=BREED_OPTION)
    async def mutation(self, interaction: discord.Interaction, sigma: Range[float, _SIGMA.low, _SIGMA.high],
                       breed: BreedId | None = None) -> None:
        await self.for_breed(interaction, breed, lambda found: self.bot.controller.set_sigma(
            found.breed_id, actor_in(interaction, found), sigma))

    @app_commands.command(description="Steer the next generation with words: fewer notes, higher, smoother…")
    @app_commands.describe(
        attribute="What to change: density (notes), register (pitch), leaps, syncopation, range",
        amount="How much, -2 to 2: 1 moves it by about one standard deviation (-: fewer, lower, smoother)",
        breed=BREED_OPTION,
    )
    @app_commands.choices(attribute=[
        Choice(name=f"{name} ({' / '.join(nudges.WORDS[name])})", value=name) for name in nudges.ATTRIBUTES
    ])
    async def nudge(self, interaction: discord.Interaction, attribute: str,
                    amount: Range[float, nudges.AMOUNT.low, nudges.AMOUNT.high], breed: BreedId | None = None) -> None:
        await self.for_breed(interaction, breed, lambda found: self.bot.controller.nudge(
            found.breed_id, interaction.user.id, attribute, amount))

    @app_commands.command(description="Finish: post the winner's MIDI file, audio and piano roll")
    @app_commands.describe(candidate="The winner's number (default: the top-voted candidate)", breed=BREED_OPTION)
    async def finish(
        self, interaction: discord.Interaction, candidate: Range[int, 1, limits.MAX_CANDIDATES] | None = None,
        breed: BreedId | None = None,
    ) -> None:
        await self.for_breed(interaction, breed, lambda found: self.bot.controller.finish(
            found.breed_id, actor_in(interaction, found), candidate))

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
        breed: BreedId | None = None,
    ) -> None:
        await self.for_breed(interaction, breed, lambda found: self.bot.controller.morph(
            found.breed_id, start, end, steps, actor_in(interaction, found)))

    @app_commands.command(description="Where a breed stands: generation, votes, deadline, settings")
    @app_commands.describe(breed=BREED_OPTION)
    async def status(self, interaction: discord.Interaction, breed: BreedId | None = None) -> None:
        await self.for_breed(interaction, breed, self.bot.controller.status)

    @app_commands.command(description="Stop a breed for good")
    @app_commands.describe(breed=BREED_OPTION)
    async def stop(self, interaction: discord.Interaction, breed: BreedId | None = None) -> None:
        await self.for_breed(interaction, breed, lambda found: self.bot.controller.stop(
            found.breed_id, actor_in(interaction, found)))

    @app_commands.command(description="Post a melody's family tree: its ancestors back to generation 1")
    @app_commands.describe(candidate="A melody id, or a candidate's number in this thread (default: the winner)")
    async def tree(self, interaction: discord.Interaction, candidate: MelodyId | None = None) -> None:
        async def request_tree() -> str:
            service = self.bot.service
            ref = await service.pick(candidate, interaction.channel_id, interaction.guild_id)
            ref, breed = await service.melodies.request_tree(ref, interaction.guild_id, interaction.user.id)
            return tree_requested_text(str(ref), breed)

        await answer(interaction, request_tree)

    @app_commands.command(description="This server's finished winners, newest first")
    @app_commands.describe(page="Which page (10 winners a page)")
    async def gallery(self, interaction: discord.Interaction, page: Range[int, 1, 10_000] = 1) -> None:
        async def show_page() -> str:
            shown = await self.bot.service.gallery.page(interaction.guild_id, page)
            return gallery_text(shown.winners, shown.page, shown.pages, shown.total)

        await answer(interaction, show_page)

    @app_commands.command(description="Post a winner from the gallery again, here")
    @app_commands.describe(melody=MELODY_OPTION)
    async def play(self, interaction: discord.Interaction, melody: MelodyId) -> None:
        async def post_again() -> str:
            if interaction.channel is None:
                raise BreedError("Use this command in a server's channel.")
            gallery = self.bot.service.gallery
            kept = await gallery.play(melody, interaction.guild_id, interaction.user.id)
            try:
                await self.bot.controller.gallery.play(interaction.channel, kept, interaction.user.id)
            except BaseException:
                await gallery.play_failed(interaction.user.id)
                raise
            return f"`{kept.winner.melody_id}` posted."

        await answer(interaction, post_again)

    @app_commands.command(description="Take a winner out of the gallery (your breed's; any with Manage Messages)")
    @app_commands.describe(melody=MELODY_OPTION)
    async def remove(self, interaction: discord.Interaction, melody: MelodyId) -> None:
        async def take_out() -> str:
            winner = await self.bot.service.gallery.remove(melody, interaction.guild_id, actor_in_server(interaction))
            return f"`{winner.melody_id}` is no longer in the gallery."

        await answer(interaction, take_out)

    @app_commands.command(description="Join bred 2-bar phrases into one piece, e.g. A A B A")
    @app_commands.describe(
        melodies=f"{int(limits.COMPOSE_PHRASES.low)}-{int(limits.COMPOSE_PHRASES.high)} melody ids in order, "
                 "separated by spaces; repeat one to hear it again",
        smooth="A short interpolated bar between different phrases",
    )
    async def compose(self, interaction: discord.Interaction, melodies: Range[str, 1, MELODIES_LENGTH],
                      smooth: bool = False) -> None:
        async def request_piece() -> str:
            composition = await self.bot.service.compositions.request(
                melodies, interaction.guild_id, interaction.channel_id, interaction.user.id, smooth=smooth
            )
            return composition_requested_text(composition)

        await answer(interaction, request_piece)

    @app_commands.command(description="Make a whole tune from a melody, with backing: it is posted here")
    @app_commands.describe(
        melody="A melody id (a winner or any candidate), or a candidate's number in this thread",
        bars="How long the tune is (default: the breed's)", backing=BACKING_OPTION + " (default: the breed's)",
    )
    @app_commands.choices(bars=BARS_CHOICES, backing=BACKING_CHOICES)
    async def tune(
        self, interaction: discord.Interaction, melody: MelodyId, bars: Choice[int] | None = None,
        backing: Choice[str] | None = None,
    ) -> None:
        async def request_tune() -> str:
            service = self.bot.service
            ref = await service.pick(melody, interaction.channel_id, interaction.guild_id)
            tune = await service.tunes.request(
                ref, interaction.guild_id, interaction.channel_id, interaction.user.id, front=Front.DISCORD,
                bars=bars.value if bars else None, backing=backing.value if backing else None,
            )
            return tune_requested_text(tune)

        await answer(interaction, request_tune)

    @app_commands.command(name="forget-server",
                          description="Delete this server's gallery, breeds and votes for good (Manage Server)")
    @app_commands.describe(confirm="This server's name, exactly: deleting cannot be undone")
    async def forget_server(self, interaction: discord.Interaction,
                            confirm: Range[str, 1, SERVER_NAME_LENGTH] | None = None) -> None:
        async def forget() -> str:
            guild = interaction.guild
            member = interaction.user
            if guild is None or not isinstance(member, discord.Member) or not member.guild_permissions.manage_guild:
                raise BreedError("Only members with Manage Server can make me forget this server.")
            if confirm != guild.name:
                return forget_server_confirm_text(guild.name)
            forgotten = await self.bot.service.gallery.forget_server(guild.id)
            return server_forgotten_text(forgotten.winners, forgotten.breeds)

        await answer(interaction, forget)


async def setup(bot: MelodyBot) -> None:
    bot.add_dynamic_items(NextButton, FinishButton, BranchButton, NudgeSelect)
    await bot.add_cog(BreedCommands(bot))


async def teardown(bot: MelodyBot) -> None:
    bot.remove_dynamic_items(NextButton, FinishButton, BranchButton, NudgeSelect)
