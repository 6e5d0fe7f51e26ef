"""The breeding service: a breed's state transitions over the store, without Discord.

The cogs and the controller translate Discord into calls here. Each transition checks that
it is allowed from the breed's status (`refusal`, a pure function) and raises BreedError with
a message for people when it is not. Callers serialise calls per breed (the controller's
per-breed lock); every write goes through the store's atomic updates.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping

from bot import voting
from bot.errors import BreedError
from storage import BreedStore
from storage.schemas import (
    MORPH_MAX_STEPS,
    MORPH_MIN_STEPS,
    OPEN_STATUSES,
    Breed,
    BreedParams,
    Job,
    SchemaError,
)

log = logging.getLogger(__name__)

_CLOSED_MESSAGES = {
    "finished": "This breed is finished.",
    "stopped": "This breed was stopped.",
    "failed": "This breed failed; start a new one with /breed start.",
}


def refusal(breed: Breed, action: str) -> str | None:
    """Why `action` is not possible in the breed's current state, or None when it is.

    "close" and "finish" need open voting, "stop" and "sigma" an open breed, "post" (a generation
    the worker made) a step in progress, "finished" (the winner's files) a finish in progress,
    "morph" (anyone's, it changes nothing) a generation up for votes.
    """
    status = breed.status
    if action == "morph":
        if status == "voting":
            return None
        if status == "starting":
            return "Generation 1 is still being made; morph between its candidates once it is posted."
        if status == "evolving":
            if breed.winner is not None:
                return "The winner is being rendered; morphs are made while a generation is up for votes."
            return "The next generation is on its way; morph between its candidates once it is posted."
        return _CLOSED_MESSAGES.get(status, f"This breed is {status}.")
    if action in ("stop", "sigma"):
        return None if status in OPEN_STATUSES else _CLOSED_MESSAGES.get(status, f"This breed is {status}.")
    if action in ("close", "finish"):
        if status == "voting":
            return None
        if status == "starting":
            return "Generation 1 is still being made; vote once it is posted."
        if status == "evolving":
            if breed.winner is not None:
                return "The winner is being rendered already."
            return "Voting is closed already; the next generation is on its way."
        return _CLOSED_MESSAGES.get(status, f"This breed is {status}.")
    if action == "post":
        return None if status in ("starting", "evolving") and breed.winner is None else "no step in progress"
    if action == "finished":
        return None if status == "evolving" and breed.winner is not None else "no finish in progress"
    raise ValueError(f"unknown action {action!r}")


def morph_marker(start: int, end: int, *, failed: bool = False) -> str:
    """The posting marker (kind) of the morph from candidate `start` to `end` (0-based), or of its failure."""
    return f"morph-{start + 1}-{end + 1}" + ("-failed" if failed else "")


def require(breed: Breed, action: str) -> None:
    reason = refusal(breed, action)
    if reason is not None:
        raise BreedError(reason)


class BreedingService:
    """Breeds in Redis: create, vote, close voting, finish, stop, morph. `clock()` gives seconds since the epoch."""

    def __init__(self, store: BreedStore, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    # --- options ---------------------------------------------------------------------------

    @staticmethod
    def params(defaults: BreedParams, **choices: object) -> BreedParams:
        """The defaults with the options people gave (None: not given), validated."""
        given = {name: value for name, value in choices.items() if value is not None}
        try:
            params = dataclasses.replace(defaults, **given)
            params.validate()
        except SchemaError as error:
            raise BreedError(f"Cannot start: {error}.") from None
        return params

    # --- lookup ----------------------------------------------------------------------------

    async def get(self, breed_id: str) -> Breed:
        breed = await self.store.get_breed(breed_id)
        if breed is None:
            raise BreedError(f"There is no breed `{breed_id}`.")
        return breed

    async def find(self, breed_id: str | None, channel_id: int | None) -> Breed:
        """The breed named by id, else the breed whose thread `channel_id` is."""
        if breed_id:
            return await self.get(breed_id.strip().lower())
        found = await self.store.breed_for_thread(channel_id) if channel_id is not None else None
        if found is None:
            raise BreedError("Use this command in a breed's thread, or give the breed's id.")
        return await self.get(found)

    # --- start -----------------------------------------------------------------------------

    async def create(
        self,
        *,
        breed_id: str,
        owner_id: int,
        params: BreedParams,
        guild_id: int | None,
        channel_id: int,
        thread_id: int,
        progress_message_id: int,
        seed: bytes | None = None,
    ) -> Breed:
        """Store a new breed and ask a worker for its first generation."""
        seed_key = await self.store.save_upload(seed) if seed is not None else None
        breed = Breed(
            breed_id=breed_id, owner_id=owner_id, params=params, guild_id=guild_id, channel_id=channel_id,
            thread_id=thread_id, status="starting", created_at=self.clock(),
            progress_message_id=progress_message_id,
        )
        await self.store.create_breed(breed)
        await self.store.enqueue_job(Job("start", breed_id, -1, seed_midi_key=seed_key))
        log.info("breed %s gen -1: started by user %d (seeded: %s)", breed_id, owner_id, seed is not None)
        return breed

    # --- votes -----------------------------------------------------------------------------

    async def record_vote(self, message_id: int, emoji: str, user_id: int, *, added: bool) -> bool:
        """Mirror one reaction into Redis; False when it is not a vote on an open generation."""
        index = voting.index_of(emoji)
        if index is None:
            return False
        target = await self.store.message_target(message_id)
        if target is None:
            return False
        breed_id, generation = target
        breed = await self.store.get_breed(breed_id)
        if breed is None or breed.status != "voting" or breed.generation != generation:
            return False
        if index >= breed.params.population:
            return False
        if added:
            return await self.store.add_vote(breed_id, generation, index, user_id)
        return await self.store.remove_vote(breed_id, generation, index, user_id)

    async def shows_votes(self, breed: Breed, message_id: int | None) -> bool:
        """Whether `message_id` is the vote message of the breed's current generation."""
        if message_id is None:
            return False
        return await self.store.message_target(message_id) == (breed.breed_id, breed.generation)

    async def tally(self, breed: Breed, votes: Mapping[int, set[int]] | None = None) -> tuple[int, ...]:
        """The fitness of the current generation; `votes` (read from Discord) replace the mirror first."""
        population = breed.params.population
        if votes is not None:
            await self.store.replace_votes(breed.breed_id, breed.generation, dict(votes))
        return tuple(await self.store.tally(breed.breed_id, breed.generation, population))

    # --- steps -----------------------------------------------------------------------------

    async def close_voting(self, breed: Breed, fitness: tuple[int, ...], progress_message_id: int) -> Breed:
        """Voting -> evolving: the votes become the fitness of an evolve job."""
        require(breed, "close")
        changed = await self.store.update_breed(
            breed.breed_id, status="evolving", vote_deadline=None, progress_message_id=progress_message_id
        )
        await self.store.enqueue_job(
            Job("evolve", breed.breed_id, breed.generation, fitness=fitness, sigma=breed.params.sigma)
        )
        log.info("breed %s gen %d: voting closed, fitness %s", breed.breed_id, breed.generation, fitness)
        return changed

    def choose_winner(self, breed: Breed, candidate: int | None, fitness: tuple[int, ...]) -> int:
        """The 0-based winner: the candidate people named (1-based), else the top-voted one."""
        population = breed.params.population
        if candidate is not None:
            if not 1 <= candidate <= population:
                raise BreedError(f"There is no candidate {candidate}: this breed has 1 to {population}.")
            return candidate - 1
        top = voting.top_candidate(fitness)
        if top is None:
            raise BreedError("Nobody has voted yet: vote first, or name one with /breed finish candidate:N.")
        return top

    async def begin_finish(self, breed: Breed, winner: int, progress_message_id: int) -> Breed:
        """Voting -> evolving with a winner: a finish job renders the winner's files."""
        require(breed, "finish")
        changed = await self.store.update_breed(
            breed.breed_id, status="evolving", vote_deadline=None, winner=winner,
            progress_message_id=progress_message_id,
        )
        await self.store.enqueue_job(Job("finish", breed.breed_id, breed.generation, candidate=winner))
        log.info("breed %s gen %d: finishing with candidate %d", breed.breed_id, breed.generation, winner)
        return changed

    async def request_morph(self, breed: Breed, start: int, end: int, steps: int) -> tuple[int, int]:
        """Ask for the morph between two candidates (1-based) of the generation up for votes.

        Returns the pair 0-based. A pair's morph is made once per generation: asking again once it
        is posted is refused, asking again after it failed tries again.
        """
        require(breed, "morph")
        population = breed.params.population
        for candidate in (start, end):
            if not 1 <= candidate <= population:
                raise BreedError(f"There is no candidate {candidate}: this breed has 1 to {population}.")
        if start == end:
            raise BreedError("A morph goes from one candidate to another: pick two different ones.")
        if not MORPH_MIN_STEPS <= steps <= MORPH_MAX_STEPS:
            raise BreedError(f"A morph takes {MORPH_MIN_STEPS} to {MORPH_MAX_STEPS} steps, not {steps}.")
        a, b = start - 1, end - 1
        number = breed.generation
        if await self.store.is_posted(breed.breed_id, number, morph_marker(a, b)):
            raise BreedError(
                f"The morph from candidate {start} to candidate {end} of generation {number + 1} "
                "is in the thread already."
            )
        await self.store.unmark_posted(breed.breed_id, number, morph_marker(a, b, failed=True))
        await self.store.enqueue_job(Job("morph", breed.breed_id, number, candidate=a, other=b, steps=steps))
        log.info("breed %s gen %d: morph %d -> %d in %d steps asked for", breed.breed_id, number, a, b, steps)
        return a, b

    def deadline(self, breed: Breed) -> float:
        """When voting that opens now closes."""
        return self.clock() + breed.params.vote_minutes * 60

    async def open_voting(
        self, breed: Breed, generation: int, deadline: float, vote_message_id: int | None
    ) -> Breed:
        """Starting/evolving -> voting on a posted generation until `deadline`.

        `vote_message_id` is None when the post happened before a restart and its id is lost;
        the votes mirrored from reactions then stand for the tally.
        """
        require(breed, "post")
        changes: dict[str, object] = {"status": "voting", "vote_deadline": deadline}
        if vote_message_id is not None:
            await self.store.link_message(vote_message_id, breed.breed_id, generation)
            # While people vote, the breed's progress message is the vote message itself.
            changes["progress_message_id"] = vote_message_id
        changed = await self.store.update_breed(breed.breed_id, **changes)
        log.info("breed %s gen %d: voting open until %.0f", breed.breed_id, generation, deadline)
        return changed

    async def mark_finished(self, breed: Breed) -> Breed:
        require(breed, "finished")
        return await self.store.update_breed(breed.breed_id, status="finished")

    async def step_failed(self, breed: Breed) -> Breed:
        """A worker job failed: back to voting on the last generation, or failed without one."""
        if breed.generation < 0:
            return await self.store.update_breed(breed.breed_id, status="failed", vote_deadline=None)
        # No deadline: the votes are kept, and people retry with Next or /breed next.
        return await self.store.update_breed(breed.breed_id, status="voting", winner=None, vote_deadline=None)

    async def stop(self, breed: Breed) -> Breed:
        require(breed, "stop")
        log.info("breed %s gen %d: stopped", breed.breed_id, breed.generation)
        return await self.store.update_breed(breed.breed_id, status="stopped", vote_deadline=None)

    async def set_sigma(self, breed: Breed, sigma: float) -> Breed:
        """Change the mutation σ used from the next step on."""
        require(breed, "sigma")
        params = dataclasses.replace(breed.params, sigma=sigma)
        try:
            params.validate()
        except SchemaError as error:
            raise BreedError(f"Cannot change the mutation: {error}.") from None
        log.info("breed %s gen %d: sigma %.3g -> %.3g", breed.breed_id, breed.generation, breed.params.sigma, sigma)
        return await self.store.update_breed(breed.breed_id, params=params)
