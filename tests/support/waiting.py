"""Waits on a condition with a deadline: how long a test waits depends on the machine, whether it passes does not."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

# How often a condition is checked again: short enough not to slow a test, long enough to leave the CPU
# to the processes the test waits for.
POLL_S = 0.05


async def wait_for(check: Callable[[], Awaitable[bool] | bool], timeout: float = 60.0, what: str = "the condition",
                   interval: float = POLL_S) -> None:
    """Check `check()` (plain or awaitable) until it holds; fail with `what` once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


def wait_for_sync(check: Callable[[], bool], timeout: float = 60.0, what: str = "the condition",
                  interval: float = POLL_S) -> None:
    """`wait_for` for code without an event loop."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


async def let_pass(seconds: float) -> None:
    """Let at least `seconds` of clock time pass, for what Redis times (a TTL, a message's idle time).

    Only for such clocks: there, waiting longer on a loaded machine changes no outcome. A test waiting for
    something to happen uses `wait_for`.
    """
    await asyncio.sleep(seconds)
