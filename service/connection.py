"""Opening the breeding service on a Redis URL: how a front end's process gets one."""

from __future__ import annotations

from collections.abc import Callable

from domain.limits import ServerLimits
from domain.model import BreedParams
from runtime.metrics import Metrics
from service.breeding import BreedingService
from service.queue import DEFAULT_MAX_QUEUED_JOBS
from storage import BreedStore, connect
from storage.media import MediaStore, media_of
from storage.store import DEFAULT_RETENTION_S

__all__ = ["media_of", "open_service"]


def open_service(
    redis_url: str, clock: Callable[[], float], defaults: BreedParams | None = None, *,
    limits: ServerLimits | None = None, retention_s: float = DEFAULT_RETENTION_S,
    max_queued_jobs: int = DEFAULT_MAX_QUEUED_JOBS, media: MediaStore | None = None, metrics: Metrics | None = None,
) -> BreedingService:
    """The breeding service over a new connection to `redis_url` (made on first use); `close()` it.

    `retention_s`: how long a breed that ended is kept (BREED_RETENTION_DAYS); `max_queued_jobs`: the
    workers' queue's bound for new work (MAX_QUEUED_JOBS); `media`: where rendered audio and images are
    (storage.media.media_of(settings); None: in Redis, for tools and tests); `metrics`: the process's
    (runtime.metrics; None: a registry of the service's own).
    """
    return BreedingService(BreedStore(connect(redis_url), retention_s=retention_s, media=media), clock, defaults,
                           limits=limits, max_queued_jobs=max_queued_jobs, metrics=metrics)
