"""How far apart one member's requests for the worker must be (morphs, trees, pieces, tunes)."""

from __future__ import annotations

import math

from domain.errors import BreedError
from domain.limits import ServerLimits
from storage.locks import LockStore


class RequestSpacing:
    """A member's requests for the worker, each kind spaced by the server's `morph_cooldown_s`."""

    def __init__(self, locks: LockStore, limits: ServerLimits) -> None:
        self.locks = locks
        self.limits = limits

    async def __call__(self, kind: str, user_id: int | None, what: str) -> None:
        """BreedError when `user_id` asked for a `kind` (in words: `what`) too recently; None asks freely."""
        if user_id is None:
            return
        wait = await self.locks.take_cooldown(kind, user_id, self.limits.morph_cooldown_s)
        if wait:
            raise BreedError(f"Slow down: you can ask for another {what} in {math.ceil(wait)} s.")
