"""Family trees: where a melody came from, as a walk over its ancestors and as a PNG.

Pure: nodes in, nodes or PNG bytes out (Pillow only). A node is one candidate; its parents are
the ids of other nodes. The picture has one row per generation (oldest on top), one small piano
roll per melody with its id and votes, and edges coloured and named by operator. A chain of
candidates that were only kept (the same vector, generation after generation) is drawn once,
"kept since", so that ten or more generations stay readable.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from domain.model import Note
from engine.pianoroll import BACKGROUND, LABEL, TEXT, WINNER_NOTE, _draw_roll, _font, _Grid

KEPT = "kept"
OPERATOR_COLOURS = {
    "kept": (148, 155, 164),
    "crossover": (255, 138, 76),
    "mutated": (176, 124, 255),
    "foreign": (76, 217, 138),
    "seed": (255, 210, 76),
    "preference": (111, 180, 255),  # bred from the model of every vote (the default strategy)
    "nudged": (255, 105, 180),  # moved along attribute vectors by the group's nudges
}
NUDGED = "nudged"
NODE_WIDTH = 170
ROLL_HEIGHT = 44
NODE_HEIGHT = ROLL_HEIGHT + 34
ROW_GAP = 46
COLUMN_GAP = 14
MARGIN = 16
TITLE_HEIGHT = 40
LEGEND_HEIGHT = 26
MIN_WIDTH = 640


@dataclass(frozen=True)
class LineageNode:
    """One melody in a family tree. `generation` orders the rows (0: the oldest)."""

    node_id: str
    generation: int
    notes: tuple[Note, ...]
    operators: tuple[str, ...]
    parents: tuple[str, ...]
    votes: int = 0
    nudges: str = ""  # the nudges that moved it, in words ("fewer notes 2"), if any


def ancestry(nodes: Mapping[str, LineageNode], leaf_id: str) -> list[LineageNode]:
    """The leaf and its ancestors among `nodes`, oldest generation first; a parent not in `nodes` ends a line."""
    seen: dict[str, LineageNode] = {}
    frontier = [leaf_id]
    while frontier:
        node_id = frontier.pop()
        node = nodes.get(node_id)
        if node is None or node_id in seen:
            continue
        seen[node_id] = node
        frontier.extend(node.parents)
    return sorted(seen.values(), key=lambda node: (node.generation, node.node_id))


def edge_operator(child: LineageNode) -> str:
    """The operator an edge into `child` is named by: nudged (what the group asked for) wins, then
    mutated over how the vector was made."""
    if NUDGED in child.operators:
        return NUDGED
    if "mutated" in child.operators and child.operators[0] in (KEPT, "seed"):
        return "mutated"
    return child.operators[0] if child.operators else "foreign"


def _kept_only(node: LineageNode) -> bool:
    return node.operators == (KEPT,) and len(node.parents) == 1


@dataclass
class _Box:
    """A drawn node: the newest node of a kept chain stands for all of it."""

    node: LineageNode
    oldest: LineageNode
    kept: int = 0


def collapse(nodes: Sequence[LineageNode]) -> dict[str, _Box]:
    """Node id -> its box; a node only kept from its parent shares the parent's box."""
    by_id = {node.node_id: node for node in nodes}
    boxes: dict[str, _Box] = {}
    for node in sorted(nodes, key=lambda n: n.generation):
        parent = by_id.get(node.parents[0]) if _kept_only(node) else None
        if parent is not None and parent.node_id in boxes:
            box = boxes[parent.node_id]
            # Only a straight chain collapses: a parent kept into two children keeps both visible.
            if sum(1 for n in nodes if parent.node_id in n.parents) == 1:
                box.node, box.kept = node, box.kept + 1
                boxes[node.node_id] = box
                continue
        boxes[node.node_id] = _Box(node, node)
    return boxes


