"""One handler per job kind. A new kind is its type in domain.jobs, a module here, and a line below."""

from __future__ import annotations

from typing import Any

from worker.handlers.base import Handles, Kit
from worker.handlers.compose import Compose
from worker.handlers.evolve import Evolve
from worker.handlers.finish import Finish
from worker.handlers.morph import Morph
from worker.handlers.render import Render
from worker.handlers.start import Start
from worker.handlers.tree import Tree
from worker.handlers.tune import Tune

__all__ = ["HANDLERS", "Handles", "Kit", "handlers"]

HANDLERS: tuple[type[Handles[Any]], ...] = (Start, Evolve, Finish, Morph, Tree, Compose, Tune, Render)


def handlers(kit: Kit) -> dict[str, Handles[Any]]:
    """Each kind's handler, sharing `kit`."""
    return {cls.kind: cls(kit) for cls in HANDLERS}
