"""The media store: a folder that evicts the least recently used past its bound, an S3 bucket (a real
S3-compatible server: moto's server mode), and the breed store putting audio and images there, not in Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from domain.model import Winner
from storage import BreedStore, keys
from storage.gallery import winner_file_key
from storage.media import DiskMedia, MediaObservers, S3Media, is_media, media_key, open_media
from storage.requests import file_key
from tests.storage.factories import make_breed, make_generation, make_latents
from tests.support.waiting import wait_for_sync

KB = 1024
MB = 1024 * KB


def _age(path: Path, seconds_ago: float) -> None:
    """Say a file was last used `seconds_ago`: eviction goes by the time of last use, not by the order of calls."""
    at = time.time() - seconds_ago
    os.utime(path, (at, at))


async def test_the_folder_evicts_the_least_recently_used_file_past_its_bound(tmp_path: Path) -> None:
    media = DiskMedia(tmp_path, max_bytes=3 * KB)
    for age, name in ((30, "a"), (20, "b"), (10, "c")):
        await media.put(f"breed/x/0/{name}.ogg", bytes(KB))
        _age(tmp_path / f"breed/x/0/{name}.ogg", age)

    await media.put("breed/x/0/d.ogg", bytes(KB))

    assert await media.get("breed/x/0/a.ogg") is None
    assert [await media.exists(f"breed/x/0/{name}.ogg") for name in "bcd"] == [True, True, True]
    assert await media.size() == 3 * KB


async def test_a_read_makes_a_file_recent_so_the_next_oldest_goes(tmp_path: Path) -> None:
    media = DiskMedia(tmp_path, max_bytes=3 * KB)
    for age, name in ((30, "a"), (20, "b"), (10, "c")):
        await media.put(f"tune/t1/{name}.png", bytes([len(name)]) * KB)
        _age(tmp_path / f"tune/t1/{name}.png", age)

    assert await media.get("tune/t1/a.png") == bytes([1]) * KB
    await media.put("tune/t1/d.png", bytes(KB))

    assert await media.exists("tune/t1/a.png")
    assert not await media.exists("tune/t1/b.png")


async def test_files_written_by_another_process_count_towards_the_bound(tmp_path: Path) -> None:
    one, other = DiskMedia(tmp_path, max_bytes=2 * KB), DiskMedia(tmp_path, max_bytes=2 * KB)
    await one.put("breed/x/0/a.ogg", bytes(KB))
    _age(tmp_path / "breed/x/0/a.ogg", 60)
    await other.put("breed/x/0/b.ogg", bytes(KB))
    await other.put("breed/x/0/c.ogg", bytes(KB))

    assert await other.size() <= 2 * KB
    assert not await one.exists("breed/x/0/a.ogg")


async def test_a_write_is_whole_or_absent_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    media = DiskMedia(tmp_path, max_bytes=10 * KB)
    await media.put("breed/x/0/clip-1.ogg", b"first")
    await media.put("breed/x/0/clip-1.ogg", b"second")
    assert await media.get("breed/x/0/clip-1.ogg") == b"second"
    assert sorted(path.name for path in (tmp_path / "breed/x/0").iterdir()) == ["clip-1.ogg"]
    await media.delete("breed/x/0/clip-1.ogg")
    assert await media.get("breed/x/0/clip-1.ogg") is None
    await media.delete("breed/x/0/clip-1.ogg")  # gone already: nothing to do


async def test_the_size_is_told_to_its_observers(tmp_path: Path) -> None:
    sizes: list[int] = []
    media = DiskMedia(tmp_path, max_bytes=10 * KB, observers=MediaObservers(sized=[sizes.append]))
    await media.put("breed/x/0/a.png", bytes(KB))
    await media.put("breed/x/0/b.png", bytes(2 * KB))
    await media.delete("breed/x/0/a.png")
    assert sizes == [KB, 3 * KB, 2 * KB]


@pytest.mark.parametrize("key", ["../etc/passwd", "breed/../x", "/abs", "breed//x", "breed/x y", ""])
async def test_a_key_that_could_leave_the_folder_is_refused(tmp_path: Path, key: str) -> None:
    media = DiskMedia(tmp_path, max_bytes=KB)
    with pytest.raises(ValueError, match="not a media key part"):
        await media.put(key, b"x")
    assert list(tmp_path.iterdir()) == []


def test_audio_and_images_are_media_and_midi_files_are_not() -> None:
    assert [is_media(name) for name in ("clip-1.ogg", "roll.png", "lineage.png", "winner.mid", "tune.mid")] == [
        True, True, True, False, False]
    assert media_key("breed", "ab12cd34", 3, "clip-1.ogg") == "breed/ab12cd34/3/clip-1.ogg"


def test_the_media_url_chooses_the_store_and_a_wrong_one_is_refused(tmp_path: Path) -> None:
    assert isinstance(open_media(None, tmp_path, 1), DiskMedia)
    bucket = open_media("s3://media/melody", tmp_path, 1, access_key_id="id-not-shown",
                        secret_access_key="secret-not-shown")
    assert isinstance(bucket, S3Media)
    assert (bucket.bucket, bucket.prefix) == ("media", "melody")
    assert "secret-not-shown" not in repr(bucket)
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        open_media("http://media/melody", tmp_path, 1)


# --- the breed store with a media store -----------------------------------------------------------------


async def test_a_generations_audio_and_image_go_to_the_folder_and_its_midi_files_to_redis(
    redis_client: Redis, tmp_path: Path
) -> None:
    store = BreedStore(redis_client, media=DiskMedia(tmp_path, max_bytes=10 * 1024 * KB))
    await store.breeds.create(make_breed("b1"))
    files = {"clip-1.ogg": b"OggS1", "clip-1.mid": b"MThd1", "roll.png": b"\x89PNG"}
    await store.breeds.write_generation(make_generation("b1", 0), make_latents(), files)
    await store.breeds.add_artifacts("b1", 0, {"winner.ogg": b"OggSw", "winner.mid": b"MThdw"}, keep=True)
    await store.tunes.add_files("t1", {"tune.ogg": b"OggSt", "tune.mid": b"MThdt"})

    for name in ("clip-1.ogg", "roll.png", "winner.ogg"):
        assert not await redis_client.exists(keys.artifact("b1", 0, name))
        assert (tmp_path / "breed/b1/0" / name).is_file()
    assert await redis_client.get(keys.artifact("b1", 0, "clip-1.mid")) == b"MThd1"
    assert not await redis_client.exists(file_key("tune", "t1", "tune.ogg"))
    assert await store.breeds.get_artifact("b1", 0, "clip-1.ogg") == b"OggS1"
    assert await store.breeds.get_artifact("b1", 0, "clip-1.mid") == b"MThd1"
    assert await store.tunes.file("t1", "tune.ogg") == b"OggSt"

    (tmp_path / "breed/b1/0/clip-1.ogg").unlink()  # evicted
    assert await store.breeds.get_artifact("b1", 0, "clip-1.ogg") is None


async def test_media_an_older_version_kept_in_redis_are_read_and_copied_to_the_media_store(
    redis_client: Redis, tmp_path: Path
) -> None:
    await redis_client.set(keys.artifact("b1", 0, "clip-2.ogg"), b"OggS-old")
    await redis_client.set(keys.artifact("b1", 0, "winner.png"), b"\x89PNG-old")
    await redis_client.set(winner_file_key("b1-g1-1", "tune.ogg"), b"OggS-tune")  # an even older copy
    await redis_client.set(keys.artifact("b1", 0, "winner.mid"), b"MThd")
    store = BreedStore(redis_client, media=DiskMedia(tmp_path, max_bytes=KB))
    winner = Winner("b1-g1-1", "b1", 9, 1, 0, 0, 1.0)

    assert await store.breeds.get_artifact("b1", 0, "clip-2.ogg") == b"OggS-old"
    assert await store.gallery.file(winner, "winner.png") == b"\x89PNG-old"
    assert await store.gallery.file(winner, "tune.ogg") == b"OggS-tune"
    assert await store.gallery.file(winner, "winner.mid") == b"MThd"

    assert (tmp_path / "breed/b1/0/clip-2.ogg").read_bytes() == b"OggS-old"
    assert (tmp_path / "breed/b1/0/tune.ogg").read_bytes() == b"OggS-tune"
    assert not (tmp_path / "breed/b1/0/winner.mid").exists()  # MIDI files stay in Redis only
    # Read from the media store from now on: the Redis copies are the operator's to drop (deploy/SCALING.md).
    await redis_client.delete(keys.artifact("b1", 0, "clip-2.ogg"), winner_file_key("b1-g1-1", "tune.ogg"))
    assert await store.breeds.get_artifact("b1", 0, "clip-2.ogg") == b"OggS-old"
    assert await store.gallery.file(winner, "tune.ogg") == b"OggS-tune"


# --- S3: a real S3-compatible server ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3-compatible server on a free port of this machine, for this module."""
    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_sync(lambda: server.poll() is None and _answers(f"{url}/moto-api/"), timeout=60,
                      what="moto's S3 server")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture
