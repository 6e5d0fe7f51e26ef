"""The in-memory store's one keyspace: values under tuple keys, each with an optional expiry on a clock.

Like Redis, a key that expired is gone when it is next looked at; the clock is the store's, so a test
may pass a `ManualClock` and move time on instead of waiting.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

Key = tuple[Any, ...]
Clock = Callable[[], float]
V = TypeVar("V")


class ManualClock:
    """Seconds that pass only when told: `advance(seconds)`."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves on")
        self.now += seconds


class Space:
    """Values under tuple keys ("kind", id, ...), each kept until deleted or until its expiry (clock seconds)."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._values: dict[Key, Any] = {}
        self._expiry: dict[Key, float] = {}

    def _alive(self, key: Key) -> bool:
        expiry = self._expiry.get(key)
        if expiry is not None and expiry <= self.clock():
            self._values.pop(key, None)
            del self._expiry[key]
        return key in self._values

    def get(self, key: Key, default: Any = None) -> Any:
        return self._values[key] if self._alive(key) else default

    def get_as(self, key: Key, kind: type[V]) -> V | None:
        """The value under `key`, which the store keeps as a `kind` (bytes, text); None when there is none."""
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, kind):
            return value
        raise TypeError(f"a {key[0]} key holds a {type(value).__name__}, not a {kind.__name__}")

    def exists(self, key: Key) -> bool:
        return self._alive(key)

    def set(self, key: Key, value: Any, ttl_s: float | None = None, *, nx: bool = False,
            keep_ttl: bool = False) -> bool:
        """Store `value`; with `nx` only when the key is not there (False then). `ttl_s` None: no expiry,
        unless `keep_ttl` keeps the one the key has."""
        if nx and self._alive(key):
            return False
        self._values[key] = value
        if ttl_s is not None:
            self._expiry[key] = self.clock() + ttl_s
        elif not keep_ttl:
            self._expiry.pop(key, None)
        return True

    def setdefault(self, key: Key, factory: Callable[[], Any]) -> Any:
        """The value under `key`, made by `factory()` (without expiry) when there is none."""
        if not self._alive(key):
            self._values[key] = factory()
        return self._values[key]

    def delete(self, *keys: Key) -> int:
        """Delete the keys; how many were there."""
        deleted = 0
        for key in keys:
            if self._alive(key):
                del self._values[key]
                deleted += 1
            self._expiry.pop(key, None)
        return deleted

    def expire(self, key: Key, ttl_s: float, *, lt: bool = False) -> None:
        """Let a key expire in `ttl_s`; `lt`: only when that is sooner than its expiry (none counts as later)."""
        if not self._alive(key):
            return
        expiry = self.clock() + ttl_s
        current = self._expiry.get(key)
        if lt and current is not None and current <= expiry:
            return
        self._expiry[key] = expiry

    def ttl(self, key: Key) -> float | None:
        """Seconds until the key expires; None without expiry (or without the key)."""
        if not self._alive(key):
            return None
        expiry = self._expiry.get(key)
        return None if expiry is None else expiry - self.clock()

    def snapshot(self) -> dict[Key, Any]:
        """A copy of every live key and its value, to compare before and after."""
        return {key: copy.deepcopy(self._values[key]) for key in list(self._values) if self._alive(key)}

    def keys(self, kind: str) -> Iterator[Key]:
        """Every live key of a kind (its first element)."""
        for key in [key for key in self._values if key[0] == kind]:
            if self._alive(key):
                yield key
