"""Opening the breeding service on a Redis URL: how a front end's process gets one."""

from __future__ import annotations

from collections.abc import Callable

from domain.limits import ServerLimits
from domain.model import BreedParams
from service.breeding import BreedingService
from storage import BreedStore, connect


def open_service(
    redis_url: str, clock: Callable[[], float], defaults: BreedParams | None = None, *,
    limits: ServerLimits | None = None,
) -> BreedingService:
    """The breeding service over a new connection to `redis_url` (made on first use); `close()` it."""
    return BreedingService(BreedStore(connect(redis_url)), clock, defaults, limits=limits)
