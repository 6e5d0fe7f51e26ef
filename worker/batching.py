"""Jobs of several breeds handled together: their populations decoded in one model call.

A worker that finds several jobs waiting handles them at once, as asyncio tasks: each job runs
its own handler (and is acknowledged only after its own result is written, as when alone), and
whenever every job still running is waiting for the decoder, their latents are decoded together.
Jobs of one breed stay in stream order, one after the other in one task: a later job may need
what an earlier one writes.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from domain.model import Note

T = TypeVar("T")
Decode = Callable[["NDArray[np.float32]"], "list[list[Note]]"]

# The batch the current job belongs to (None: a job handled alone); each task sees its own copy.
current: contextvars.ContextVar[DecodeBatch | None] = contextvars.ContextVar("decode_batch", default=None)


class DecodeBatch:
    """The decodes of jobs handled together: done in one call once every running job waits for one."""

    def __init__(self, decode: Decode, running: int) -> None:
        self._decode = decode
        self._running = running
        self._waiting: list[tuple[NDArray[np.float32], asyncio.Future[list[list[Note]]]]] = []

    async def decode(self, latents: NDArray[np.float32]) -> list[list[Note]]:
        """The melodies of `latents`, decoded with those of the other jobs of the batch."""
        future: asyncio.Future[list[list[Note]]] = asyncio.get_running_loop().create_future()
        self._waiting.append((latents, future))
        await self._flush_when_all_wait()
        return await future

    async def leave(self) -> None:
        """A task of the batch is done: the others no longer wait for it."""
        self._running -= 1
        await self._flush_when_all_wait()

    async def _flush_when_all_wait(self) -> None:
        if not self._waiting or len(self._waiting) < self._running:
            return
        waiting, self._waiting = self._waiting, []
        try:
            melodies = await asyncio.to_thread(self._decode, np.concatenate([latents for latents, _ in waiting]))
        except Exception as error:  # each job fails as it would have alone
            for _, future in waiting:
                future.set_exception(error)
            return
        first = 0
        for latents, future in waiting:
            future.set_result(melodies[first : first + len(latents)])
            first += len(latents)


def by_breed(items: Sequence[tuple[str, T]]) -> list[list[T]]:
    """Items grouped by their key (a breed id), groups in order of first appearance, items in order."""
    groups: dict[str, list[T]] = {}
    for key, item in items:
        groups.setdefault(key, []).append(item)
    return list(groups.values())
