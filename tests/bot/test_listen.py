"""/breed listen on SimCord: the real cog and controller, the real worker's clips, a double for the voice servers."""

from __future__ import annotations

import pytest

from bot import texts
from domain.model import Breed
from runtime.settings import BotSettings
from tests.bot.flows import start_breed, vote_message
from tests.bot.simulation import World, answer_of
from tests.bot.voice_double import VoiceDouble

pytestmark = pytest.mark.slow


@pytest.fixture
def bot_settings(bot_settings: BotSettings) -> BotSettings:
    """No gap between clips: each clip starts as the one before ends (the gap is a plain timer)."""
    return bot_settings.model_copy(update={"listen_gap_s": 0.0})


@pytest.fixture
def voice(world: World) -> VoiceDouble:
    double = VoiceDouble(world.env)
    cog = world.bot.get_cog("Listen")
    assert cog is not None  # bot.cogs.listen as the bot loaded it (an extension is its own module object)
    cog.connect = double.connect  # type: ignore[attr-defined]
    return double


def listen_messages(world: World, breed: Breed) -> list[str]:
    return [m.content for m in world.thread_of(breed).history()
            if m.author.bot and m.content.startswith(("🔊", "🔇"))]


async def test_listen_plays_the_round_in_order_and_keeps_one_message_up_to_date(
    world: World, worker, voice: VoiceDouble
) -> None:
    breed = await start_breed(world)
    room = world.guild.create_voice_channel("Listening room")
    bea = world.voters[0]
    await bea.join_voice(room)

    answer = answer_of(await bea.slash(world.thread_of(breed), "breed listen"))

    assert answer == texts.listen_started_answer(room.id, breed.breed_id)
    assert voice.log[0] == ("connect", room.id)
    for number in range(1, 5):
        playing = voice.playing()
        assert playing is not None and playing.name == f"clip-{number}.ogg"
        assert playing.audio == await world.store.breeds.get_artifact(breed.breed_id, 0, playing.name)
        assert listen_messages(world, breed) == [texts.listen_playing_text(room.id, "Generation 1", number, 4)]
        await voice.end_clip()
    assert voice.played() == ["clip-1.ogg", "clip-2.ogg", "clip-3.ogg", "clip-4.ogg"]
    assert voice.playing() is None and [c.channel_id for c in voice.connected()] == [room.id]
    assert listen_messages(world, breed) == [texts.listen_done_text(room.id, "Generation 1", 4)]
    vote_message(world, breed, 0)  # the round's post is as it was
