"""The bot's voice: the small port the listen cog plays through, and its discord.py adapter.

The cog knows only `VoicePort`: no voice server can be simulated, so tests give it a double, and
`DiscordVoice` is the real thing: discord.py's VoiceClient (PyNaCl for the transport, davey for the
end-to-end encryption, DAVE, that Discord requires in voice) fed by ffmpeg. An Opus clip goes through
ffmpeg as it is (codec copy); another codec is encoded to Opus once, on the way.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import discord

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
OPUS_CODECS = ("opus", "libopus")


class VoiceDropped(Exception):  # noqa: N818 - a state, not an error of ours
    """The voice connection was lost while a clip played and did not come back by itself."""


@dataclass(frozen=True)
class Clip:
    """One audio file to play: its artifact name (clip-3.ogg, winner.ogg) and its encoded bytes."""

    name: str
    audio: bytes


class VoicePort(Protocol):
    """One voice connection of the bot, in one channel of one server."""

    @property
    def channel_id(self) -> int: ...

    def is_connected(self) -> bool: ...

    async def play(self, clip: Clip) -> None:
        """Play `clip` to its end; cancelling the call stops it. VoiceDropped: the connection is gone."""
        ...

    async def disconnect(self) -> None: ...


VoiceConnector = Callable[[discord.VoiceChannel], Awaitable[VoicePort]]


async def audio_source(path: str) -> discord.FFmpegOpusAudio:
    """ffmpeg reading the clip at `path`: Opus is copied packet for packet, anything else encoded to Opus."""
    return await discord.FFmpegOpusAudio.from_probe(path, method="native")


class DiscordVoice:
    """A `VoicePort` on discord.py's VoiceClient."""

    def __init__(self, client: discord.VoiceClient) -> None:
        self.client = client

    @property
    def channel_id(self) -> int:
        return self.client.channel.id

    def is_connected(self) -> bool:
        return self.client.is_connected()

    async def play(self, clip: Clip) -> None:
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()

        def after(error: Exception | None) -> None:
            # Runs on the player's thread.
            loop.call_soon_threadsafe(_settle, ended, error)

        with tempfile.TemporaryDirectory(prefix="melody-listen-") as folder:
            path = Path(folder) / Path(clip.name).name
            path.write_bytes(clip.audio)
            source = await audio_source(str(path))
            if not self.client.is_connected():
                source.cleanup()
                raise VoiceDropped
            # discord.py resumes a clip by itself when its voice gateway reconnects within its timeout.
            self.client.play(source, after=after)
            try:
                await ended
            except asyncio.CancelledError:
                self.client.stop()
                raise
        if not self.client.is_connected():
            # The player gave up waiting for the connection: the clip did not play to its end.
            raise VoiceDropped

    async def disconnect(self) -> None:
        await self.client.disconnect(force=True)


def _settle(ended: asyncio.Future[None], error: Exception | None) -> None:
    if ended.done():
        return
    if error is not None:
        ended.set_exception(error)
    else:
        ended.set_result(None)


async def connect_discord(channel: discord.VoiceChannel) -> VoicePort:
    """Join `channel` (deafened: the bot only plays) with discord.py's own voice reconnects switched on."""
    client = await channel.connect(timeout=CONNECT_TIMEOUT_S, reconnect=True, self_deaf=True)
    return DiscordVoice(client)
