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
from service.router import Tree

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 10 * 1024 * 1024


class GalleryPosts:
    """Posts trees, replays, compositions and tunes."""

    def __init__(self, client: discord.Client, service: BreedingService) -> None:
        self.client = client
        self.service = service

    def _channel(self, channel_id: int, guild_id: int | None) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(channel_id, guild_id=guild_id)

    async def show_tree(self, breed: Breed, tree: Tree) -> None:
        """A family tree is ready (or failed): post it in its breed's thread (the service posts it once)."""
        if breed.thread_id is None:
            return
        melody = str(MelodyRef(breed.breed_id, tree.generation, tree.index))
        thread = self._channel(breed.thread_id, breed.guild_id)
        if tree.failure is not None:
            await thread.send(texts.tree_failed_text(melody, tree.failure))
            return
        files = await self.service.results.files(breed.breed_id, tree.generation, [artifacts.tree_name(tree.index)],
                                         MAX_FILE_BYTES)
        await thread.send(texts.tree_text(melody),
                          files=[_file(artifacts.LINEAGE_PNG, data) for _name, data in files.found])
        log.info("breed %s gen %d: family tree of candidate %d posted", breed.breed_id, tree.generation, tree.index)

    async def show_composition(
        self, composition: Composition, files: tuple[tuple[str, bytes], ...], failure: str | None,
    ) -> None:
        """A composition is ready (or failed): post it where it was asked for (the service posts it once)."""
        if composition.channel_id is None:
            return
        channel = self._channel(composition.channel_id, composition.guild_id)
        if failure is not None:
            await channel.send(texts.composition_failed_text(composition, failure))
            return
        await channel.send(texts.composition_text(composition),
                           files=[_file(name, data) for name, data in files if len(data) <= MAX_FILE_BYTES])
        log.info("composition %s posted in channel %d", composition.composition_id, composition.channel_id)

    async def show_tune(self, tune: TuneRequest, files: Files, failure: str | None) -> None:
        """A tune is ready (or failed): post it where it was asked for (the service posts it once)."""
        if tune.channel_id is None:
            return
        channel = self._channel(tune.channel_id, tune.guild_id)
        if failure is not None:
            await channel.send(texts.tune_failed_text(tune, failure))
            return
        await channel.send(texts.tune_text(tune),
                           files=[_file(name, data) for name, data in files.found if len(data) <= MAX_FILE_BYTES])
        log.info("tune %s of %s posted in channel %d", tune.tune_id, tune.melody, tune.channel_id)

    async def play(self, channel: discord.abc.Messageable, kept: Kept, user_id: int) -> None:
        """Post a gallery winner again, with its Branch button."""
        files = [_file(name, data) for name, data in kept.files if len(data) <= MAX_FILE_BYTES]
        try:
            without_tree = artifacts.LINEAGE_PNG not in dict(kept.files)
            await channel.send(texts.play_text(kept.winner, user_id, without_tree), files=files,
                               view=winner_controls(kept.winner.melody_id))
        except discord.Forbidden:
            raise BreedError("I cannot post here: I need Send Messages and Attach Files in this channel.") from None


def _file(name: str, data: bytes) -> discord.File:
    return discord.File(io.BytesIO(data), filename=name)
