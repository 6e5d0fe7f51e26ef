"""What front ends read to show a breed: `service.reads`, a collaborator of the breeding service.

Front ends never reach the store: what a page, a post or a terminal shows comes from here (and
from the other collaborators), so the store's keys and calls can change without a front end noticing.
"""

from __future__ import annotations

from domain.model import Breed, Generation
from domain.rules import morph_marker
from service.stores import BreedStates, PostMarks


class Reads:
    """Lookups of breeds and their generations, for front ends (their files: service.media)."""

    def __init__(self, breeds: BreedStates, posts: PostMarks) -> None:
        self.breeds = breeds
        self.posts = posts

    async def lookup(self, breed_id: str) -> Breed | None:
        """The breed, or None when there is none (`get` refuses that with a message instead)."""
        return await self.breeds.get(breed_id)

    async def open_breeds(self, front: str | None = None) -> list[Breed]:
        """Breeds still going (of one front end, if given), oldest first."""
        return [breed for breed in await self.breeds.open_breeds() if front is None or breed.front == front]

    async def generation(self, breed_id: str, number: int) -> Generation | None:
        return await self.breeds.get_generation(breed_id, number)

    async def made_morphs(self, breed: Breed) -> list[tuple[int, int]]:
        """The pairs (0-based) whose morph of the current generation was made and shown."""
        population = range(breed.params.population)
        pairs = {morph_marker(a, b): (a, b) for a in population for b in population if a != b}
        made = await self.posts.posted_kinds(breed.breed_id, breed.generation, list(pairs))
        return [pair for marker, pair in pairs.items() if marker in made]
