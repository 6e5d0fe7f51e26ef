"""Vote deadlines: one timer per breed, armed from the deadline timestamp stored in Redis.

The timestamp is the truth (RoboDanny's reminders): on start-up the bot re-arms every open
breed's deadline, and a deadline that passed while the bot was down fires at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from service.tasks import BackgroundTasks

log = logging.getLogger(__name__)

# What a timer calls when it fires: close(breed_id, generation).
CloseVoting = Callable[[str, int], Awaitable[None]]


class VoteTimers:
    """At most one armed deadline per breed."""

    def __init__(self, tasks: BackgroundTasks, clock: Callable[[], float], close: CloseVoting) -> None:
        self._tasks = tasks
        self._clock = clock
        self._close = close
        self._armed: dict[str, asyncio.Task[None]] = {}

    def arm(self, breed_id: str, generation: int, deadline: float) -> None:
        """Close voting on `generation` at `deadline` (seconds since the epoch), replacing an older timer."""
        self.cancel(breed_id)
        delay = max(0.0, deadline - self._clock())
        task = self._tasks.spawn(self._fire(breed_id, generation, delay), name=f"deadline {breed_id}")
        self._armed[breed_id] = task
        log.info("breed %s gen %d: voting closes in %.0f s", breed_id, generation, delay)

    def cancel(self, breed_id: str) -> None:
        """Disarm a breed's timer (not when called from that timer itself, which is finishing anyway)."""
        task = self._armed.pop(breed_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def armed(self, breed_id: str) -> bool:
        task = self._armed.get(breed_id)
        return task is not None and not task.done()

    async def _fire(self, breed_id: str, generation: int, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._armed.get(breed_id) is asyncio.current_task():
            del self._armed[breed_id]
        log.info("breed %s gen %d: vote deadline reached", breed_id, generation)
        await self._close(breed_id, generation)
