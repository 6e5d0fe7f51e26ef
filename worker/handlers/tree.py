"""tree: the family tree of one candidate, written once per candidate and generation."""

from __future__ import annotations

from domain import artifacts
from domain.ids import MelodyRef
from domain.jobs import JobKind, TreeJob
from storage.codec import Event
from worker.handlers.base import Handles


class Tree(Handles[TreeJob]):
    kind = JobKind.TREE

    async def handle(self, job: TreeJob) -> None:
        await self.melodies.named_candidate(job.breed_id, job.generation, job.candidate)
        name = artifacts.tree_name(job.candidate)
        if await self.store.breeds.get_artifact(job.breed_id, job.generation, name) is None:
            png = await self.melodies.family_tree(MelodyRef(job.breed_id, job.generation, job.candidate),
                                                  "Family tree")
            await self.results.breed_files(job.breed_id, job.generation, {name: png})
        await self.results.publish(Event("tree_ready", job.breed_id, job.generation, candidate=job.candidate))
