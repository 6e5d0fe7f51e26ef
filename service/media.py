"""Rendered files for the front ends (`service.media`), a collaborator of the breeding service.

Audio and images live in the media store (storage.media), which lets them go: the least recently used
past its bound, or the bucket's lifecycle rule. What they are made of stays in Redis, so a file asked
for that is gone is rendered again by a worker: one `render` job (asked for by many at once, still one
job), waited for up to `wait_s`. Past that, or when what it is made of is gone too, one line says why.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from domain import artifacts
from domain.errors import BreedError
from domain.ids import melody_id
from domain.jobs import MediaOwner, RenderJob
from domain.model import Composition, TuneRequest, Winner
from service.errors import QueueFull
from service.queue import JobQueue
from service.results import Files
from service.stores import BreedStates, GalleryRecords, RequestRecords
from storage.media import is_media

log = logging.getLogger(__name__)

# How long a front end waits for a file being rendered again (a clip takes a worker about a second).
RENDER_WAIT_S = 20.0
POLL_S = 0.25
LATE = "That file is being rendered again; ask again in a moment."
GONE = "That file is not there: not made yet, or what it is made of is no longer kept."
BUSY = "That file is no longer kept, and the workers are too busy to render it again now; try again later."

Read = Callable[[str], Awaitable[bytes | None]]
# The candidate numbers (1-based) a generation's file names: clip-3.ogg, tree-2.png, morph-1-4.ogg.
_CANDIDATES = re.compile(r"(?<=-)(\d{1,2})(?=[.-])")


@dataclass(frozen=True)
class Fetched:
    """One file for a front end: its bytes, or the line that says why there are none."""

    data: bytes | None
    line: str = ""


class Media:
    """Reads rendered files, and has the evicted ones rendered again. `renders`: whether the store keeps media in
    a media store that lets them go (without one, files are read as they are, and expire with their TTL)."""

    def __init__(self, breeds: BreedStates, gallery: GalleryRecords, tunes: RequestRecords[TuneRequest],
                 compositions: RequestRecords[Composition], queue: JobQueue, *, renders: bool = True,
                 wait_s: float = RENDER_WAIT_S, poll_s: float = POLL_S) -> None:
        self.breeds = breeds
        self.gallery = gallery
        self.tunes = tunes
        self.compositions = compositions
        self.queue = queue
        self.renders = renders
        self.wait_s = wait_s
        self.poll_s = poll_s

    # --- a breed's files ------------------------------------------------------------------------

    async def breed_file(self, breed_id: str, number: int, name: str) -> Fetched:
        """A rendered file of a generation (a clip, a roll, the winner's files, a morph, a tree)."""
        files, line = await self._breed(breed_id, number, [name])
        return Fetched(files.get(name), line)

    async def breed_files(self, breed_id: str, number: int, names: Sequence[str],
                          max_bytes: int | None = None) -> Files:
        """Files of a generation for a post, in order, those gone rendered again; missing ones are named."""
        files, _line = await self._breed(breed_id, number, names)
        return _in_order(names, files, max_bytes)

    async def gallery_files(self, winner: Winner, names: Sequence[str]) -> Files:
        """A gallery winner's files, those gone rendered again (from its breed, or its kept winner.mid and
        tune.mid; the family tree only while its breed is kept)."""

        async def renderable(gone: tuple[str, ...]) -> set[str]:
            lineage_kept = await self.breeds.get_generation(winner.breed_id, winner.generation) is not None
            return {name for name in gone if lineage_kept or name != artifacts.LINEAGE_PNG}

        files, _line = await self._fetch(names, lambda name: self.gallery.file(winner, name),
                                         RenderJob(winner.breed_id, (), generation=winner.generation,
                                                   candidate=winner.index), renderable)
        return _in_order(names, files, None)

    async def _breed(self, breed_id: str, number: int, names: Sequence[str]) -> tuple[dict[str, bytes], str]:
        winner = None
        breed = await self.breeds.get(breed_id)
        # A winner's files are those of its own generation only (the finish may have named an earlier one).
        if breed is not None and breed.winner is not None and number == (
                breed.generation if breed.winner_generation is None else breed.winner_generation):
            winner = breed.winner

        async def renderable(gone: tuple[str, ...]) -> set[str]:
            return await self._made(breed_id, number, gone, winner)

        return await self._fetch(names, lambda name: self.breeds.get_artifact(breed_id, number, name),
                                 RenderJob(breed_id, (), generation=number, candidate=winner), renderable)

    async def _made(self, breed_id: str, number: int, names: tuple[str, ...], winner: int | None) -> set[str]:
        """The files of `names` that were made once and whose making Redis still keeps: a generation's clips and
        roll while it is kept (for candidates it has), a winner's files once its finish wrote winner.mid, a
        morph's audio while its MIDI file is kept. A file not made yet is the worker's to make, not ours."""
        generation = await self.breeds.get_generation(breed_id, number)
        winner_made = False  # the winner's files: once its finish wrote winner.mid, while the breed or gallery keeps it
        if winner is not None and any(name in artifacts.WINNER_FILES for name in names):
            winner_made = await self.breeds.get_artifact(breed_id, number, artifacts.WINNER_MID) is not None and (
                generation is not None
                or await self.gallery.winner(melody_id(breed_id, number, winner)) is not None)
        made = set()
        for name in names:
            if name in artifacts.WINNER_FILES:
                if winner_made and (generation is not None or name != artifacts.LINEAGE_PNG):
                    made.add(name)
            elif name.startswith("morph-"):
                if await self.breeds.get_artifact(breed_id, number, name.rsplit(".", 1)[0] + ".mid") is not None:
                    made.add(name)
            elif generation is not None and all(0 < int(index) <= len(generation.candidates)
                                                for index in _CANDIDATES.findall(name)):
                made.add(name)
        return made

    # --- tunes and pieces -------------------------------------------------------------------------

    async def request_files(self, owner: MediaOwner, request_id: str, names: Sequence[str],
                            max_bytes: int | None = None) -> Files:
        """A tune's or a piece's files, in order, those gone rendered again from its kept MIDI file."""
        requests = self.tunes if owner == MediaOwner.TUNE else self.compositions
        midi_name = artifacts.TUNE_MID if owner == MediaOwner.TUNE else artifacts.COMPOSITION_MID

        async def renderable(gone: tuple[str, ...]) -> set[str]:
            return set(gone) if await requests.file(request_id, midi_name) is not None else set()

        files, _line = await self._fetch(names, lambda name: requests.file(request_id, name),
                                         RenderJob(request_id, (), owner=owner), renderable)
        return _in_order(names, files, max_bytes)

    # --- reading, rendering again, waiting ----------------------------------------------------------

    async def _fetch(self, names: Sequence[str], read: Read, job: RenderJob,
                     renderable: Callable[[tuple[str, ...]], Awaitable[set[str]]]) -> tuple[dict[str, bytes], str]:
        """The files `names` that are there or could be rendered again within `wait_s`, and the line for the rest
        (`renderable`: which of the files gone were made once and can be made again)."""
        found: dict[str, bytes] = {}
        for name in dict.fromkeys(names):
            data = await read(name)
            if data is not None:
                found[name] = data
        gone = tuple(name for name in dict.fromkeys(names) if name not in found and is_media(name))
        if not gone or not self.renders:
            return found, ""
        can = await renderable(gone)
        gone = tuple(name for name in gone if name in can)
        if not gone:
            return found, GONE
        try:
            await self.queue.check()
            await self.queue.add(RenderJob(job.subject, gone, job.owner, job.generation, job.candidate), "")
        except QueueFull:
            return found, BUSY
        except BreedError:
            pass  # the same files are being rendered again already: wait for them all the same
        log.info("breed %s gen %d: %s gone from the media store; rendering again", job.subject, job.generation,
                 list(gone))
        deadline = time.monotonic() + self.wait_s
        waiting = list(gone)
        while waiting and time.monotonic() < deadline:
            await asyncio.sleep(self.poll_s)
            for name in list(waiting):
                data = await read(name)
                if data is not None:
                    found[name] = data
                    waiting.remove(name)
        return found, LATE if waiting else ""


def _in_order(names: Sequence[str], found: dict[str, bytes], max_bytes: int | None) -> Files:
    kept = [(name, found[name]) for name in names
            if name in found and (max_bytes is None or len(found[name]) <= max_bytes)]
    return Files(tuple(kept), tuple(name for name in names if name not in dict(kept)))