async def bucket(s3_endpoint: str) -> AsyncIterator[S3Media]:
    media = open_media("s3://melody-media/breeder", Path("unused"), 1, endpoint_url=s3_endpoint,
                       region="us-east-1", access_key_id="testing", secret_access_key="testing")
    assert isinstance(media, S3Media)
    s3 = await media._s3()
    try:
        await s3.create_bucket(Bucket="melody-media")
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    yield media
    await media.close()


async def test_the_bucket_round_trips_a_file(bucket: S3Media) -> None:
    key = media_key("breed", "s3breed1", 0, "clip-1.ogg")
    assert await bucket.get(key) is None
    assert not await bucket.exists(key)

    await bucket.put(key, b"OggS" + bytes(range(256)))

    assert await bucket.get(key) == b"OggS" + bytes(range(256))
    assert await bucket.exists(key)
    assert await bucket.size() >= 260
    await bucket.delete(key)
    assert await bucket.get(key) is None


async def test_the_breed_store_keeps_its_media_in_the_bucket(redis_client: Redis, bucket: S3Media) -> None:
    store = BreedStore(redis_client, media=bucket)
    await store.breeds.create(make_breed("s3b2"))
    await store.breeds.write_generation(make_generation("s3b2", 0), make_latents(),
                                        {"clip-1.ogg": b"OggS-s3", "clip-1.mid": b"MThd"})
    assert not await redis_client.exists(keys.artifact("s3b2", 0, "clip-1.ogg"))
    assert await bucket.get("breed/s3b2/0/clip-1.ogg") == b"OggS-s3"
    assert await store.breeds.get_artifact("s3b2", 0, "clip-1.ogg") == b"OggS-s3"


# --- the settings that choose the media store -------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://bucket/x", "s3://", "s3:///prefix", "bucket/prefix"])
def test_a_media_url_that_names_no_bucket_stops_the_process_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str,
) -> None:
    from runtime.settings import WorkerSettings, load

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDIA_URL", url)
    with pytest.raises(SystemExit) as stopped:
        load(WorkerSettings)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == "breeder: setting MEDIA_URL: must be s3://bucket/prefix"


def test_the_folder_is_under_the_data_dir_unless_named_and_the_secrets_are_not_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    from runtime.settings import WorkerSettings
    from storage.media import media_of

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-not-shown")
    settings = WorkerSettings()
    assert settings.media_folder == tmp_path / "data" / "media"
    assert "secret-not-shown" not in repr(settings)
    media = media_of(settings)
    assert isinstance(media, DiskMedia) and (media.root, media.max_bytes) == (tmp_path / "data" / "media", 2048 * MB)
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("MEDIA_URL", "s3://melody/media")
    assert WorkerSettings().media_folder == tmp_path / "elsewhere"
    assert isinstance(media_of(WorkerSettings()), S3Media)
