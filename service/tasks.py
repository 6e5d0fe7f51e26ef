"""Background tasks with strong references whose failures are logged (not lost).

A bare `asyncio.create_task` can be garbage-collected mid-flight and swallows its exception
until someone awaits it; python-discord's `scheduling.create_task` is the model here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    """The running background tasks of one bot."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run `coro` in the background; an exception it raises is logged with `name`."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("background task %s failed", task.get_name(), exc_info=error)

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self, timeout_s: float = 10.0) -> None:
        """Cancel every task and wait up to `timeout_s` for them to end (shutdown must not hang)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _done, stuck = await asyncio.wait(tasks, timeout=timeout_s)
        for task in stuck:
            log.warning("background task %s did not end within %.0f s of being cancelled", task.get_name(), timeout_s)
