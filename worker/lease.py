"""The lease of the job a worker task is doing, so that its result is written only while it is held.

A job is renewed while it runs (storage.streams.jobs.Lease); if it was taken over anyway (the worker
stalled past the timeout, or the job was dead-lettered meanwhile), its late result is dropped:
`confirm_held()` raises LeaseLost just before a result is written.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.store import BreedStore
    from storage.streams.jobs import Lease

log = logging.getLogger(__name__)

# Per task (a batch of jobs runs each in its own task): the lease of the job that task is doing.
_current: ContextVar[Lease | None] = ContextVar("job_lease", default=None)


@contextlib.asynccontextmanager
async def holding(store: BreedStore, message_id: str, consumer: str, timeout_ms: int) -> AsyncIterator[Lease]:
    """Hold one job while the block runs; the results it writes check the hold first."""
    async with store.streams.jobs.job_lease(message_id, consumer, timeout_ms) as lease:
        token = _current.set(lease)
        try:
            yield lease
        finally:
            _current.reset(token)


async def confirm_held() -> None:
    """LeaseLost when the job this task is doing is no longer held; nothing outside a job."""
    lease = _current.get()
    if lease is not None:
        await lease.confirm()
