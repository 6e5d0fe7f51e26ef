"""Requests for the worker: how far apart one member's of one kind must be (morphs, trees, pieces, tunes,
replays: each kind its own wait), and what the collaborators that take pieces and tunes share."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from domain.errors import BreedError
from domain.ids import MelodyRef
from domain.limits import ServerLimits
from domain.model import Composition, TuneRequest

if TYPE_CHECKING:
    from domain.jobs import Job
    from domain.model import BreedParams
    from service.media import Media
    from service.queue import JobQueue
    from service.stores import Locks, RequestRecords

log = logging.getLogger(__name__)

# The requests a worker renders once (service.stores.RequestRecords).
R = TypeVar("R", Composition, TuneRequest)
# Finds the candidate a melody id names on a server, and the options it sounds with (service.melodies).
FindMelody = Callable[[str | MelodyRef, int | None], Awaitable[tuple[MelodyRef, "BreedParams"]]]


class RequestSpacing:
    """A member's requests, each kind spaced by the server's wait for that kind (`ServerLimits.cooldown_s`):
    a wait for one kind never delays another."""

    def __init__(self, locks: Locks, limits: ServerLimits) -> None:
        self.locks = locks
        self.limits = limits

    async def __call__(self, kind: str, user_id: int | None, what: str) -> None:
        """BreedError when `user_id` asked for a `kind` (in words: `what`) too recently; None asks freely."""
        if user_id is None:
            return
        wait = await self.locks.take_cooldown(kind, user_id, self.limits.cooldown_s(kind))
        if wait:
            raise BreedError(f"Slow down: you can ask for another {what} in {math.ceil(wait)} s.")

    async def give_back(self, kind: str, user_id: int | None) -> None:
        """End `user_id`'s wait for a `kind`: what it was taken for was refused after all."""
        if user_id is not None:
            await self.locks.give_back_cooldown(kind, user_id)

    @contextlib.asynccontextmanager
    async def taken(self, kind: str, user_id: int | None, what: str) -> AsyncIterator[None]:
        """Take `user_id`'s wait for a `kind` for the block, and give it back if the block fails."""
        await self(kind, user_id, what)
        try:
            yield
        except BaseException:
            await self.give_back(kind, user_id)
            raise


class Requests(Generic[R]):
    """Requests of one kind for the worker: `requests` keeps them, `queue` takes their jobs, `melody` finds
    a melody id's candidate, `spacing` spaces a member's, `new_id` names one, `clock()` is the time; `media`
    renders again the files the media store let go (None: files are read as they are)."""

    def __init__(self, requests: RequestRecords[R], queue: JobQueue, melody: FindMelody,
                 spacing: RequestSpacing, new_id: Callable[[], str], clock: Callable[[], float], *,
                 media: Media | None = None) -> None:
        self.requests: RequestRecords[R] = requests
        self.media = media
        self.queue = queue
        self.melody = melody
        self.spacing = spacing
        self.new_id = new_id
        self.clock = clock

    async def submit(self, kind: str, requester_id: int, what: str, make: Callable[[], tuple[R, Job]],
                     already: str) -> R:
        """Keep the request `make()` builds and queue its job, once the queue's bound and the member's wait
        for a `kind` allow it; BreedError(`already`) when the same job is waiting or running: a refusal keeps
        nothing."""
        await self.queue.check()
        async with self.spacing.taken(kind, requester_id, what):
            request, job = make()
            await self.requests.create(request)
            try:
                await self.queue.add(job, already)
            except BreedError:
                await self.requests.delete(request)  # being made already: keep nothing
                raise
        return request

    async def post_once(self, request_id: str, noun: str, show: Callable[[R], Awaitable[None]]) -> bool:
        """Show a request the worker is done with, once: False when it is gone or was shown already.
        A show that fails is taken back, so the event's next delivery shows it."""
        request = await self.requests.get(request_id)
        if request is None:
            log.warning("%s %s: ready, but its request is gone", noun, request_id)
            return False
        if not await self.requests.mark_posted(request_id):
            log.info("%s %s: shown already", noun, request_id)
            return False
        try:
            await show(request)
        except BaseException:
            await self.requests.unmark_posted(request_id)
            raise
        return True
