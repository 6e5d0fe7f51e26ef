"""/breed listen: the bot plays a breed's clips in a voice channel, so that a group hears a round together.

One voice connection per server, for one breed: a second breed's listen is refused with one line
(not queued: a queue would play a breed nobody asked for any more). The session plays the current
generation's clips 1 to n with a short gap and edits one message in the thread ("▶ 3 of 8"); a new
generation stops the round and plays the new one; at the finish it plays the winner and the tune,
then leaves. It leaves on `/breed listen action:stop`, when the breed ends, and when its channel has
had nobody but bots in it for LISTEN_EMPTY_S. The controller tells the cog of a breed's changes
(`breed_changed`); the cog plays through a `bot.voice.VoicePort`, so tests drive it with a double.
Sessions live in memory: after a restart Discord has dropped the bot from voice, and a new listen
starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot import texts
from bot.cogs.breed import BREED_OPTION, BreedId
from bot.errors import answer
from bot.voice import Clip, VoiceConnector, VoiceDropped, VoicePort, connect_discord
from domain import artifacts
from domain.errors import BreedError
from domain.model import Breed

if TYPE_CHECKING:
    from bot.client import MelodyBot

log = logging.getLogger(__name__)

MAX_CLIP_BYTES = 10 * 1024 * 1024
RECONNECTS = 3  # tries to join again after a drop discord.py did not recover from, before leaving


@dataclass
class Session:
    """The bot in one server's voice channel, playing one breed."""

    guild_id: int
    breed_id: str
    thread_id: int
    port: VoicePort
    channel: discord.VoiceChannel
    message: discord.PartialMessage | None = None
    playing: tuple[str, int] | None = None  # ("generation" or "winner", generation number) of the playlist
    task: asyncio.Task[None] | None = None
    empty_timer: asyncio.Task[None] | None = None


