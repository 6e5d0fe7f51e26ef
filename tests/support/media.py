"""A media folder as the tests give one to a worker, a page or a bot."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from storage import BreedStore, connect
from storage.media import DiskMedia, MediaObservers
from tests.support.worker_jobs import real_worker, running
from worker.runner import Worker

MB = 1024 * 1024


def folder_media(folder: Path, observers: MediaObservers | None = None) -> DiskMedia:
    """Media in `folder`, bounded at 64 MB (more than any test writes)."""
    return DiskMedia(folder, 64 * MB, observers)


@contextlib.asynccontextmanager
async def worker_with_media(redis_url: str, folder: Path, model, renderer) -> AsyncIterator[Worker]:
    """A real worker whose media go to `folder` (another process on the host of the page or the bot), running."""
    store = BreedStore(connect(redis_url), media=folder_media(folder))
    worker = real_worker(store, model, renderer)
    try:
        async with running(worker):
            yield worker
    finally:
        await store.close()
