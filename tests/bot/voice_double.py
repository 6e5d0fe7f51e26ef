"""A stand-in for Discord's voice servers, behind bot.voice.VoicePort: no voice server can be simulated.

The real listen cog connects and plays through it. A clip "plays" until the test ends it
(`end_clip`) or drops the connection (`drop`); waiting for that is declared to SimCord as an
external wait, as the real end of a clip comes from outside the bot. Every step is written to
`log`, in order: ("connect", channel id), ("play", clip name, audio bytes), ("end", name),
("stop", name), ("drop", name), ("disconnect", channel id).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import discord
import simcord

from bot.voice import Clip, VoiceDropped, VoicePort


@dataclass
class DoubleConnection:
    """One connection of the bot to a voice channel."""

    double: VoiceDouble
    channel: discord.VoiceChannel
    connected: bool = True
    clip: Clip | None = None
    ended: asyncio.Future[str] | None = None

    @property
    def channel_id(self) -> int:
        return self.channel.id

    def is_connected(self) -> bool:
        return self.connected

    async def play(self, clip: Clip) -> None:
        if not self.connected:
            raise VoiceDropped
        self.clip = clip
        self.ended = asyncio.get_running_loop().create_future()
        self.double.log.append(("play", clip.name, clip.audio))
        try:
            how = await self.double.external_wait(self.ended, reason="a clip plays in the voice double")
        except asyncio.CancelledError:
            self.double.log.append(("stop", clip.name))
            raise
        finally:
            self.clip = None
        self.double.log.append((how, clip.name))
        if how == "drop":
            raise VoiceDropped

    async def disconnect(self) -> None:
        if self.connected:
            self.connected = False
            self.double.log.append(("disconnect", self.channel.id))


@dataclass
class VoiceDouble:
    env: simcord.Env
    log: list[tuple[Any, ...]] = field(default_factory=list)
    connections: list[DoubleConnection] = field(default_factory=list)
    refuse: Exception | None = None  # raised by the next connect

    def external_wait(self, awaitable: Any, *, reason: str) -> Any:
        return self.env.external_wait(awaitable, reason=reason)

    async def connect(self, channel: discord.VoiceChannel) -> VoicePort:
        if self.refuse is not None:
            error, self.refuse = self.refuse, None
            raise error
        connection = DoubleConnection(self, channel)
        self.connections.append(connection)
        self.log.append(("connect", channel.id))
        return connection

    def playing(self) -> Clip | None:
        """The clip playing now, if any."""
        return next((c.clip for c in self.connections if c.connected and c.clip is not None), None)

    def played(self) -> list[str]:
        """The names of the clips started, in order."""
        return [entry[1] for entry in self.log if entry[0] == "play"]

    def connected(self) -> list[DoubleConnection]:
        return [connection for connection in self.connections if connection.connected]

    async def end_clip(self, how: str = "end") -> str:
        """End the clip playing now ("end": played to its end; "drop": the connection went) and let the bot run."""
        [connection] = [c for c in self.connections if c.connected and c.ended is not None and not c.ended.done()]
        assert connection.clip is not None
        name = connection.clip.name
        if how == "drop":
            connection.connected = False
        assert connection.ended is not None
        connection.ended.set_result(how)
        await self.env.settle()
        return name