class Listen(commands.Cog):
    """The voice sessions of this bot process, one per server."""

    def __init__(self, bot: MelodyBot, connect: VoiceConnector = connect_discord) -> None:
        self.bot = bot
        self.connect = connect  # tests put a double here
        self.sessions: dict[int, Session] = {}
        self._changes = asyncio.Lock()

    @property
    def gap_s(self) -> float:
        return self.bot.settings.listen_gap_s

    @property
    def empty_s(self) -> float:
        return self.bot.settings.listen_empty_s

    async def cog_load(self) -> None:
        self.bot.controller.watchers.append(self)

    async def cog_unload(self) -> None:
        with contextlib.suppress(ValueError):
            self.bot.controller.watchers.remove(self)
        for guild_id in list(self.sessions):
            await self.leave(guild_id, "the bot is shutting down")

    # --- the command -------------------------------------------------------------------------

    async def listen(self, interaction: discord.Interaction, stop: bool, breed_id: str | None,
                     channel: discord.VoiceChannel | discord.StageChannel | None) -> str:
        """What /breed listen does; returns the answer, raises BreedError with the one line of a refusal."""
        guild = interaction.guild
        if guild is None:
            raise BreedError("The /breed commands work in a server's text channels.")
        if stop:
            session = self.sessions.get(guild.id)
            if session is None:
                raise BreedError("I am not in a voice channel on this server.")
            channel_id = session.channel.id
            await self.leave(guild.id, "asked to stop")
            return f"I left <#{channel_id}>."
        breed = await self.bot.service.find(breed_id, interaction.channel_id, interaction.guild_id)
        if breed.status in ("stopped", "failed"):
            raise BreedError(f"Breed `{breed.breed_id}` has ended: there is nothing more to play.")
        target = channel if channel is not None else _voice_channel_of(interaction.user)
        if target is None:
            raise BreedError("Join a voice channel first, or name one with `channel:`.")
        if isinstance(target, discord.StageChannel):
            raise BreedError(f"<#{target.id}> is a stage channel: I play in voice channels only.")
        missing = [name for name, allowed in _voice_rights(target, guild.me) if not allowed]
        if missing:
            raise BreedError(f"I need the {' and '.join(missing)} permission{'s' if len(missing) > 1 else ''} "
                             f"in <#{target.id}>.")
        async with self._changes:
            session = self.sessions.get(guild.id)
            if session is not None:
                if session.breed_id == breed.breed_id and session.channel.id == target.id:
                    return f"I am playing breed `{breed.breed_id}` in <#{target.id}> already."
                raise BreedError(texts.listen_busy_text(session.breed_id, session.channel.id))
            try:
                port = await self.connect(target)
            except (discord.ClientException, TimeoutError, RuntimeError, discord.HTTPException) as error:
                log.warning("breed %s: cannot join voice channel %d: %r", breed.breed_id, target.id, error)
                raise BreedError(f"I could not join <#{target.id}>; try again in a minute.") from None
            assert breed.thread_id is not None
            session = Session(guild.id, breed.breed_id, breed.thread_id, port, target)
            self.sessions[guild.id] = session
            log.info("breed %s gen %d: listening in voice channel %d", breed.breed_id, breed.generation, target.id)
            await self._show(session, texts.listen_waiting_text(target.id))
            self._play_state(session, breed)
            self._watch_listeners(session)
        return texts.listen_started_answer(target.id, breed.breed_id)

    # --- the breed's changes (the controller calls this) ---------------------------------------

    async def breed_changed(self, breed: Breed) -> None:
        """A new generation is up for votes, the winner is posted, or the breed ended."""
        session = next((s for s in self.sessions.values() if s.breed_id == breed.breed_id), None)
        if session is None:
            return
        if breed.status in ("stopped", "failed"):
            await self.leave(session.guild_id, "the breed ended")
            return
        self._play_state(session, breed)

    def _play_state(self, session: Session, breed: Breed) -> None:
        """Play what the breed shows now, unless that is playing already (a repeated event changes nothing)."""
        if breed.status == "finished" and breed.winner is not None:
            wanted = ("winner", breed.generation)
        elif breed.generation >= 0:
            wanted = ("generation", breed.generation)
        else:
            return  # the first generation is still being made
        if session.playing == wanted:
            return
        session.playing = wanted
        previous = session.task
        session.task = self.bot.tasks.spawn(self._play(session, breed, previous),
                                            name=f"listen {breed.breed_id} {wanted[0]} {wanted[1]}")

    async def _clips(self, breed: Breed) -> tuple[str, list[Clip]]:
        """What to call the playlist, and its clips in order; missing ones (expired, too large) are left out."""
        number = breed.generation
        if breed.status == "finished":
            names = [artifacts.WINNER_AUDIO, artifacts.TUNE_AUDIO]
            what = "The winner, then its tune"
        else:
            names = [artifacts.clip_name(index) for index in range(breed.params.population)]
            what = f"Generation {texts.shown(number)}"
        files = await self.bot.service.results.files(breed.breed_id, number, names, MAX_CLIP_BYTES)
        return what, [Clip(name, audio) for name, audio in files.found]

    async def _play(self, session: Session, breed: Breed, previous: asyncio.Task[None] | None) -> None:
        if previous is not None and not previous.done():
            previous.cancel()
            await asyncio.wait({previous})
        what, clips = await self._clips(breed)
        channel_id = session.channel.id
        for position, clip in enumerate(clips, start=1):
            await self._show(session, texts.listen_playing_text(channel_id, what, position, len(clips)))
            if not await self._play_clip(session, breed, clip):
                await self.leave(session.guild_id, "the voice connection was lost")
                return
            if position < len(clips) and self.gap_s > 0:
                # On the host's clock, declared: a host on virtual time (SimCord) moves it.
                await self.bot.external_wait(asyncio.sleep(self.gap_s), reason="the gap between two clips")
        log.info("breed %s gen %d: played %d clips in voice", breed.breed_id, breed.generation, len(clips))
        if breed.status == "finished":
            await self.leave(session.guild_id, "the breed is finished")
        else:
            await self._show(session, texts.listen_done_text(channel_id, what, len(clips)))

    async def _play_clip(self, session: Session, breed: Breed, clip: Clip) -> bool:
        """Play one clip; after a drop discord.py did not recover from, join again and play it again.

        False: the connection could not be made again.
        """
        for attempt in range(RECONNECTS + 1):
            try:
                await session.port.play(clip)
                return True
            except VoiceDropped:
                log.warning("breed %s gen %d: voice connection lost during %s (try %d)", breed.breed_id,
                            breed.generation, clip.name, attempt + 1)
                if attempt == RECONNECTS:
                    break
                with contextlib.suppress(discord.ClientException, discord.HTTPException, TimeoutError):
                    await session.port.disconnect()
                try:
                    session.port = await self.connect(session.channel)
                except (discord.ClientException, discord.HTTPException, TimeoutError, RuntimeError) as error:
                    log.warning("breed %s: joining voice again failed: %r", breed.breed_id, error)
                    await asyncio.sleep(2.0 * (attempt + 1))
        return False

    # --- leaving ------------------------------------------------------------------------------

    async def leave(self, guild_id: int, why: str) -> None:
        """Stop playing, leave the voice channel and say why in the listen message."""
        session = self.sessions.pop(guild_id, None)
        if session is None:
            return
        current = asyncio.current_task()
        for task in (session.task, session.empty_timer):
            if task is not None and task is not current and not task.done():
                task.cancel()
                await asyncio.wait({task})
        try:
            await session.port.disconnect()
        except (discord.ClientException, discord.HTTPException, TimeoutError) as error:
            log.warning("breed %s: leaving voice channel %d: %r", session.breed_id, session.channel.id, error)
        log.info("breed %s: left voice channel %d (%s)", session.breed_id, session.channel.id, why)
        await self._show(session, texts.listen_left_text(session.channel.id, why))

    def _watch_listeners(self, session: Session) -> None:
        """Arm the empty-channel timer when nobody but bots is in the channel; disarm it when someone is."""
        channel = self.bot.get_channel(session.channel.id)
        members = channel.members if isinstance(channel, discord.VoiceChannel) else []
        empty = not any(not member.bot for member in members)
        timer = session.empty_timer
        if empty and (timer is None or timer.done()):
            session.empty_timer = self.bot.tasks.spawn(self._leave_when_empty(session.guild_id),
                                                       name=f"listen {session.breed_id} empty channel")
        elif not empty and timer is not None and not timer.done():
            timer.cancel()
            session.empty_timer = None

    async def _leave_when_empty(self, guild_id: int) -> None:
        # A wait for the outside world (someone joining), declared: a host on virtual time (SimCord) moves it.
        await self.bot.external_wait(asyncio.sleep(self.empty_s), reason="a voice channel stays empty")
        session = self.sessions.get(guild_id)
        if session is not None:
            session.empty_timer = None
            await self.leave(guild_id, f"nobody listened for {self.empty_s:g} s")

    @commands.Cog.listener()
    async def on_voice_state_update(self, member: discord.Member, before: discord.VoiceState,
                                    after: discord.VoiceState) -> None:
        session = self.sessions.get(member.guild.id)
        if session is None:
            return
        me = self.bot.user
        if me is not None and member.id == me.id and after.channel is None and before.channel is not None:
            # Someone disconnected the bot (or it left): the session is over.
            await self.leave(member.guild.id, "I was disconnected")
            return
        if session.channel.id in {state.channel.id for state in (before, after) if state.channel is not None}:
            self._watch_listeners(session)

    async def _show(self, session: Session, content: str) -> None:
        """Post the listen message once, then edit it; a failure is only logged (the music goes on)."""
        try:
            if session.message is None:
                thread = self.bot.get_partial_messageable(session.thread_id, guild_id=session.guild_id,
                                                          type=discord.ChannelType.public_thread)
                sent = await thread.send(content)
                session.message = thread.get_partial_message(sent.id)
            else:
                await session.message.edit(content=content)
        except discord.HTTPException as error:
            log.warning("breed %s: cannot show the listen message: %s", session.breed_id, error)


