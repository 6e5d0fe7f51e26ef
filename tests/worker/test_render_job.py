"""Files the media store let go, rendered again by the real worker (real model, real FluidSynth) from what Redis
keeps; and Redis keeping no audio or image after a breed."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import soundfile
from redis.asyncio import Redis

from domain import artifacts
from domain.jobs import FinishJob, MediaOwner, RenderJob, TuneJob
from domain.model import TuneRequest, Winner
from domain.tune import Backing
from service.breeding import BreedingService
from service.media import GONE, LATE
from storage import BreedStore, codec, connect
from storage.breeds import breed_key, generation_key, latents_key
from storage.codec import SchemaError
from storage.media import MediaObservers
from tests.support.media import folder_media
from tests.support.worker_jobs import do_next_job, running, started_breed, worker_process
from worker.runner import Worker

pytestmark = pytest.mark.slow


@pytest.fixture
def rerendered() -> list[int]:
    return []


@pytest.fixture
async def media_store(redis_client: Redis, media_folder: Path, rerendered: list[int]) -> BreedStore:
    """The worker's store: media in a folder, the rest in the session's Redis."""
    store = BreedStore(redis_client, media=folder_media(media_folder, MediaObservers(rerendered=[rerendered.append])))
    await store.streams.ensure_groups()
    return store


@pytest.fixture
def media_worker(media_store: BreedStore, melody_model, renderer) -> Worker:
    return Worker(media_store, melody_model, renderer, "test-worker", job_timeout_s=30.0, block_ms=50)


@pytest.fixture
async def service(redis_url: str, media_folder: Path) -> AsyncIterator[BreedingService]:
    """The breeding service of another process on the same host: its own connection, the same folder."""
    service = BreedingService(BreedStore(connect(redis_url), media=folder_media(media_folder)), time.time)
    yield service
    await service.close()


async def no_media_in_redis(redis_client: Redis) -> list[str]:
    """Keys whose value is audio (Ogg) or an image (PNG)."""
    found = []
    async for key in redis_client.scan_iter(count=500):
        if await redis_client.type(key) != b"string":
            continue
        value = await redis_client.get(key)
        if value is not None and value.startswith((b"OggS", b"\x89PNG", b"RIFF")):
            found.append(key.decode())
    return found


def evict(media_folder: Path, breed_id: str, number: int, *names: str) -> None:
    for name in names:
        (media_folder / "breed" / breed_id / str(number) / name).unlink()


def seconds_of(ogg: bytes) -> float:
    audio, rate = soundfile.read(io.BytesIO(ogg))
    return len(audio) / rate


async def test_an_evicted_clip_and_roll_are_rendered_again_as_they_were(
    media_store: BreedStore, media_worker: Worker, service: BreedingService, media_folder: Path, rerendered: list[int],
) -> None:
    breed = await started_breed(media_store, media_worker, population=4, foreign=1)
    first_clip = await media_store.breeds.get_artifact(breed.breed_id, 0, "clip-2.ogg")
    first_roll = await media_store.breeds.get_artifact(breed.breed_id, 0, artifacts.ROLL_PNG)
    assert first_clip.startswith(b"OggS") and first_roll.startswith(b"\x89PNG")
    evict(media_folder, breed.breed_id, 0, "clip-2.ogg", artifacts.ROLL_PNG)
    assert await media_store.breeds.get_artifact(breed.breed_id, 0, "clip-2.ogg") is None

    async with running(media_worker):
        fetched = await service.media.breed_file(breed.breed_id, 0, "clip-2.ogg")
        posted = await service.results.files(breed.breed_id, 0, artifacts.generation_files(4))

    assert fetched.data is not None and fetched.line == ""
    assert abs(seconds_of(fetched.data) - seconds_of(first_clip)) < 0.05
    assert dict(posted.found)[artifacts.ROLL_PNG] == first_roll
    assert posted.missing == ()
    assert sum(rerendered) == 2


async def test_a_winners_files_come_back_from_its_breed_and_after_it_from_the_gallerys_midi(
    media_store: BreedStore, media_worker: Worker, service: BreedingService, media_folder: Path, redis_client: Redis,
) -> None:
    breed = await started_breed(media_store, media_worker, population=4, foreign=1)
    await media_store.streams.jobs.enqueue_job(FinishJob(breed.breed_id, 0, 1))
    await do_next_job(media_store, media_worker)
    await media_store.breeds.update(breed.breed_id, status="finished", winner=1, winner_generation=0)
    winner = Winner(f"{breed.breed_id}-g1-2", breed.breed_id, 9, 1, 0, 1, time.time())
    await media_store.gallery.keep(winner)
    media = (artifacts.WINNER_AUDIO, artifacts.WINNER_PNG, artifacts.LINEAGE_PNG, artifacts.TUNE_AUDIO,
             artifacts.TUNE_PNG)
    first = {name: await media_store.gallery.file(winner, name) for name in media}
    assert all(data is not None for data in first.values())
    assert await no_media_in_redis(redis_client) == []

    evict(media_folder, breed.breed_id, 0, *media)
    async with running(media_worker):
        kept = await service.gallery.play(winner.melody_id, 9)
    again = dict(kept.files)
    assert set(again) == set(artifacts.WINNER_FILES)
    assert again[artifacts.WINNER_PNG] == first[artifacts.WINNER_PNG]
    assert again[artifacts.TUNE_PNG] == first[artifacts.TUNE_PNG]
    assert abs(seconds_of(again[artifacts.TUNE_AUDIO]) - seconds_of(first[artifacts.TUNE_AUDIO])) < 0.05

    # The breed expires (BREED_RETENTION_DAYS); the gallery keeps its record, winner.mid and tune.mid.
    await redis_client.delete(breed_key(breed.breed_id), generation_key(breed.breed_id, 0),
                              latents_key(breed.breed_id, 0))
    evict(media_folder, breed.breed_id, 0, *media)
    await media_store.streams.jobs.enqueue_job(RenderJob(breed.breed_id, media, generation=0, candidate=1))
    await do_next_job(media_store, media_worker)
    later = {name: await media_store.gallery.file(winner, name) for name in media}
    assert later[artifacts.WINNER_PNG] == first[artifacts.WINNER_PNG]
    assert later[artifacts.WINNER_AUDIO] is not None and later[artifacts.TUNE_AUDIO] is not None
    assert later[artifacts.TUNE_PNG] is not None and later[artifacts.TUNE_PNG].startswith(b"\x89PNG")
    assert later[artifacts.LINEAGE_PNG] is None  # the lineage went with the breed

    played = await service.gallery.play(winner.melody_id, 9)
    assert [name for name, _data in played.files] == [name for name in artifacts.WINNER_FILES
                                                      if name != artifacts.LINEAGE_PNG]


async def test_a_tunes_audio_comes_back_from_its_kept_midi(
    media_store: BreedStore, media_worker: Worker, service: BreedingService, media_folder: Path,
) -> None:
    breed = await started_breed(media_store, media_worker, population=4, foreign=1)
    await media_store.tunes.create(TuneRequest("tune0001", f"{breed.breed_id}-g1-1", breed.breed_id, 8, "none",
                                                 front="discord"))
    await media_store.streams.jobs.enqueue_job(TuneJob("tune0001", f"{breed.breed_id}-g1-1", 8, Backing.NONE))
    await do_next_job(media_store, media_worker)
    first = {name: await media_store.tunes.file("tune0001", name) for name in artifacts.TUNE_FILES}
    for name in (artifacts.TUNE_AUDIO, artifacts.TUNE_PNG):
        (media_folder / "tune" / "tune0001" / name).unlink()

    async with running(media_worker):
        files = await service.tunes.files("tune0001")

    again = dict(files.found)
    assert files.missing == ()
    assert again[artifacts.TUNE_MID] == first[artifacts.TUNE_MID]
    assert again[artifacts.TUNE_PNG] == first[artifacts.TUNE_PNG]
    assert abs(seconds_of(again[artifacts.TUNE_AUDIO]) - seconds_of(first[artifacts.TUNE_AUDIO])) < 0.05


async def test_without_a_worker_the_front_end_waits_a_bounded_time_and_says_so_in_one_line(
    media_store: BreedStore, media_worker: Worker, service: BreedingService, media_folder: Path,
) -> None:
    breed = await started_breed(media_store, media_worker, population=4, foreign=1)
    evict(media_folder, breed.breed_id, 0, "clip-1.ogg")
    service.media.wait_s = 0.5

    fetched = await service.media.breed_file(breed.breed_id, 0, "clip-1.ogg")
    again = await service.media.breed_file(breed.breed_id, 0, "clip-1.ogg")

    assert (fetched.data, fetched.line) == (None, LATE) and again.line == LATE
    queued = [job for job in await media_store.streams.jobs.jobs_in_flight() if isinstance(job, RenderJob)]
    assert queued == [RenderJob(breed.breed_id, ("clip-1.ogg",), generation=0, candidate=None)]  # asked once
    gone = await service.media.breed_file("nobreed1", 0, "clip-1.ogg")
    assert (gone.data, gone.line) == (None, GONE)


def test_a_render_job_is_read_once_at_the_edge() -> None:
    job = RenderJob("t1", ("tune.ogg", "tune.png"), owner=MediaOwner.TUNE)
    assert codec.load_job(codec.dump_job(job)) == job
    for bad in ('{"v":1,"type":"render","breed_id":"b","generation":0,"names":[]}',
                '{"v":1,"type":"render","breed_id":"b","generation":0,"names":["a.ogg"],"owner":"server"}',
                '{"v":1,"type":"render","breed_id":"b","generation":0,"names":[3]}'):
        with pytest.raises(SchemaError, match="a render job needs"):
            codec.load_job(bad)


async def test_a_file_not_made_yet_is_left_to_its_job_and_answered_at_once(
    media_store: BreedStore, media_worker: Worker, service: BreedingService,
) -> None:
    breed = await started_breed(media_store, media_worker, population=4, foreign=1)
    await media_store.breeds.update(breed.breed_id, status="finished", winner=1, winner_generation=0)
    service.media.wait_s = 30.0  # it must not wait: the finish job makes these files

    fetched = await service.media.breed_file(breed.breed_id, 0, artifacts.WINNER_AUDIO)
    other = await service.media.breed_file(breed.breed_id, 0, "morph-1-2.ogg")

    assert (fetched.data, fetched.line) == (None, GONE) and other.line == GONE
    assert not [job for job in await media_store.streams.jobs.jobs_in_flight() if isinstance(job, RenderJob)]


async def test_a_finished_breeds_tune_roll_comes_back_from_its_midi_once_its_latents_went(
    media_store: BreedStore, media_worker: Worker, media_folder: Path, redis_client: Redis,
) -> None:
    breed = await started_breed(media_store, media_worker, population=4, foreign=1)
    await media_store.streams.jobs.enqueue_job(FinishJob(breed.breed_id, 0, 2))
    await do_next_job(media_store, media_worker)
    await media_store.breeds.update(breed.breed_id, status="finished", winner=2, winner_generation=0)
    await redis_client.delete(latents_key(breed.breed_id, 0))  # ENDED_LATENTS_S passed
    evict(media_folder, breed.breed_id, 0, artifacts.TUNE_PNG, artifacts.WINNER_AUDIO)

    await media_store.streams.jobs.enqueue_job(
        RenderJob(breed.breed_id, (artifacts.TUNE_PNG, artifacts.WINNER_AUDIO), generation=0, candidate=2))
    await do_next_job(media_store, media_worker)

    roll = await media_store.breeds.get_artifact(breed.breed_id, 0, artifacts.TUNE_PNG)
    audio = await media_store.breeds.get_artifact(breed.breed_id, 0, artifacts.WINNER_AUDIO)
    assert roll is not None and roll.startswith(b"\x89PNG") and audio is not None and audio.startswith(b"OggS")


def test_a_worker_whose_media_folder_cannot_be_written_stops_with_one_line(redis_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder")
    process = worker_process(redis_url, "w-media", MEDIA_DIR=str(blocker / "media"), METRICS_PORT="0")
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2
    assert f"breeder worker: setting MEDIA_DIR: cannot write to {blocker / 'media'}" in output.decode()
