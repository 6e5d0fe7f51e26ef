"""Family trees: the ancestry walk, collapsed chains of kept melodies, and the picture."""

from __future__ import annotations

import io

from PIL import Image

from domain.model import Note
from engine.lineage import LineageNode, ancestry, collapse, edge_operator, tree_png

TUNE = (Note(60, 0, 8), Note(64, 8, 16), Note(67, 16, 32))


def node(node_id: str, generation: int, operators: tuple[str, ...], parents: tuple[str, ...] = (),
         votes: int = 0) -> LineageNode:
    return LineageNode(node_id, generation, TUNE, operators, parents, votes)


def long_line(generations: int) -> list[LineageNode]:
    """Candidate 1 kept unchanged generation after generation, beside unrelated candidates 2."""
    nodes = [node("b-g1-1", 0, ("foreign",)), node("b-g1-2", 0, ("foreign",))]
    for g in range(1, generations):
        nodes.append(node(f"b-g{g + 1}-1", g, ("kept",), (f"b-g{g}-1",), votes=1))
        nodes.append(node(f"b-g{g + 1}-2", g, ("foreign",)))
    return nodes


def test_the_ancestry_is_the_leaf_and_its_ancestors_oldest_first() -> None:
    nodes = [node("b-g1-1", 0, ("foreign",)), node("b-g1-2", 0, ("foreign",)), node("b-g1-3", 0, ("foreign",)),
             node("b-g2-1", 1, ("crossover", "mutated"), ("b-g1-1", "b-g1-2")), node("b-g2-2", 1, ("foreign",))]
    family = ancestry({n.node_id: n for n in nodes}, "b-g2-1")
    assert [n.node_id for n in family] == ["b-g1-1", "b-g1-2", "b-g2-1"]


def test_a_parent_that_is_not_known_ends_that_line_of_the_walk() -> None:
    nodes = {"b-g2-1": node("b-g2-1", 1, ("kept",), ("gone-g1-1",))}
    assert [n.node_id for n in ancestry(nodes, "b-g2-1")] == ["b-g2-1"]


def test_a_chain_of_kept_melodies_is_one_box_and_a_mutation_starts_a_new_one() -> None:
    nodes = long_line(12)
    boxes = collapse(ancestry({n.node_id: n for n in nodes}, "b-g12-1"))
    assert len({id(box) for box in boxes.values()}) == 1
    assert boxes["b-g12-1"].kept == 11 and boxes["b-g12-1"].oldest.node_id == "b-g1-1"
    mutated = node("b-g13-1", 12, ("kept", "mutated"), ("b-g12-1",))
    boxes = collapse(ancestry({n.node_id: n for n in [*nodes, mutated]}, "b-g13-1"))
    assert len({id(box) for box in boxes.values()}) == 2
    assert edge_operator(mutated) == "mutated" and edge_operator(nodes[2]) == "kept"


def test_the_tree_of_twelve_kept_generations_is_one_small_picture() -> None:
    image = Image.open(io.BytesIO(tree_png(long_line(12), "b-g12-1", "Family tree")))
    assert image.format == "PNG" and image.height < 300


def test_a_branched_tree_has_a_row_per_generation_back_to_the_first() -> None:
    nodes = [node("a-g1-1", -3, ("foreign",)), node("a-g2-1", -2, ("kept", "mutated"), ("a-g1-1",)),
             node("b-g1-1", -1, ("seed",), ("a-g2-1",)), node("b-g2-1", 0, ("crossover",), ("b-g1-1", "a-g2-1"))]
    small = Image.open(io.BytesIO(tree_png(nodes[:1], "a-g1-1")))
    tall = Image.open(io.BytesIO(tree_png(nodes, "b-g2-1", "Family tree: b-g2-1")))
    assert tall.height > 3 * small.height // 2
