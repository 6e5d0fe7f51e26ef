"""The breeding service: every state change of a breed, and its checks, for every front end.

The bot, the terminal session and the web page call this and nothing else to change a breed.
Each transition runs under the breed's lock (per process), checks who asks (`domain.rules`),
checks the breed's state, writes through the store's atomic updates and enqueues the job.
Where a front end must show something *before* the state changes (Discord posts first, so
that a failed post leaves the breed as it was), it passes a callback (`announce`, `post`)
that the service calls at that point; everything else comes back in the result.

The service's other concepts are collaborators it holds, each with its own part of the store:
`votes`, `nudges`, `melodies` (melody ids, family trees), `gallery`, `compositions`, `tunes`,
`results` (what the worker made, shown once), `reads` (what front ends show) and `sessions`
(terminal sessions' groups of the events stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from domain import limits
from domain.errors import BreedError, ParamsError, UnknownBreedError
from domain.ids import MelodyRef
from domain.jobs import EvolveJob, FinishJob, MorphJob, StartJob
from domain.limits import ServerLimits
from domain.model import FRONTS, Breed, BreedParams, Front, Status, choose
from domain.rules import STEER_REFUSAL, Actor, EndReason, end_line, ends_by_itself, may_steer, morph_marker, refusal
from domain.votes import top_candidate
from runtime.metrics import Metrics
from service.compositions import Compositions
from service.events import SessionGroups
from service.gallery import Gallery
from service.media import Media
from service.melodies import Melodies
from service.nudges import Nudges
from service.queue import DEFAULT_MAX_QUEUED_JOBS, JobQueue
from service.reads import Reads
from service.results import WorkerResults
from service.spacing import RequestSpacing
from service.stores import Store
from service.tunes import Tunes
from service.votes import ReadVotes, Votes
from storage import BreedChanges, LockTimeout

log = logging.getLogger(__name__)

# Shows that voting closed (or that the winner is coming) before the state changes; returns the id
# of the message that shows the step's progress from now on, if the front end has one.
Announce = Callable[[Breed, tuple[int, ...]], Awaitable[int | None]]


@dataclass(frozen=True)
class Ending:
    """A breed that ends by itself as its vote closes: why, in one line, and the melody it keeps (0-based)."""

    reason: EndReason
    line: str
    generation: int
    winner: int


# Shows that the breed ends by itself (before the state changes, like Announce); returns the id of the
# message that shows the winner's progress from now on, if the front end has one.
AnnounceEnd = Callable[[Breed, Ending], Awaitable[int | None]]


@dataclass(frozen=True)
class Place:
    """Where a breed lives on a front end: Discord ids, or nothing for the terminal and the web page."""

    guild_id: int | None = None
    channel_id: int | None = None
    thread_id: int | None = None
    progress_message_id: int | None = None


@dataclass(frozen=True)
class Transition:
    """A state change: the breed before (what the front end showed) and after, and the votes it used."""

    before: Breed
    breed: Breed
    fitness: tuple[int, ...] = ()
    winner: int | None = None
    nudges: str = ""  # the closed generation's combined nudges in words ("fewer notes ×3")
    ended: str = ""  # why the breed ended by itself as its vote closed, in one line ("" when it goes on)

    @property
    def rerolled(self) -> bool:
        """Nobody voted and the breed goes on: the next generation is a fresh random one."""
        return self.winner is None and not any(self.fitness)


def require(breed: Breed, action: str) -> None:
    reason = refusal(breed, action)
    if reason is not None:
        raise BreedError(reason)


def check_origin(seed: bytes | None, source: MelodyRef | None) -> None:
    """A breed starts from a MIDI file or from a melody id, not from both."""
    if seed is not None and source is not None:
        raise BreedError("Start from a MIDI file or from a melody id, not from both.")


def check_steer(breed: Breed, actor: Actor | None) -> None:
    """BreedError unless `actor` may steer the breed (None: the service itself, e.g. a deadline)."""
    if actor is not None and not may_steer(breed.owner_id, actor):
        raise BreedError(STEER_REFUSAL)


# The Redis lease of a breed's lock: renewed while held, so it only frees the lock of a holder that died.
LOCK_LEASE_S = 60.0


class BreedingService:
    """Breeds in Redis: start, close voting, sigma, finish, morph, stop; the rest through its collaborators.

    `clock()` gives seconds since the epoch; `defaults` are the options people leave out; `limits`
    protect a server (none by default: the terminal and the web page serve one person).
    """

    lock_lease_s = LOCK_LEASE_S

    def __init__(
        self, store: Store, clock: Callable[[], float], defaults: BreedParams | None = None, *,
        limits: ServerLimits | None = None, max_queued_jobs: int = DEFAULT_MAX_QUEUED_JOBS,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        # The process's metrics (served on /metrics): votes, close-to-post, streams, open breeds.
        self.metrics = metrics or Metrics()
        # Set once the streams and their groups exist (prepare): /readyz reads it.
        self.prepared = False
        self.clock = clock
        self.defaults = defaults or BreedParams()
        self.limits = limits or ServerLimits()
        # New work is refused while the workers' queue holds max_queued_jobs (MAX_QUEUED_JOBS) or more.
        self.queue = JobQueue(store.streams.jobs, max_queued_jobs)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.spacing = RequestSpacing(store.locks, self.limits)
        self.votes = Votes(store.votes, store.breeds, self.get, self.lock, counted=self.metrics.vote_counted)
        self.nudges = Nudges(store.breeds, store.nudges, self.lock)
        self.melodies = Melodies(store.breeds, store.gallery, store.posts, self.queue, self.spacing)
        # Files gone from the media store are rendered again for whoever reads them (service.media); a store
        # without one (the in-memory twin, tools) keeps its files until they expire.
        self.media = Media(store.breeds, store.gallery, store.tunes, store.compositions, self.queue,
                           renders=getattr(store, "media", None) is not None)
        self.gallery = Gallery(store.breeds, store.gallery, store.votes, clock, servers=store.servers,
                               spacing=self.spacing, media=self.media)
        self.compositions = Compositions(store.compositions, self.queue, self.melodies.sounding, self.spacing,
                                         store.new_breed_id, clock, media=self.media)
        self.tunes = Tunes(store.tunes, self.queue, self.melodies.sounding, self.spacing, store.new_breed_id, clock,
                           media=self.media)
        self.results = WorkerResults(store.breeds, store.posts, self.lock, self.deadline, self.gallery.keep,
                                     media=self.media)
        self.reads = Reads(store.breeds, store.posts)
        self.sessions = SessionGroups(store.streams.sessions, store.breeds,
                                      lambda breed: self.stop(breed.breed_id, Actor(breed.owner_id)))

    async def prepare(self) -> None:
        """Create the streams and their groups if missing (safe on every start; needs Redis up)."""
        await self.store.streams.ensure_groups()
        self.prepared = True

    async def ping(self) -> bool:
        """Whether the store answers (/readyz); raises when it is away."""
        return await self.store.ping()

    async def refresh_metrics(self) -> None:
        """Set the gauges a scrape of /metrics shows from the store: the streams' numbers and the open breeds."""
        self.metrics.set_streams(await self.store.streams.stats())
        self.metrics.open_breeds.set(len(await self.store.breeds.open_breeds()))

    async def close(self) -> None:
        """Close the connection to Redis (after the events loop stopped: it reads on it)."""
        await self.store.close()

    # --- options and lookup ----------------------------------------------------------------

    def params(self, like: Breed | None = None, **choices: object) -> BreedParams:
        """The defaults with the options people gave (None: not given), validated.

        `like`: a breed branched from, whose tempo and instrument are the defaults (its melody sounds the same).
        """
        defaults = self.defaults
        if like is not None:
            defaults = dataclasses.replace(defaults, tempo=like.params.tempo, instrument=like.params.instrument)
        try:
            return choose(defaults, **choices)
        except ParamsError as error:
            raise BreedError(f"Cannot start: {error}.") from None

    @staticmethod
    def check_seed(name: str, data: bytes) -> None:
        """BreedError unless `data` is a MIDI file with a melody, within the bounds of a seed (engine.midi).

        `start` calls it once the limits and the cooldown let the member start; it takes a moment (call it
        off the loop)."""
        from engine.midi import MidiError, validate_upload

        if not name.lower().endswith(limits.MIDI_SUFFIXES):
            raise BreedError(f"`{name}` is not a MIDI file: use a .mid file.")
        try:
            validate_upload(data, limits.MAX_SEED_BYTES)
        except MidiError as error:
            raise BreedError(f"`{name}` cannot be used: {error}.") from None

    def new_breed_id(self) -> str:
        return self.store.new_breed_id()

    async def get(self, breed_id: str) -> Breed:
        breed = await self.store.breeds.get(breed_id)
        if breed is None:
            raise UnknownBreedError(f"There is no breed `{breed_id}`.")
        return breed

    async def find(self, breed_id: str | None, channel_id: int | None, guild_id: int | None = None) -> Breed:
        """The breed named by id, else the breed whose thread `channel_id` is.

        From a server (`guild_id`), only that server's breeds are found: another server's breed is
        answered as if there were none, so ids leak nothing across servers.
        """
        if breed_id:
            wanted = breed_id.strip().lower()
            breed = await self.get(wanted)
            if guild_id is not None and breed.guild_id != guild_id:
                raise UnknownBreedError(f"There is no breed `{wanted}`.")
            return breed
        found = await self.store.breeds.for_thread(channel_id) if channel_id is not None else None
        if found is None:
            raise BreedError("Use this command in a breed's thread, or give the breed's id.")
        return await self.get(found)

    async def pick(self, text: str | None, channel_id: int | None, guild_id: int | None) -> MelodyRef:
        """The candidate people name: a melody id, or a number in the generation of the thread's breed
        (None: the winner of the thread's finished breed)."""
        if text is not None and not text.strip().isdigit():
            return (await self.melodies.melody(text, guild_id))[0]
        breed = await self.find(None, channel_id)
        if text is None:
            if breed.status != "finished" or breed.winner is None:
                raise BreedError("Name a candidate: its number in this generation, or its melody id.")
            return MelodyRef(breed.breed_id, breed.generation, breed.winner)
        if breed.generation < 0:
            raise BreedError("Generation 1 is still being made; ask once it is posted.")
        number, population = int(text), breed.params.population
        if not 1 <= number <= population:
            raise BreedError(f"There is no candidate {number}: this breed has 1 to {population}.")
        return MelodyRef(breed.breed_id, breed.generation, number - 1)

    @contextlib.asynccontextmanager
    async def lock(self, breed_id: str) -> AsyncIterator[None]:
        """The breed's lock: a deadline, a button and a worker event never interleave, in this process
        (an asyncio lock) nor across processes (a lease in Redis: several bots, the web page)."""
        local = self._locks.get(breed_id)
        if local is None:
            local = self._locks[breed_id] = asyncio.Lock()
        async with local:
            try:
                async with self.store.locks.breed_lock(breed_id, lease_s=self.lock_lease_s):
                    yield
            except LockTimeout:
                raise BreedError("This breed is busy with another request; try again in a moment.") from None

    def deadline(self, breed: Breed) -> float:
        """When voting that opens now closes."""
        return self.clock() + breed.params.vote_minutes * 60

    # --- start -----------------------------------------------------------------------------

    async def start(
        self, *, owner_id: int, params: BreedParams, breed_id: str | None = None, place: Place = Place(),
        seed: bytes | None = None, source: MelodyRef | None = None,
        announce: Callable[[str], Awaitable[Place]] | None = None, front: Front,
        seed_name: str = "seed.mid",
    ) -> Breed:
        """Store a new breed and ask a worker for its first generation: from the seed MIDI, or around the
        melody `source` (a branch: only from a melody of the breed's server), or random.

        The origin, the workers' queue and the server's limits are checked first (open breeds, the member's
        cooldown): a refusal changes nothing. Only then is the seed MIDI (named `seed_name`) parsed, with
        bounds; a file refused then keeps the cooldown it took, so each try at a crafted file costs a wait.
        `announce(breed_id)`, if given, shows the breed (Discord: the start post and its thread) and returns
        where it lives, before the breed is stored. `front`: the front end that shows the breed and handles
        its worker events.
        """
        params.validate()
        if front not in FRONTS:
            raise ValueError(f"unknown front end {front!r}")
        check_origin(seed, source)
        if source is not None:
            await self.melodies.melody(source, place.guild_id)
        await self.queue.check()
        async with self._start_slot(owner_id, place.guild_id, front, seed_name, seed):
            breed_id = breed_id or self.new_breed_id()
            if announce is not None:
                place = await announce(breed_id)
            seed_key = await self.store.breeds.save_upload(seed) if seed is not None else None
            breed = Breed(
                breed_id=breed_id, owner_id=owner_id, params=params, guild_id=place.guild_id,
                channel_id=place.channel_id, thread_id=place.thread_id, status=Status.STARTING, created_at=self.clock(),
                progress_message_id=place.progress_message_id, source=str(source) if source is not None else None,
                front=front,
            )
            await self.store.breeds.create(
                breed, StartJob(breed_id, seed_midi_key=seed_key, source=breed.source))
        log.info("breed %s gen -1: started by user %d (seeded: %s, from %s)", breed_id, owner_id, seed is not None,
                 breed.source)
        return breed

    @contextlib.asynccontextmanager
    async def _start_slot(self, owner_id: int, guild_id: int | None, front: Front, seed_name: str,
                          seed: bytes | None) -> AsyncIterator[None]:
        """The limits checked, then the seed, and the breed stored as one step (a lock per server), and the
        cooldown given back when the start fails after the seed's check."""
        try:
            scope = guild_id if guild_id is not None else front
            async with self.store.locks.start_lock(scope, lease_s=self.lock_lease_s):
                await self.check_start(owner_id, guild_id, front)
                if seed is not None:
                    await asyncio.to_thread(self.check_seed, seed_name, seed)
                try:
                    yield
                except BaseException:
                    await self.store.locks.give_back_cooldown("start", owner_id)
                    raise
        except LockTimeout:
            raise BreedError("Many breeds are starting at once here; try again in a moment.") from None

    async def check_start(self, owner_id: int, guild_id: int | None, front: Front) -> None:
        """BreedError when the server (or the web page) or the member (a web client) has as many open breeds
        as allowed, or the member started one too recently; otherwise the member's start cooldown begins."""
        limit = self.limits
        if limit.open_per_server or limit.open_per_member:
            here = [breed for breed in await self.store.breeds.open_breeds()
                    if breed.guild_id == guild_id and breed.front == front]
            in_server = len(here)
            mine = sum(1 for breed in here if breed.owner_id == owner_id)
            if limit.open_per_server and in_server >= limit.open_per_server:
                place = "This server" if guild_id is not None else "This page"
                raise BreedError(f"{place} has {in_server} open breeds, the most it may have at once: "
                                 "finish or stop one first.")
            if limit.open_per_member and mine >= limit.open_per_member:
                raise BreedError(f"You have {mine} open breeds, the most one member may have at once: "
                                 "finish or stop one first.")
        wait = await self.store.locks.take_cooldown("start", owner_id, limit.start_cooldown_s)
        if wait:
            raise BreedError(f"Slow down: you can start another breed in {math.ceil(wait)} s.")

    # --- steps -----------------------------------------------------------------------------

    async def close_voting(
        self, breed_id: str, actor: Actor | None, *, generation: int | None = None,
        read_votes: ReadVotes | None = None, announce: Announce | None = None,
        announce_end: AnnounceEnd | None = None,
    ) -> Transition:
        """Voting -> evolving: the votes become the fitness of an evolve job.

        `actor` None is the deadline: then `generation` names the vote it closes, and a vote closed
        already is refused quietly ("That vote was closed already.").
        A breed whose vote closes without a vote for the `max_idle_rounds`th time in a row, or on its
        `max_generations`th generation, ends by itself instead (domain.rules.ends_by_itself): it finishes
        as a finish would, with its best melody so far (`best_so_far`), and `announce_end` shows why
        before the state changes; the transition's `winner` and `ended` say so.
        """
        async with self.lock(breed_id):
            breed = await self.get(breed_id)
            if generation is not None and (breed.status != "voting" or breed.generation != generation):
                raise BreedError("That vote was closed already.")
            check_steer(breed, actor)
            require(breed, "close")
            fitness = await self.votes.fitness(breed, read_votes)
            idle_rounds = 0 if any(fitness) else breed.idle_rounds + 1
            reason = ends_by_itself(breed, idle_rounds)
            if reason is not None:
                return await self._end_by_itself(breed, fitness, idle_rounds, reason, announce_end)
            progress = await announce(breed, fitness) if announce is not None else None
            changes: BreedChanges = {"status": Status.EVOLVING, "vote_deadline": None, "idle_rounds": idle_rounds}
            if progress is not None:
                changes["progress_message_id"] = progress
            combined, words = await self.nudges.combined(breed)
            job = EvolveJob(breed_id, breed.generation, fitness=fitness, sigma=breed.params.sigma,
                            nudges=tuple(sorted(combined.items())))
            changed = await self.store.breeds.update(breed_id, job=job, **changes)
            self.metrics.vote_closed(breed_id, breed.generation)
            log.info("breed %s gen %d: voting closed, fitness %s, nudges %s, rounds without a vote %d", breed_id,
                     breed.generation, fitness, combined, idle_rounds)
            return Transition(breed, changed, fitness, nudges=words)

    async def _end_by_itself(
        self, breed: Breed, fitness: tuple[int, ...], idle_rounds: int, reason: EndReason,
        announce_end: AnnounceEnd | None,
    ) -> Transition:
        """The finish of a breed that ends by itself (under its lock, its vote closing with `fitness`)."""
        number, winner = await self.best_so_far(breed, fitness)
        ended = dataclasses.replace(breed, idle_rounds=idle_rounds, ended=reason)
        line = end_line(ended)
        assert line is not None
        progress = await announce_end(breed, Ending(reason, line, number, winner)) if announce_end else None
        changed = await self._finishing(breed, number, winner, progress, {"idle_rounds": idle_rounds, "ended": reason})
        log.info("breed %s gen %d: ended by itself (%s), finishing with candidate %d of generation %d",
                 breed.breed_id, breed.generation, reason, winner, number)
        return Transition(breed, changed, fitness, winner, ended=line)

    async def best_so_far(self, breed: Breed, fitness: tuple[int, ...]) -> tuple[int, int]:
        """The melody a breed that ends by itself keeps: (generation, candidate), 0-based.

        What a finish without a pick chooses: the top-voted candidate (the lowest on a tie) of the
        newest generation anyone voted on, `fitness` being the votes of the one up for votes. The
        generations after it were bred from those votes or re-rolled without any, so it is the group's
        latest favourite. Nobody ever voted: candidate 1 of generation 1, the breed's own melody when it
        started from a MIDI file or a melody id, and as good as any other when it started at random.
        """
        for number in range(breed.generation, -1, -1):
            tally = fitness if number == breed.generation else await self.votes.tally(breed, number)
            top = top_candidate(tally)
            if top is not None:
                return number, top
        return 0, 0

    async def _finishing(
        self, breed: Breed, number: int, winner: int, progress: int | None, extra: BreedChanges | None = None,
    ) -> Breed:
        """Voting -> evolving with a winner (candidate `winner` of generation `number`): the finish job, stored
        with the state change; `extra` are more fields to change."""
        changes: BreedChanges = {"status": Status.EVOLVING, "vote_deadline": None, "winner": winner,
                                 "winner_generation": number}
        changes.update(extra or {})
        if progress is not None:
            changes["progress_message_id"] = progress
        job = FinishJob(breed.breed_id, number, candidate=winner)
        return await self.store.breeds.update(breed.breed_id, job=job, **changes)

    async def finish(
        self, breed_id: str, actor: Actor | None, candidate: int | None = None, *, generation: int | None = None,
        read_votes: ReadVotes | None = None, announce: Announce | None = None,
    ) -> Transition:
        """Voting -> evolving with a winner: a finish job renders the winner's files.

        The winner is `candidate` (1-based) if named, else the top-voted candidate. `generation` may name
        an earlier generation of the breed (default: the one up for votes).
        """
        async with self.lock(breed_id):
            breed = await self.get(breed_id)
            check_steer(breed, actor)
            require(breed, "finish")
            number = breed.generation if generation is None else generation
            if not 0 <= number <= breed.generation:
                raise BreedError(f"There is no generation {number + 1}: this breed has 1 to {breed.generation + 1}.")
            population = breed.params.population
            if candidate is not None:
                if not 1 <= candidate <= population:
                    raise BreedError(f"There is no candidate {candidate}: this breed has 1 to {population}.")
                winner = candidate - 1
                fitness: tuple[int, ...] = ()
            else:
                if number == breed.generation:
                    fitness = await self.votes.fitness(breed, read_votes)
                else:
                    fitness = await self.votes.tally(breed, number)
                top = top_candidate(fitness)
                if top is None:
                    raise BreedError("Nobody has voted yet: vote first, or name the candidate you like.")
                winner = top
            progress = await announce(breed, fitness) if announce is not None else None
            changed = await self._finishing(breed, number, winner, progress)
            log.info("breed %s gen %d: finishing with candidate %d", breed_id, number, winner)
            return Transition(breed, changed, fitness, winner)

    async def stop(self, breed_id: str, actor: Actor | None) -> Transition:
        async with self.lock(breed_id):
            breed = await self.get(breed_id)
            check_steer(breed, actor)
            require(breed, "stop")
            changed = await self.store.breeds.update(breed_id, status=Status.STOPPED, vote_deadline=None)
            log.info("breed %s gen %d: stopped", breed_id, breed.generation)
            return Transition(breed, changed)

    async def set_sigma(self, breed_id: str, actor: Actor | None, sigma: float) -> Breed:
        """Change the mutation σ used from the next step on."""
        async with self.lock(breed_id):
            breed = await self.get(breed_id)
            check_steer(breed, actor)
            require(breed, "sigma")
            params = dataclasses.replace(breed.params, sigma=sigma)
            try:
                params.validate()
            except ParamsError as error:
                raise BreedError(f"Cannot change the mutation: {error}.") from None
            log.info("breed %s gen %d: sigma %.3g -> %.3g", breed_id, breed.generation, breed.params.sigma, sigma)
            return await self.store.breeds.update(breed_id, params=params)

    async def request_morph(
        self, breed_id: str, start: int, end: int, steps: int, actor: Actor | None = None,
    ) -> tuple[int, int]:
        """Ask for the morph between two candidates (1-based) of the generation up for votes; anyone may.

        Returns the pair 0-based. A pair's morph is made once per generation: asking again once it
        is posted is refused, asking again after it failed tries again.
        """
        async with self.lock(breed_id):
            breed = await self.get(breed_id)
            require(breed, "morph")
            population = breed.params.population
            for candidate in (start, end):
                if not 1 <= candidate <= population:
                    raise BreedError(f"There is no candidate {candidate}: this breed has 1 to {population}.")
            if start == end:
                raise BreedError("A morph goes from one candidate to another: pick two different ones.")
            if steps not in limits.MORPH_STEPS:
                low, high = int(limits.MORPH_STEPS.low), int(limits.MORPH_STEPS.high)
                raise BreedError(f"A morph takes {low} to {high} steps, not {steps}.")
            a, b = start - 1, end - 1
            number = breed.generation
            if await self.store.posts.is_posted(breed_id, number, morph_marker(a, b)):
                raise BreedError(
                    f"The morph from candidate {start} to candidate {end} of generation {number + 1} "
                    "is in the thread already."
                )
            await self.queue.check()
            async with self.spacing.taken("morph", actor.user_id if actor is not None else None, "morph"):
                await self.store.posts.unmark_posted(breed_id, number, morph_marker(a, b, failed=True))
                await self.queue.add(MorphJob(breed_id, number, candidate=a, other=b, steps=steps),
                                     f"The morph from candidate {start} to candidate {end} is being made already.")
            log.info("breed %s gen %d: morph %d -> %d in %d steps asked for", breed_id, number, a, b, steps)
            return a, b