def _voice_channel_of(user: discord.abc.User) -> discord.VoiceChannel | discord.StageChannel | None:
    voice = user.voice if isinstance(user, discord.Member) else None
    return voice.channel if voice is not None else None


def _voice_rights(channel: discord.VoiceChannel, me: discord.Member) -> list[tuple[str, bool]]:
    rights = channel.permissions_for(me)
    return [("View Channel", rights.view_channel), ("Connect", rights.connect), ("Speak", rights.speak)]


def listen_command(cog: Listen) -> app_commands.Command[None, ..., None]:
    """`/breed listen`, a subcommand of the breed group (which another cog owns)."""

    @app_commands.command(name="listen", description="Hear each generation together: I play it in a voice channel")
    @app_commands.describe(
        action="play (default): join and play each generation; stop: leave the voice channel",
        channel="The voice channel to play in (default: the one you are in)",
        breed=BREED_OPTION,
    )
    @app_commands.choices(action=[Choice(name="play", value="play"), Choice(name="stop", value="stop")])
    async def listen(
        interaction: discord.Interaction, action: Choice[str] | None = None,
        channel: discord.VoiceChannel | discord.StageChannel | None = None, breed: BreedId | None = None,
    ) -> None:
        stop = action is not None and action.value == "stop"
        await answer(interaction, lambda: cog.listen(interaction, stop, breed, channel))

    return listen


async def setup(bot: MelodyBot) -> None:
    cog = Listen(bot)
    await bot.add_cog(cog)
    group = bot.tree.get_command("breed")
    assert isinstance(group, app_commands.Group), "bot.cogs.breed is loaded before bot.cogs.listen"
    group.add_command(listen_command(cog))


async def teardown(bot: MelodyBot) -> None:
    group = bot.tree.get_command("breed")
    if isinstance(group, app_commands.Group):
        group.remove_command("listen")
