"""/breed listen on SimCord: the real cog and controller, the real worker's clips, a double for the voice servers."""

from __future__ import annotations

import io
import shutil
import threading

import discord
import pytest
from discord.oggparse import OggStream
from simcord import ChannelHandle
from simcord.backend.models import Overwrite
from simcord.enums import ChannelType, OverwriteType

from bot import texts
from bot.voice import Clip, DiscordVoice, VoiceDropped
from domain.model import Breed, Note
from engine.render import Renderer
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
    cog.connect = double.connect
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
    assert "breed listen" in bea.available_commands(world.thread_of(breed))  # synced with the breed group

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


async def listening(world: World, voice: VoiceDouble, breed: Breed, room_name: str = "Listening room"):
    """A voter in a new voice channel asks the bot to listen there; returns the voter and the channel."""
    room = world.guild.create_voice_channel(room_name)
    bea = world.voters[0]
    await bea.join_voice(room)
    answer = answer_of(await bea.slash(world.thread_of(breed), "breed listen"))
    assert answer == texts.listen_started_answer(room.id, breed.breed_id)
    return bea, room


async def test_a_gap_of_silence_separates_two_clips(world: World, worker, voice: VoiceDouble) -> None:
    world.bot.settings.listen_gap_s = 5.0
    breed = await start_breed(world)
    await listening(world, voice, breed)
    await voice.end_clip()

    assert voice.playing() is None
    await world.env.advance_time(4)
    assert voice.playing() is None
    await world.env.advance_time(1.5)
    assert voice.playing().name == "clip-2.ogg"


async def test_the_next_generation_stops_the_round_and_plays_from_its_first_clip(
    world: World, worker, voice: VoiceDouble
) -> None:
    breed = await start_breed(world)
    _bea, room = await listening(world, voice, breed)
    await voice.end_clip()
    assert voice.playing().name == "clip-2.ogg"

    await world.starter.click(vote_message(world, breed, 0), label="Next")
    await world.wait_for_status(breed.breed_id, "voting", 1)
    await world.wait_for(lambda: _true(voice.played() == ["clip-1.ogg", "clip-2.ogg", "clip-1.ogg"]),
                         "the second generation's first clip")

    assert [entry[:2] for entry in voice.log[3:6]] == [("play", "clip-2.ogg"), ("stop", "clip-2.ogg"),
                                                       ("play", "clip-1.ogg")]
    assert voice.log[5][2] == await world.store.breeds.get_artifact(breed.breed_id, 1, "clip-1.ogg")
    assert listen_messages(world, breed) == [texts.listen_playing_text(room.id, "Generation 2", 1, 4)]
    assert len(voice.connections) == 1  # the same connection plays on


async def test_at_the_finish_it_plays_the_winner_and_the_tune_then_leaves(
    world: World, worker, voice: VoiceDouble
) -> None:
    breed = await start_breed(world)
    _bea, room = await listening(world, voice, breed)

    await world.starter.slash(world.thread_of(breed), "breed finish", candidate=2)
    await world.wait_for(lambda: _true(voice.playing() is not None and voice.playing().name == "winner.ogg"),
                         "the winner playing")
    finished = await world.store.breeds.get(breed.breed_id)
    assert finished.status == "finished"
    assert voice.playing().audio == await world.store.breeds.get_artifact(breed.breed_id, 0, "winner.ogg")
    assert listen_messages(world, breed) == [
        texts.listen_playing_text(room.id, "The winner, then its tune", 1, 2)]
    await voice.end_clip()
    assert voice.playing().name == "tune.ogg"
    await voice.end_clip()

    assert voice.played()[-2:] == ["winner.ogg", "tune.ogg"] and voice.log[-1] == ("disconnect", room.id)
    assert voice.connected() == []
    assert listen_messages(world, breed) == [texts.listen_left_text(room.id, "the breed is finished")]


async def test_it_leaves_when_its_channel_has_been_empty_for_a_minute(world: World, worker, voice: VoiceDouble) -> None:
    breed = await start_breed(world)
    bea, room = await listening(world, voice, breed)
    await bea.leave_voice()

    await world.env.advance_time(50)
    await bea.join_voice(room)  # back in time: the minute starts again when the channel empties again
    await bea.leave_voice()
    await world.env.advance_time(50)
    assert [c.channel_id for c in voice.connected()] == [room.id]
    await world.env.advance_time(15)

    assert voice.connected() == [] and voice.log[-2:] == [("stop", "clip-1.ogg"), ("disconnect", room.id)]
    assert listen_messages(world, breed) == [texts.listen_left_text(room.id, "nobody listened for 60 s")]


async def test_stop_leaves_and_stopping_the_breed_leaves(world: World, worker, voice: VoiceDouble) -> None:
    breed = await start_breed(world)
    bea, room = await listening(world, voice, breed)
    answer = answer_of(await bea.slash(world.thread_of(breed), "breed listen", action="stop"))
    assert answer == f"I left <#{room.id}>." and voice.connected() == []
    assert listen_messages(world, breed) == [texts.listen_left_text(room.id, "asked to stop")]
    assert answer_of(await bea.slash(world.thread_of(breed), "breed listen", action="stop")) == (
        "I am not in a voice channel on this server.")

    answer = answer_of(await bea.slash(world.thread_of(breed), "breed listen"))
    assert answer == texts.listen_started_answer(room.id, breed.breed_id) and len(voice.connected()) == 1
    await world.starter.slash(world.thread_of(breed), "breed stop")
    assert voice.connected() == [] and voice.log[-1] == ("disconnect", room.id)
    assert texts.listen_left_text(room.id, "the breed ended") in listen_messages(world, breed)
    answer = answer_of(await bea.slash(world.thread_of(breed), "breed listen"))
    assert answer == f"Breed `{breed.breed_id}` has ended: there is nothing more to play."
    assert world.refusals() == ["I am not in a voice channel on this server.", answer]