def tree_png(nodes: Sequence[LineageNode], leaf_id: str, title: str = "") -> bytes:
    """The family tree of `leaf_id` among `nodes`, as a PNG."""
    family = ancestry({node.node_id: node for node in nodes}, leaf_id)
    boxes = collapse(family)
    unique = list({id(box): box for box in boxes.values()}.values())
    rows = sorted({box.node.generation for box in unique})
    row_of = {generation: row for row, generation in enumerate(rows)}
    per_row: dict[int, list[_Box]] = {}
    for box in sorted(unique, key=lambda b: b.node.node_id):
        per_row.setdefault(row_of[box.node.generation], []).append(box)
    columns = max(len(row) for row in per_row.values())
    width = max(MIN_WIDTH, 2 * MARGIN + columns * NODE_WIDTH + (columns - 1) * COLUMN_GAP)
    top = MARGIN + TITLE_HEIGHT + LEGEND_HEIGHT
    height = top + len(rows) * NODE_HEIGHT + (len(rows) - 1) * ROW_GAP + MARGIN
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, MARGIN + TITLE_HEIGHT / 2), title, fill=TEXT, font=_font(20), anchor="lm")
    _draw_legend(draw, MARGIN, MARGIN + TITLE_HEIGHT)

    place: dict[int, tuple[int, int]] = {}
    for row, row_boxes in per_row.items():
        span = len(row_boxes) * NODE_WIDTH + (len(row_boxes) - 1) * COLUMN_GAP
        left = (width - span) // 2
        for column, box in enumerate(row_boxes):
            place[id(box)] = (left + column * (NODE_WIDTH + COLUMN_GAP), top + row * (NODE_HEIGHT + ROW_GAP))

    grid = _Grid.around([node.notes for node in family], 32)
    for box in unique:
        child_x, child_y = place[id(box)]
        for parent_id in box.oldest.parents:
            parent = boxes.get(parent_id)
            if parent is None:
                continue
            parent_x, parent_y = place[id(parent)]
            operator = edge_operator(box.oldest)
            colour = OPERATOR_COLOURS.get(operator, LABEL)
            start = (parent_x + NODE_WIDTH // 2, parent_y + NODE_HEIGHT)
            end = (child_x + NODE_WIDTH // 2, child_y)
            draw.line((*start, *end), fill=colour, width=2)
            label = f"{operator}: {box.oldest.nudges}" if operator == NUDGED and box.oldest.nudges else operator
            draw.text((end[0] + 4, end[1] - 10), label, fill=colour, font=_font(11), anchor="lm")
    for box in unique:
        x, y = place[id(box)]
        _draw_node(draw, x, y, box, grid, highlight=box.node.node_id == leaf_id)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _draw_node(draw: ImageDraw.ImageDraw, x: int, y: int, box: _Box, grid: _Grid, *, highlight: bool) -> None:
    node = box.node
    if highlight:
        draw.rectangle((x - 3, y - 3, x + NODE_WIDTH + 3, y + NODE_HEIGHT + 3), outline=WINNER_NOTE, width=2)
    _draw_roll(draw, (x, y, x + NODE_WIDTH, y + ROLL_HEIGHT), node.notes, grid, WINNER_NOTE)
    votes = "1 vote" if node.votes == 1 else f"{node.votes} votes"
    if box.kept:
        votes += f", kept since {_generation_label(box.oldest.node_id)}"
    draw.text((x + 2, y + ROLL_HEIGHT + 9), node.node_id, fill=TEXT, font=_font(13), anchor="lm")
    draw.text((x + 2, y + ROLL_HEIGHT + 25), votes, fill=LABEL, font=_font(12), anchor="lm")


def _generation_label(node_id: str) -> str:
    """The "g3" of a melody id "ab12cd34-g3-5" (the whole id if it has none)."""
    _breed, separator, rest = node_id.rpartition("-g")
    return f"g{rest.partition('-')[0]}" if separator else node_id


def _draw_legend(draw: ImageDraw.ImageDraw, x: int, y: int) -> None:
    for operator, colour in OPERATOR_COLOURS.items():
        draw.line((x, y + 10, x + 18, y + 10), fill=colour, width=3)
        draw.text((x + 22, y + 10), operator, fill=colour, font=_font(12), anchor="lm")
        x += 30 + 8 * len(operator)
