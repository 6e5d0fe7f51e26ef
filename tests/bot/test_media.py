"""The bot with a media store (the folder of BotSettings' data_dir, shared with the real worker): a gallery
winner's files the folder let go are rendered again for /breed play, and a generation's clips for its post."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.ids import melody_id
from runtime.settings import BotSettings
from storage import BreedStore
from storage.breeds import breed_key, generation_key, latents_key
from tests.bot.flows import start_breed
from tests.bot.simulation import World, answer_of
from tests.support.bot import bot_posts, finish_with, names
from tests.support.media import worker_with_media
from worker.runner import Worker

pytestmark = pytest.mark.slow


@pytest.fixture
async def media_worker(redis_url: str, store: BreedStore, bot_settings: BotSettings, melody_model,
                       renderer) -> AsyncIterator[Worker]:
    """A real worker on the bot's host: its media in the bot's folder (MEDIA_DIR unset: DATA_DIR/media)."""
    async with worker_with_media(redis_url, bot_settings.media_folder, melody_model, renderer) as worker:
        yield worker


def emptied(media_folder: Path, breed_id: str, number: int) -> list[str]:
    """Let every file of a generation go from the folder, as eviction would; their names."""
    gone = sorted(path.name for path in (media_folder / "breed" / breed_id / str(number)).iterdir())
    for name in gone:
        (media_folder / "breed" / breed_id / str(number) / name).unlink()
    return gone


async def test_breed_play_renders_again_the_winners_files_the_folder_let_go(
    world: World, media_worker: Worker, bot_settings: BotSettings,
) -> None:
    breed = await start_breed(world)
    await finish_with(world, breed, 2)
    winner_id = melody_id(breed.breed_id, 0, 1)
    gone = emptied(bot_settings.media_folder, breed.breed_id, 0)
    assert {"winner.ogg", "winner.png", "lineage.png", "tune.ogg", "tune.png"} <= set(gone)

    played = await world.voters[0].slash(world.channel, "breed play", melody=winner_id)

    assert answer_of(played) == f"`{winner_id}` posted."
    [again] = bot_posts(world, world.channel, "🎵")
    assert names(again) == [
        "winner.mid", "winner.ogg", "winner.png", "lineage.png", "tune.mid", "tune.ogg", "tune.png"]
    assert (await again.attachments[1].read()).startswith(b"OggS")
    assert (await again.attachments[3].read()).startswith(b"\x89PNG")
    assert (bot_settings.media_folder / "breed" / breed.breed_id / "0" / "tune.ogg").is_file()
    assert "family tree is no longer kept" not in again.content

    # The breed's retention passed: the gallery keeps its record, winner.mid and tune.mid; the lineage went.
    await world.store.redis.delete(breed_key(breed.breed_id), generation_key(breed.breed_id, 0),
                                   latents_key(breed.breed_id, 0))
    emptied(bot_settings.media_folder, breed.breed_id, 0)
    await world.env.advance_time(bot_settings.play_cooldown_s + 1)
    await world.voters[1].slash(world.channel, "breed play", melody=winner_id)
    later = bot_posts(world, world.channel, "🎵")[-1]
    assert names(later) == ["winner.mid", "winner.ogg", "winner.png", "tune.mid", "tune.ogg", "tune.png"]
    assert later.content.endswith("Its family tree is no longer kept: it went with its breed.")


async def test_a_generations_clips_the_folder_let_go_are_rendered_again_for_its_post(
    world: World, media_worker: Worker, bot_settings: BotSettings,
) -> None:
    breed = await start_breed(world)
    emptied(bot_settings.media_folder, breed.breed_id, 0)
    service = world.env.bot.service

    files = await service.results.files(breed.breed_id, 0, ["clip-1.ogg", "clip-4.ogg", "roll.png"])

    assert files.missing == ()
    assert [name for name, _data in files.found] == ["clip-1.ogg", "clip-4.ogg", "roll.png"]
    assert all(data.startswith((b"OggS", b"\x89PNG")) for _name, data in files.found)
