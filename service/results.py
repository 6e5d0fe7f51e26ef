"""What the worker made, shown once: `service.results`, a collaborator of the breeding service.

A generation opens the vote once it is shown; a winner's files end the breed; a morph (or its
failure) is shown once per pair; a failed step reopens the vote. Each runs under the breed's lock,
and a post is guarded by a "posted" marker in Redis, taken back if the post fails, so that nothing
is shown twice and nothing is lost when a front end restarts.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from domain import artifacts
from domain.model import Breed, Generation, Status, Winner
from domain.rules import morph_marker, refusal
from service.stores import BreedStates, PostMarks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Files:
    """Artifacts of a generation read for a post: (name, bytes) in order, and the names missing or too large."""

    found: tuple[tuple[str, bytes], ...]
    missing: tuple[str, ...]


async def read_files(names: Sequence[str], read: Callable[[str], Awaitable[bytes | None]],
                     max_bytes: int | None = None) -> Files:
    """Files read by name, in order; missing or too-large ones are named."""
    found: list[tuple[str, bytes]] = []
    missing: list[str] = []
    for name in names:
        data = await read(name)
        if data is None or (max_bytes is not None and len(data) > max_bytes):
            missing.append(name)
        else:
            found.append((name, data))
    return Files(tuple(found), tuple(missing))


@dataclass(frozen=True)
class PostParts:
    """The parts of one post (of `kind`, for a generation) sent so far: a retried post goes on from there
    instead of sending them again (a reaction failed after the clips went out)."""

    posts: PostMarks
    breed_id: str
    number: int
    kind: str = "generation"

    async def sent(self, part: str) -> str | None:
        """What the part left when it was sent (a message id), or None if it was not sent."""
        return await self.posts.post_part(self.breed_id, self.number, self.kind, part)

    async def record(self, part: str, value: str) -> None:
        await self.posts.record_post_part(self.breed_id, self.number, self.kind, part, value)


class BreedMedia(Protocol):
    """Reads a generation's files, rendering again those the media store let go (service.media.Media)."""

    async def breed_files(self, breed_id: str, number: int, names: Sequence[str],
                          max_bytes: int | None = None) -> Files: ...


