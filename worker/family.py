"""A melody's family, read from the store: every ancestor back to generation 1, across branched breeds.

The walk follows the parents each candidate records: ids of its own breed's previous generation,
or (in a breed branched from another) the melody id of the candidate it was branched from. The
nodes it gives are engine.lineage's; drawing them is engine.lineage's too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.errors import BreedError
from domain.ids import MelodyRef, resolve_parent
from domain.model import Breed, Generation
from domain.nudges import describe
from engine.lineage import NUDGED, LineageNode

if TYPE_CHECKING:
    from storage.store import BreedStore

# Enough for 40 generations of 10 candidates; a tree beyond that would not be readable anyway.
MAX_NODES = 400


class _Reader:
    """Breeds, generations and tallies read once each during one walk."""

    def __init__(self, store: BreedStore) -> None:
        self.store = store
        self._breeds: dict[str, Breed | None] = {}
        self._generations: dict[tuple[str, int], Generation | None] = {}
        self._tallies: dict[tuple[str, int], list[int]] = {}

    async def breed(self, breed_id: str) -> Breed | None:
        if breed_id not in self._breeds:
            self._breeds[breed_id] = await self.store.breeds.get(breed_id)
        return self._breeds[breed_id]

    async def generation(self, breed_id: str, number: int) -> Generation | None:
        key = (breed_id, number)
        if key not in self._generations:
            self._generations[key] = await self.store.breeds.get_generation(breed_id, number)
        return self._generations[key]

    async def votes(self, breed: Breed, number: int, index: int) -> int:
        key = (breed.breed_id, number)
        if key not in self._tallies:
            self._tallies[key] = await self.store.votes.tally(breed.breed_id, number, breed.params.population)
        tally = self._tallies[key]
        return tally[index] if index < len(tally) else 0


async def family_nodes(store: BreedStore, leaf: MelodyRef) -> list[LineageNode]:
    """The leaf and its ancestors as lineage nodes; a node's `generation` is minus its distance from the leaf.

    Distances order the rows across breeds: a branched breed's generation 1 comes right after the
    candidate it was branched from, whatever that candidate's own generation number.
    """
    reader = _Reader(store)
    nodes: dict[str, LineageNode] = {}
    frontier: list[tuple[MelodyRef, int]] = [(leaf, 0)]
    while frontier and len(nodes) < MAX_NODES:
        ref, distance = frontier.pop(0)
        node_id = str(ref)
        if node_id in nodes:
            continue
        breed = await reader.breed(ref.breed_id)
        generation = await reader.generation(ref.breed_id, ref.generation)
        if breed is None or generation is None or not 0 <= ref.index < len(generation.candidates):
            continue
        candidate = generation.candidates[ref.index]
        parents = []
        for parent in candidate.parents:
            try:
                parents.append(resolve_parent(ref.breed_id, parent))
            except BreedError:
                continue  # a parent recorded in a form this walk does not know: the tree ends there
        nodes[node_id] = LineageNode(
            node_id=node_id, generation=-distance, notes=tuple(generation.melodies[ref.index]),
            operators=candidate.operators, parents=tuple(str(parent) for parent in parents),
            votes=await reader.votes(breed, ref.generation, ref.index),
            nudges=describe(dict(generation.nudges)) if NUDGED in candidate.operators else "",
        )
        frontier.extend((parent, distance + 1) for parent in parents)
    return list(nodes.values())
