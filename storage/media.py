"""Rendered media (audio clips, images) outside Redis: a size-bound folder on disk, or an S3-compatible bucket.

Redis holds the state that cannot be made again (breeds, melodies, latents, votes, MIDI files); audio and
images can be rendered again from it (a `render` job), so they live here, behind one small interface:
`get`, `put`, `delete`, `exists`, `size`. A key is a relative path of safe segments ("breed/ab12cd34/3/clip-1.ogg").

`DiskMedia` keeps files under a folder and evicts the least recently used past its bound (a read makes a
file recent). Several processes on one host may share the folder: a file is written to a temporary name
and renamed into place, so a reader sees all of it or nothing; each process keeps its own running total
and looks at the whole folder again when that total passes the bound, so the bound holds only roughly
while several processes write at once (by about the files written between two looks).

`S3Media` keeps files in a bucket (aiobotocore); it never evicts: the bucket's lifecycle rule does (an
expiration after N days, see deploy/SCALING.md), and a file it removed is rendered again when asked for.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import re
import secrets
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

if TYPE_CHECKING:
    from runtime.settings import CommonSettings

log = logging.getLogger(__name__)

# The files that go to the media store; everything else a worker makes (MIDI files, records) stays in Redis.
MEDIA_SUFFIXES = (".ogg", ".wav", ".png")
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TEMP_PREFIX = ".part-"


def is_media(name: str) -> bool:
    """Whether a file of this name is rendered media (kept in the media store, not in Redis)."""
    return name.endswith(MEDIA_SUFFIXES)


def media_key(*parts: str | int) -> str:
    """The key of a file from its parts ("breed", breed id, generation, name); ValueError for an unsafe part."""
    segments = [str(part) for part in parts]
    for segment in segments:
        if not _SEGMENT.fullmatch(segment) or ".." in segment:
            raise ValueError(f"not a media key part: {segment!r}")
    return "/".join(segments)


def _check_key(key: str) -> str:
    media_key(*key.split("/"))
    return key


async def copy_in(media: MediaStore, key: str, data: bytes) -> None:
    """Put a file an older version kept in Redis into the media store, where the next read finds it. The Redis
    copy stays (a process without a media store may still read it; deploy/SCALING.md says how to drop them);
    a failed put is only logged."""
    try:
        await media.put(key, data)
    except Exception as error:  # noqa: BLE001 - housekeeping: the file was read all the same
        log.warning("%s not copied to the media store (%s)", key, error)


class MediaStore(Protocol):
    """Where rendered media live; `observers` hear of its size and of files rendered again."""

    observers: MediaObservers

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, data: bytes) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def size(self) -> int: ...

    async def close(self) -> None: ...


@dataclass
class MediaObservers:
    """Who hears of the media store: its size in bytes after each change, and each file rendered again.

    The metrics attach here (`melody_media_store_bytes`, `melody_media_rerenders_total`).
    """

    sized: list[Callable[[int], None]] = field(default_factory=list)
    rerendered: list[Callable[[int], None]] = field(default_factory=list)

    def tell_size(self, total: int) -> None:
        for observer in self.sized:
            observer(total)

    def tell_rerendered(self, count: int) -> None:
        for observer in self.rerendered:
            observer(count)


class DiskMedia:
    """Files in a folder, least recently used evicted past `max_bytes` (approximately, across processes)."""

    def __init__(self, root: Path, max_bytes: int, observers: MediaObservers | None = None) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.observers = observers or MediaObservers()
        self._total: int | None = None  # this process's running total; None until the folder was looked at
        # The files of the last walk not yet evicted, least recently used first: (last use, size, path).
        self._oldest: collections.deque[tuple[float, int, Path]] = collections.deque()

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, self._path(key))

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, self._path(key), bytes(data))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, self._path(key))

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def size(self) -> int:
        """The bytes in the folder now (looked at again, whoever wrote them)."""
        return await asyncio.to_thread(self._rescan)

    async def close(self) -> None:
        return None

    def check(self) -> None:
        """OSError unless the folder (made if missing) can be written: a process that writes checks at start."""
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / f"{_TEMP_PREFIX}check-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()

    # --- blocking parts, in a thread ----------------------------------------------------------

    def _get(self, path: Path) -> bytes | None:
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            os.utime(path)  # a read makes the file recent: eviction goes by modification time
        except FileNotFoundError:
            pass  # evicted by another process meanwhile: what was read is still whole
        return data

    def _put(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f"{_TEMP_PREFIX}{secrets.token_hex(6)}-{path.name}")
        try:
            temp.write_bytes(data)
            old = path.stat().st_size if path.exists() else 0
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        if self._total is None:
            self._rescan()
        else:
            self._total += len(data) - old
        if self._total is not None and self._total > self.max_bytes:
            self._evict(keep=path)
        self.observers.tell_size(self._total or 0)

    def _delete(self, path: Path) -> None:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return
        if self._total is not None:
            self._total = max(0, self._total - size)
        self.observers.tell_size(self._total or 0)

    def _files(self) -> list[tuple[float, int, Path]]:
        """(last use, size, path) of every whole file in the folder."""
        found = []
        for folder, _dirs, names in os.walk(self.root):
            for name in names:
                if name.startswith(_TEMP_PREFIX):
                    continue
                path = Path(folder, name)
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                found.append((stat.st_mtime, stat.st_size, path))
        return found

    def _rescan(self) -> int:
        self._total = sum(size for _used, size, _path in self._files())
        return self._total

    def _evict(self, keep: Path) -> None:
        """Remove the least recently used files until the folder is within its bound (never `keep`).

        The folder is walked once, and its files kept in order of last use: the writes after it evict from
        that list instead of walking the folder each time (a full folder of a busy deployment holds hundreds
        of thousands of files). A listed file used since it was listed, or gone, is passed over; the folder is
        walked again when the list runs out.
        """
        removed = 0
        total = self._total if self._total is not None else self._rescan()
        walked = False
        while total > self.max_bytes:
            if not self._oldest:
                if walked:
                    break  # nothing left to remove but `keep`
                self._oldest = collections.deque(sorted(self._files(), key=lambda found: found[0]))
                total = sum(size for _used, size, _path in self._oldest)
                walked = True
                continue
            used, size, path = self._oldest.popleft()
            if path == keep:
                continue
            try:
                if path.stat().st_mtime > used:
                    continue  # read or written again since it was listed: no longer among the oldest
                path.unlink()
            except FileNotFoundError:
                continue  # another process evicted it
            total -= size
            removed += 1
            self._remove_empty_folders(path)
        self._total = total
        log.info("media store %s: %d files evicted, %d bytes kept (bound %d)", self.root, removed, total,
                 self.max_bytes)

    def _remove_empty_folders(self, path: Path) -> None:
        for parent in path.parents:
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()  # only when empty
            except OSError:
                break


class S3Media:
    """Files in an S3-compatible bucket under a prefix, through aiobotocore. The bucket's lifecycle evicts.

    `endpoint_url` (None: AWS itself), `region` and the credentials come from the environment; the
    credentials are handed to the client and never logged.
    """

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 observers: MediaObservers | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client_options: dict[str, Any] = {
            "endpoint_url": endpoint_url, "region_name": region or "us-east-1",
            "aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key,
        }
        self.observers = observers or MediaObservers()
        self._exit = AsyncExitStack()
        self._client: Any = None
        self._opening = asyncio.Lock()

    def __repr__(self) -> str:
        return f"S3Media(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _object(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _s3(self) -> Any:
        async with self._opening:
            if self._client is None:
                from aiobotocore.session import get_session

                self._client = await self._exit.enter_async_context(
                    get_session().create_client("s3", **self._client_options))
        return self._client

    async def get(self, key: str) -> bytes | None:
        s3 = await self._s3()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=self._object(key))
        except s3.exceptions.NoSuchKey:
            return None
        async with response["Body"] as body:
            return bytes(await body.read())

    async def put(self, key: str, data: bytes) -> None:
        s3 = await self._s3()
        await s3.put_object(Bucket=self.bucket, Key=self._object(key), Body=bytes(data))

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket, Key=self._object(key))

    async def exists(self, key: str) -> bool:
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=self._object(key))
        except s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def size(self) -> int:
        """The bytes under the prefix (a listing: for the metrics now and then, not per request)."""
        s3 = await self._s3()
        total = 0
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""):
            total += sum(int(item["Size"]) for item in page.get("Contents", ()))
        self.observers.tell_size(total)
        return total

    async def close(self) -> None:
        await self._exit.aclose()
        self._client = None


def open_media(url: str | None, folder: Path, max_mb: float, *, endpoint_url: str | None = None,
               region: str | None = None, access_key_id: str | None = None, secret_access_key: str | None = None,
               observers: MediaObservers | None = None) -> MediaStore:
    """The media store a process uses: `url` s3://bucket/prefix (with the bucket's server, region and
    credentials), else the folder `folder` bound to `max_mb` megabytes."""
    if not url:
        return DiskMedia(folder, int(max_mb * 1024 * 1024), observers)
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError("MEDIA_URL must be s3://bucket/prefix")
    return S3Media(parsed.netloc, parsed.path, endpoint_url=endpoint_url or None, region=region or None,
                   access_key_id=access_key_id or None, secret_access_key=secret_access_key or None,
                   observers=observers)


def media_of(settings: CommonSettings, observers: MediaObservers | None = None) -> MediaStore:
    """The media store that a process's settings name (MEDIA_URL, MEDIA_DIR, MEDIA_MAX_MB and the bucket's)."""
    key_id, secret = settings.aws_access_key_id, settings.aws_secret_access_key
    return open_media(settings.media_url, settings.media_folder, settings.media_max_mb,
                      endpoint_url=settings.media_endpoint_url, region=settings.aws_region,
                      access_key_id=key_id.get_secret_value() if key_id is not None else None,
                      secret_access_key=secret.get_secret_value() if secret is not None else None,
                      observers=observers)
