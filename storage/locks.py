"""What makes a request wait, in the store: a breed's lock, the lock of starts in one place, and cooldowns.

Locks are Redis leases that hold across processes (bots, the web page); cooldowns are keys that
expire by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from storage import keys
from storage.client import UNAVAILABLE, ttl_ms

log = logging.getLogger(__name__)

# --- keys --------------------------------------------------------------------------------------


def lock_key(breed_id: str) -> str:
    """Held (with a lease) by the one process changing a breed right now."""
    return f"{keys.breed_prefix(breed_id)}:lock"


def start_lock_key(scope: int | str | None) -> str:
    """Held while a start in `scope` (a server, a web client) is checked against its limits and stored."""
    return f"{keys.PREFIX}start-lock:{scope if scope is not None else 'local'}"


def cooldown_key(kind: str, user_id: int | str) -> str:
    """Set while a user waits before another request of `kind` (start, morph); expires by itself."""
    return f"{keys.PREFIX}cooldown:{kind}:{user_id}"


class LockTimeout(TimeoutError):
    """A breed's lock stayed taken by another process for too long."""


class LockStore:
    """Leased locks and cooldowns in Redis."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        # Locks this process held when Redis went away, so that it could not let them go: key -> token. Redis
        # keeps such a lock (its AOF) until the lease runs out, a minute; this process lets it go first
        # thing when it takes the lock again, instead of waiting out its own lease.
        self._left_held: dict[str, bytes] = {}

    def breed_lock(self, breed_id: str, lease_s: float = 60.0,
                   wait_s: float = 30.0) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the breed's lock across processes (bots, web page) while a transition runs.

        The lease is renewed while the lock is held (a transition may wait on Discord for long), so it
        frees the lock only when its holder died; it is released only by its holder (redis-py's token
        check). LockTimeout when another holder keeps it longer than `wait_s`.
        """
        return self._leased_lock(lock_key(breed_id), f"breed {breed_id}", lease_s, wait_s)

    def start_lock(self, scope: int | str | None, lease_s: float = 60.0,
                   wait_s: float = 30.0) -> contextlib.AbstractAsyncContextManager[None]:
        """Held while a breed of `scope` (a server, a web client) is checked against its limits and started."""
        return self._leased_lock(start_lock_key(scope), f"starts of {scope}", lease_s, wait_s)

    @contextlib.asynccontextmanager
    async def _leased_lock(self, key: str, what: str, lease_s: float, wait_s: float) -> AsyncIterator[None]:
        lock = self._redis.lock(key, timeout=lease_s, sleep=0.02, blocking_timeout=wait_s, thread_local=False)
        left = self._left_held.get(key)
        if left is not None:
            # Only a lock this process took: its holder is gone (the caller's own local lock says so).
            with contextlib.suppress(LockError):
                await lock.do_release(left)
            del self._left_held[key]
            log.info("%s: let go of the lock this process held when Redis went away", what)
        if not await lock.acquire():
            raise LockTimeout(f"{what} stayed locked for {wait_s:.0f} s")
        beat = _Renewal()
        renewal = asyncio.create_task(_keep_lock(lock, what, lease_s / 3, beat), name=f"lock {key}")
        try:
            yield
        finally:
            # A task cancelled inside redis-py can hang its awaiter: a renewal is cancelled only while it
            # sleeps; one under way is let finish, and then ends by itself.
            beat.done.set()
            if not beat.busy:
                renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            token = lock.local.token
            try:
                await lock.release()
            except LockError:
                pass
            except UNAVAILABLE:
                if isinstance(token, bytes):
                    self._left_held[key] = token  # let go of when this process takes it next
                raise

    async def take_cooldown(self, kind: str, user_id: int | str, seconds: float) -> float:
        """Start a user's cooldown of `kind`; 0.0 when it was free, else the seconds still to wait."""
        if seconds <= 0:
            return 0.0
        key = cooldown_key(kind, user_id)
        if await self._redis.set(key, b"1", px=ttl_ms(seconds), nx=True):
            return 0.0
        remaining_ms = await self._redis.pttl(key)
        return max(remaining_ms, 0) / 1000

    async def give_back_cooldown(self, kind: str, user_id: int | str) -> None:
        """End a user's cooldown of `kind`: what it was taken for did not happen."""
        await self._redis.delete(cooldown_key(kind, user_id))


class _Renewal:
    """Where a lock's renewal is: `busy` while it talks to Redis; `done` is set once the lock is let go."""

    def __init__(self) -> None:
        self.busy = False
        self.done = asyncio.Event()


async def _keep_lock(lock: Lock, what: str, interval_s: float, beat: _Renewal) -> None:
    """Renew a held lock's lease every `interval_s` until it is let go; stop when it was lost (logged: it
    should not be)."""
    while not beat.done.is_set():
        await asyncio.sleep(interval_s)  # a plain timer: hosts that run the bot on virtual time know it
        if beat.done.is_set():
            return
        beat.busy = True
        try:
            await lock.reacquire()
        except LockError:
            if not beat.done.is_set():
                log.error("%s: the lock was lost while held", what)
            return
        except Exception as error:  # noqa: BLE001 - Redis away: try again at the next beat
            log.warning("%s: the lock's lease was not renewed (%s)", what, error)
        finally:
            beat.busy = False