async def test_a_dropped_voice_connection_is_joined_again_and_the_clip_played_again(
    world: World, worker, voice: VoiceDouble
) -> None:
    breed = await start_breed(world)
    _bea, room = await listening(world, voice, breed)
    await voice.end_clip()
    assert await voice.end_clip("drop") == "clip-2.ogg"

    assert [entry[:2] for entry in voice.log] == [
        ("connect", room.id), ("play", "clip-1.ogg"), ("end", "clip-1.ogg"), ("play", "clip-2.ogg"),
        ("drop", "clip-2.ogg"), ("connect", room.id), ("play", "clip-2.ogg")]
    assert len(voice.connected()) == 1


async def test_refusals_not_in_voice_a_stage_missing_permissions_and_a_second_breed_in_the_server(
    world: World, worker, voice: VoiceDouble
) -> None:
    breed = await start_breed(world)
    thread = world.thread_of(breed)
    cy = world.voters[1]
    bot_user = world.env.bot.user

    not_in_voice = answer_of(await cy.slash(thread, "breed listen"))
    assert not_in_voice == "Join a voice channel first, or name one with `channel:`."
    stage = world.guild.create_stage_channel("Stage")
    await cy.join_voice(stage)
    assert answer_of(await cy.slash(thread, "breed listen")) == (
        f"<#{stage.id}> is a stage channel: I play in voice channels only.")
    mute = Overwrite(target_id=bot_user.id, type=OverwriteType.MEMBER, allow=0,
                     deny=discord.Permissions(speak=True).value)
    locked = ChannelHandle(world.env, world.guild, world.env.backend.create_channel(
        world.guild.id, "No speaking", type=ChannelType.VOICE, overwrites=[mute]))
    await world.env.settle()
    assert answer_of(await cy.slash(thread, "breed listen", channel=locked)) == (
        f"I need the Speak permission in <#{locked.id}>.")
    assert voice.log == [] and len(world.refusals()) == 3

    # One voice connection per server: another breed's listen is refused while the first plays.
    other = await start_breed(world)
    _bea, room = await listening(world, voice, breed)
    answer = answer_of(await cy.slash(world.thread_of(other), "breed listen", channel=room))
    assert answer == texts.listen_busy_text(breed.breed_id, room.id)
    assert [entry[0] for entry in voice.log] == ["connect", "play"]
    assert listen_messages(world, other) == []
    assert world.refusals() == [answer]


async def _true(value: bool) -> bool:
    return value


# --- the clips as ffmpeg streams them (the real adapter, fed to a recording VoiceClient) ---------------

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (make installs it)")
SCALE = [Note(60 + offset, 4 * i, 4 * i + 3) for i, offset in enumerate((0, 2, 4, 5, 7, 9, 11, 12))]


class RecordingVoiceClient:
    """Takes the place of discord.py's VoiceClient under bot.voice.DiscordVoice: plays a source by reading
    every packet on a thread, as discord.py's player does, and keeps them."""

    def __init__(self, *, drops: bool = False) -> None:
        self.packets: list[bytes] = []
        self.drops = drops
        self.connected = True

    def is_connected(self) -> bool:
        return self.connected

    def play(self, source: discord.AudioSource, *, after) -> None:
        def run() -> None:
            while packet := source.read():
                self.packets.append(packet)
            source.cleanup()
            self.connected = not self.drops
            after(None)

        threading.Thread(target=run, daemon=True).start()


def ogg_packets(audio: bytes) -> list[bytes]:
    return list(OggStream(io.BytesIO(audio)).iter_packets())


@pytest.fixture(scope="module")
def rendered_clip() -> bytes:
    (clip,) = Renderer().render_clips([SCALE], tempo=120, instrument=0)
    return clip


@pytest.fixture(scope="module")
def vorbis_clip() -> bytes:
    """A clip as workers encoded them before Opus (Ogg Vorbis, 44.1 kHz): such clips are still stored."""
    (clip,) = Renderer(sample_rate=44100, audio_format="vorbis").render_clips([SCALE], tempo=120, instrument=0)
    return clip


@needs_ffmpeg
async def test_a_clip_the_worker_renders_is_opus_and_is_played_packet_for_packet_without_transcoding(
    rendered_clip: bytes,
) -> None:
    assert ogg_packets(rendered_clip)[0].startswith(b"OpusHead")
    client = RecordingVoiceClient()

    await DiscordVoice(client).play(Clip("clip-1.ogg", rendered_clip))

    played, written = client.packets, ogg_packets(rendered_clip)
    assert played[0] == written[0] and played[0].startswith(b"OpusHead")
    assert played[2:] == written[2:] and len(played) > 100  # every audio packet as it is in the file


@needs_ffmpeg
async def test_a_vorbis_clip_stored_before_opus_is_encoded_to_opus_on_the_way(vorbis_clip: bytes) -> None:
    assert ogg_packets(vorbis_clip)[0].startswith(b"\x01vorbis")
    client = RecordingVoiceClient()

    await DiscordVoice(client).play(Clip("clip-1.ogg", vorbis_clip))

    assert client.packets[0].startswith(b"OpusHead") and len(client.packets) > 100


@needs_ffmpeg
async def test_the_adapter_says_so_when_the_connection_did_not_come_back_during_a_clip(rendered_clip: bytes) -> None:
    with pytest.raises(VoiceDropped):
        await DiscordVoice(RecordingVoiceClient(drops=True)).play(Clip("clip-1.ogg", rendered_clip))
