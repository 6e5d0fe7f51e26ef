"""Opening the breeding service on a Redis URL: how a front end's process gets one."""

from __future__ import annotations

from collections.abc import Callable

from domain.limits import ServerLimits
from domain.model import BreedParams
from service.breeding import BreedingService
from storage import BreedStore, connect
from storage.store import DEFAULT_RETENTION_S


def open_service(
    redis_url: str, clock: Callable[[], float], defaults: BreedParams | None = None, *,
    limits: ServerLimits | None = None, retention_s: float = DEFAULT_RETENTION_S,
) -> BreedingService:
    """The breeding service over a new connection to `redis_url` (made on first use); `close()` it.

    `retention_s`: how long a breed that ended is kept (BREED_RETENTION_DAYS).
    """
    return BreedingService(BreedStore(connect(redis_url), retention_s=retention_s), clock, defaults, limits=limits)
