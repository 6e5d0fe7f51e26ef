"""The Discord side of what outlives a breed: family trees, gallery replays, compositions and tunes.

Like the controller, it only says what Discord shows; the service decides and posts each thing once.
"""

from __future__ import annotations

import io
import logging

import discord

from bot import texts
from bot.views import winner_controls
from domain import artifacts
from domain.errors import BreedError
from domain.ids import MelodyRef
from domain.model import Breed, Composition, TuneRequest
from service.breeding import BreedingService
from service.gallery import Kept
from service.results import Files
from storage.codec import Event

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 10 * 1024 * 1024


class GalleryPosts:
    """Posts trees, replays, compositions and tunes."""

    def __init__(self, client: discord.Client, service: BreedingService) -> None:
        self.client = client
        self.service = service

    def _channel(self, channel_id: int, guild_id: int | None) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(channel_id, guild_id=guild_id)

    async def on_tree(self, event: Event) -> None:
        """A family tree is ready (or failed): post it in its breed's thread, once."""
        index, number = event.candidate, event.generation
        if index is None:
            log.warning("breed %s gen %d: tree event without its candidate", event.breed_id, number)
            return
        melody = str(MelodyRef(event.breed_id, number, index))
        failed = event.type == "error"

        async def post(breed: Breed) -> None:
            if breed.thread_id is None:
                return
            thread = self._channel(breed.thread_id, breed.guild_id)
            if failed:
                await thread.send(texts.tree_failed_text(melody, event.message or "the worker failed."))
                return
            files = await self.service.files(breed.breed_id, number, [artifacts.tree_name(index)], MAX_FILE_BYTES)
            await thread.send(texts.tree_text(melody),
                              files=[_file(artifacts.LINEAGE_PNG, data) for _name, data in files.found])
            log.info("breed %s gen %d: family tree of candidate %d posted", breed.breed_id, number, index)

        await self.service.tree_ready(event.breed_id, number, index, post, failed=failed)

    async def on_composed(self, event: Event) -> None:
        """A composition is ready (or failed): post it where it was asked for, once."""
        failed = event.type == "error"

        async def post(composition: Composition, files: tuple[tuple[str, bytes], ...]) -> None:
            if composition.channel_id is None:
                return
            channel = self._channel(composition.channel_id, composition.guild_id)
            if failed:
                await channel.send(texts.composition_failed_text(composition, event.message or "the worker failed."))
                return
            await channel.send(texts.composition_text(composition),
                               files=[_file(name, data) for name, data in files if len(data) <= MAX_FILE_BYTES])
            log.info("composition %s posted in channel %d", composition.composition_id, composition.channel_id)

        await self.service.composed(event.breed_id, post)

    async def on_tune(self, event: Event) -> None:
        """A tune is ready (or failed): post it where it was asked for, once."""
        failed = event.type == "error"

        async def post(tune: TuneRequest, files: Files) -> None:
            if tune.channel_id is None:
                return
            channel = self._channel(tune.channel_id, tune.guild_id)
            if failed:
                await channel.send(texts.tune_failed_text(tune, event.message or "the worker failed."))
                return
            await channel.send(texts.tune_text(tune), files=[_file(name, data) for name, data in files.found])
            log.info("tune %s of %s posted in channel %d", tune.tune_id, tune.melody, tune.channel_id)

        await self.service.tune_ready(event.breed_id, "discord", post, MAX_FILE_BYTES)

    async def play(self, channel: discord.abc.Messageable, kept: Kept, user_id: int) -> None:
        """Post a gallery winner again, with its Branch button."""
        files = [_file(name, data) for name, data in kept.files if len(data) <= MAX_FILE_BYTES]
        try:
            await channel.send(texts.play_text(kept.winner, user_id), files=files,
                               view=winner_controls(kept.winner.melody_id))
        except discord.Forbidden:
            raise BreedError("I cannot post here: I need Send Messages and Attach Files in this channel.") from None


def _file(name: str, data: bytes) -> discord.File:
    return discord.File(io.BytesIO(data), filename=name)
