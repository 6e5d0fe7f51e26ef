"""Nudges in the family tree: a nudged melody's edge is the `nudged` operator, named with the nudges."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from domain.ids import MelodyRef
from domain.model import Breed, BreedParams, Candidate, Generation, Note
from engine.lineage import OPERATOR_COLOURS, LineageNode, edge_operator, tree_png
from storage import BreedStore
from worker.family import family_nodes

TUNE = (Note(60, 0, 8), Note(64, 8, 16), Note(67, 16, 32))


def pixels_of(png: bytes, colour: tuple[int, int, int]) -> int:
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return int((image == np.array(colour)).all(axis=-1).sum())


def test_a_nudged_melodys_edge_is_drawn_as_the_nudged_operator() -> None:
    parent = LineageNode("b-g1-1", 0, TUNE, ("foreign",), ())
    plain = LineageNode("b-g2-1", 1, TUNE, ("preference", "mutated"), ("b-g1-1",))
    nudged = LineageNode("b-g2-1", 1, TUNE, ("preference", "mutated", "nudged"), ("b-g1-1",), nudges="fewer notes 2")
    assert edge_operator(plain) == "preference" and edge_operator(nudged) == "nudged"
    colour = OPERATOR_COLOURS["nudged"]
    legend_only = pixels_of(tree_png([parent, plain], "b-g2-1"), colour)
    with_edge = pixels_of(tree_png([parent, nudged], "b-g2-1"), colour)
    assert with_edge > legend_only + 50  # the edge and its label are drawn in the operator's colour


async def test_the_family_walk_names_the_nudges_that_moved_a_melody(store: BreedStore) -> None:
    breed = Breed("b1", 1, BreedParams(population=2), status="voting", generation=1, front="discord")
    await store.breeds.create(breed)
    first = Generation("b1", 0, (Candidate("g0-1", 0, ("foreign",), ()), Candidate("g0-2", 1, ("foreign",), ())),
                       (TUNE, TUNE))
    second = Generation("b1", 1, (Candidate("g1-1", 0, ("kept",), ("g0-1",)),
                                  Candidate("g1-2", 1, ("preference", "nudged"), ("g0-1",))),
                        (TUNE, TUNE), fitness=(1, 0), nudges=(("density", -2.0), ("register", 1.0)))
    for generation in (first, second):
        await store.breeds.write_generation(generation, np.zeros((2, 4), np.float32), {})
    nodes = {node.node_id: node for node in await family_nodes(store, MelodyRef("b1", 1, 1))}
    assert nodes[str(MelodyRef("b1", 1, 1))].nudges == "fewer notes 2, higher"
    assert nodes[str(MelodyRef("b1", 0, 0))].nudges == ""
    kept = {node.node_id: node for node in await family_nodes(store, MelodyRef("b1", 1, 0))}
    assert kept[str(MelodyRef("b1", 1, 0))].nudges == ""