class WorkerResults:
    """The worker's results for every breed: `lock` is the breed's lock, `deadline(breed)` when a vote that
    opens now closes, `keep_winner(breed, generation, index)` puts a finished breed's winner in the gallery."""

    def __init__(
        self, breeds: BreedStates, posts: PostMarks,
        lock: Callable[[str], contextlib.AbstractAsyncContextManager[None]], deadline: Callable[[Breed], float],
        keep_winner: Callable[[Breed, int, int], Awaitable[Winner]], *, media: BreedMedia | None = None,
    ) -> None:
        self.breeds = breeds
        self.posts = posts
        self.lock = lock
        self.deadline = deadline
        self.keep_winner = keep_winner
        self.media = media

    async def generation_ready(
        self, breed_id: str, number: int, post: Callable[[Breed, Generation, float], Awaitable[int | None]],
    ) -> Breed | None:
        """Starting/evolving -> voting on the generation a worker wrote: `post` shows it, once.

        `post(breed, generation, deadline)` returns the vote message's id (None if the front end has
        none). It must go on from what it sent when called again (a process that died half-way through
        the post leaves its mark): a generation posted before a restart is not posted again, one posted
        half-way is completed, and voting opens on it. Returns the breed now voting, or None when there
        was nothing to do.
        """
        async with self.lock(breed_id):
            breed = await self.breeds.get(breed_id)
            if breed is None or refusal(breed, "post") is not None or number != breed.generation \
                    or number <= breed.opened:
                log.info("breed %s gen %d: not opening a vote (%s)", breed_id, number,
                         "unknown breed" if breed is None else
                         f"status {breed.status}, newest {breed.generation}, opened {breed.opened}")
                return None
            generation = await self.breeds.get_generation(breed_id, number)
            if generation is None:
                log.error("breed %s gen %d: generation_ready, but the generation is missing", breed_id, number)
                return None
            deadline = self.deadline(breed)
            vote_message_id: int | None = None
            async with self.first_post(breed_id, number) as first:
                if not first:
                    # Begun by a process that died before it opened the vote (or half-way through the post):
                    # the front end goes on from what it sent (PostParts), which is nothing when all was.
                    log.warning("breed %s gen %d: its post was begun before a restart; going on from what was "
                                "sent", breed_id, number)
                vote_message_id = await post(breed, generation, deadline)
            if vote_message_id is None:
                opened = await self.breeds.update(breed_id, status=Status.VOTING, vote_deadline=deadline,
                                                  opened=number)
            else:
                await self.breeds.link_message(vote_message_id, breed_id, number)
                # While people vote, the breed's progress message is the vote message itself.
                opened = await self.breeds.update(breed_id, status=Status.VOTING, vote_deadline=deadline,
                                                  opened=number, progress_message_id=vote_message_id)
            log.info("breed %s gen %d: voting open until %.0f", breed_id, number, deadline)
            return opened

    async def winner_ready(
        self, breed_id: str, number: int, post: Callable[[Breed, int, int], Awaitable[None]],
    ) -> Breed | None:
        """Evolving -> finished when the winner's files are written: `post(breed, generation, winner)`, once
        (called again after a restart, it goes on from what it sent).

        Returns the finished breed, or None when no finish was in progress.
        """
        async with self.lock(breed_id):
            breed = await self.breeds.get(breed_id)
            if breed is None or refusal(breed, "winner") is not None:
                log.info("breed %s gen %d: finished event, but no finish in progress", breed_id, number)
                return None
            assert breed.winner is not None
            async with self.first_post(breed_id, number, "winner") as first:
                if not first:
                    log.warning("breed %s gen %d: the winner's post was begun before a restart; going on from "
                                "what was sent", breed_id, number)
                await post(breed, number, breed.winner)
            await self.keep_winner(breed, number, breed.winner)
            return await self.breeds.update(breed_id, status=Status.FINISHED)

    async def morph_ready(
        self, breed_id: str, number: int, a: int, b: int, post: Callable[[Breed], Awaitable[None]], *,
        failed: bool = False,
    ) -> bool:
        """A morph (or its failure) is shown once per pair and generation; it changes nothing in the breed."""
        async with self.lock(breed_id):
            breed = await self.breeds.get(breed_id)
            if breed is None:
                return False
            async with self.first_post(breed_id, number, morph_marker(a, b, failed=failed)) as first:
                if first:
                    await post(breed)
                else:
                    log.info("breed %s gen %d: morph %d -> %d shown already", breed_id, number, a, b)
            return first

    async def step_failed(
        self, breed_id: str, post: Callable[[Breed, Breed], Awaitable[None]], *, job: str | None = None,
        generation: int | None = None,
    ) -> Breed | None:
        """A worker job failed: back to voting on the last generation (votes kept, no deadline), or
        failed without one. `post(before, after)` tells people.

        `job` and `generation` name the job that failed (None: an older worker did not say): only the
        step the breed waits for is undone, not a morph, a job of a newer version or an older step.
        """
        async with self.lock(breed_id):
            breed = await self.breeds.get(breed_id)
            if breed is None or breed.status not in ("starting", "evolving"):
                return None
            if job is not None and not _is_awaited(breed, job, generation):
                log.info("breed %s gen %d: a %s job failed, which the breed does not wait for; state kept",
                         breed_id, breed.generation, job)
                return None
            if breed.generation < 0:
                changed = await self.breeds.update(breed_id, status=Status.FAILED, vote_deadline=None)
            else:
                # A finish that failed (one the breed began by itself too) is undone: the breed goes on.
                changed = await self.breeds.update(breed_id, status=Status.VOTING, winner=None, winner_generation=None,
                                                   ended=None, vote_deadline=None)
            await post(breed, changed)
            return changed

    def post_parts(self, breed_id: str, number: int, kind: str = "generation") -> PostParts:
        """What a front end sent so far of a post, to go on from there when the post is retried."""
        return PostParts(self.posts, breed_id, number, kind)

    @contextlib.asynccontextmanager
    async def first_post(self, breed_id: str, number: int, kind: str = "generation") -> AsyncIterator[bool]:
        """Whether this is the first post of `kind` for (breed, generation), so nothing is posted twice.

        If the post fails, the mark is taken back, so that the redelivered event tries again.
        """
        first = await self.posts.mark_posted(breed_id, number, kind)
        try:
            yield first
        except BaseException:
            if first:
                await self.posts.unmark_posted(breed_id, number, kind)
            raise

    async def files(self, breed_id: str, number: int, names: Sequence[str], max_bytes: int | None = None) -> Files:
        """Read artifacts of a generation for a post, in order; missing or too-large ones are named. Audio and
        images the media store let go are rendered again (`media`)."""
        if self.media is not None:
            read = await self.media.breed_files(breed_id, number, names, max_bytes)
        else:
            read = await read_files(names, lambda name: self.breeds.get_artifact(breed_id, number, name), max_bytes)
        if read.missing:
            log.warning("breed %s gen %d: artifacts missing or too large: %s", breed_id, number, list(read.missing))
        return read

    async def winner_files(self, breed_id: str, number: int, max_bytes: int | None = None) -> Files:
        return await self.files(breed_id, number, artifacts.WINNER_FILES, max_bytes)


def _is_awaited(breed: Breed, job: str, generation: int | None) -> bool:
    """Whether a job of kind `job` reading `generation` is the step the breed is waiting for."""
    if breed.status == "starting":
        return job == "start"
    if breed.winner is not None:
        return job == "finish"
    return job == "evolve" and generation in (None, breed.generation)
