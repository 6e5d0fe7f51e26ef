"""The worker: reads jobs from the `jobs` stream, runs GA + decoder + renderer, writes to Redis.

Delivery is at-least-once, so every job is idempotent on (breed, generation): the random
generator of a step is seeded from the breed id and the generation number, and a generation
(or a winner's files, or the morph of a pair of candidates) that is already written is never
written again (the event is simply published once more).
Jobs whose worker died are reclaimed after `job_timeout_s` (XAUTOCLAIM). A bad job goes to
the dead-letter record with its reason, and an error event tells the bot; the loop goes on.
Every job has a hard deadline (`job_deadline_s`): past it, the job is abandoned like a bad one,
and a render still running for it is ended (`engine.render_process`). The watchdog
(`engine.watchdog`) tells a breed whose step's job is nowhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from domain import artifacts, limits, model
from domain.ids import MelodyRef
from domain.model import Candidate, Generation, Note, candidate_id
from engine import batching
from engine.errors import JobError
from engine.lease import confirm_held, holding
from engine.render_process import render_owner
from engine.tune_jobs import NO_BACKING, TuneJobs
from engine.watchdog import Watchdog
from runtime.backoff import Outage
from runtime.signals import sleep_or_stop
from storage import UNAVAILABLE
from storage.codec import Event, Job
from storage.streams import LeaseLost

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from engine.attributes import AttributeVectors
    from engine.preference import Subspace
    from engine.render import Renderer
    from engine.sampling import LatentModel
    from storage import BreedStore, Delivery

log = logging.getLogger(__name__)

SEED = "seed"
VOTED_CACHE = 1024  # voted generations kept for the preference fit: 8 KB each at population 8


def step_rng(breed_id: str, generation: int, purpose: str = "evolve") -> np.random.Generator:
    """The random generator of one step: the same job always gives the same generation."""
    digest = hashlib.sha256(f"{breed_id}:{generation}:{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class Worker(TuneJobs):
    """One worker process's job loop. The model and renderer are loaded once by the caller.

    The jobs of what outlives a breed (family trees, compositions, branches' seeds) are KeepsakeJobs';
    backing, tunes and the tune job are TuneJobs' (a KeepsakeJobs).
    """

    def __init__(
        self,
        store: BreedStore,
        model: LatentModel,
        renderer: Renderer,
        consumer: str,
        *,
        job_timeout_s: float = 60.0,
        temperature: float = 0.0,
        block_ms: int = 1000,
        max_deliveries: int = 3,
        max_backoff_s: float = 30.0,
        subspace: Subspace | None = None,
        attributes: AttributeVectors | None = None,
        batch: int = 1,
        job_deadline_s: float = 120.0,
    ) -> None:
        """`subspace`: where the model's melodies live (`engine.subspace.load()` for the shipped model), for
        the strategies that search there; None: the whole latent space. `attributes`: the model's attribute
        vectors (`engine.attributes.load()`), that nudges move along; None: nudges are not applied.
        `batch`: how many waiting jobs are taken at once (`engine.batching`). `job_deadline_s`: how long
        one job may run before it is abandoned."""
        self.store = store
        self.model = model
        self.subspace = subspace
        self.attributes = attributes
        self.renderer = renderer
        self.consumer = consumer
        self.job_timeout_ms = int(job_timeout_s * 1000)
        self.job_deadline_s = job_deadline_s
        # A breed whose step's job is nowhere for longer than any job is retried is told (engine.watchdog).
        self.watchdog = Watchdog(store, after_s=job_timeout_s * max_deliveries)
        self.watch_every_s = min(job_timeout_s, 60.0)
        self._next_watch = 0.0
        self.temperature = temperature
        self.block_ms = block_ms
        self.max_deliveries = max_deliveries
        self.outage = Outage(log, f"worker {consumer}", max_s=max_backoff_s)
        self.batch = batch
        self._voted: OrderedDict[tuple[str, int], tuple[NDArray[np.float32], tuple[int, ...]]] = OrderedDict()
        # Jobs read but not done when Redis went away: they are finished first when Redis is back.
        self._in_hand: list[Delivery] = []
        self.handlers: dict[str, Callable[[Job], Any]] = {
            "start": self._start,
            "evolve": self._evolve,
            "finish": self._finish,
            "morph": self._morph,
            "tree": self._tree,
            "compose": self._compose,
            "tune": self._tune,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Handle jobs until `stop` is set; the job in hand is always finished first.

        Redis being away (not up yet, restarting, loading) never ends the loop: it waits with
        capped back-off, logged once per outage, and then finishes the job it had in hand.
        """
        ready = False
        while not stop.is_set():
            try:
                if not ready:
                    await self.store.streams.ensure_groups()
                    ready = True
                    log.info("worker %s waiting for jobs", self.consumer)
                await self.step()
                await self._watch()
                self.outage.recovered()
            except UNAVAILABLE as error:
                ready = False
                await sleep_or_stop(stop, self.outage.failed(error))

    async def step(self) -> None:
        """Do the jobs in hand, else reclaimed ones, else wait up to block_ms for new ones (up to `batch`)."""
        if not self._in_hand:
            deliveries = await self.store.streams.claim_stale_jobs(self.consumer, self.job_timeout_ms, count=self.batch)
            if not deliveries:
                deliveries = await self.store.streams.read_jobs(self.consumer, count=self.batch, block_ms=self.block_ms)
            if not deliveries:
                return
            self._in_hand = list(deliveries)
        if len(self._in_hand) == 1:
            await self.handle(self._in_hand[0])
            self._in_hand = []
            return
        await self._handle_together(self._in_hand)

    async def _watch(self) -> None:
        """Let the watchdog look, every `watch_every_s`; only Redis being away stops the loop meanwhile."""
        if time.monotonic() < self._next_watch:
            return
        self._next_watch = time.monotonic() + self.watch_every_s
        try:
            await self.watchdog.check()
        except UNAVAILABLE:
            raise
        except Exception:  # the loop must never die on the watchdog
            log.exception("worker %s: the watchdog failed", self.consumer)

    async def _handle_together(self, deliveries: list[Delivery]) -> None:
        """Handle jobs of several breeds at once, decoding their populations together (`engine.batching`)."""
        groups = batching.by_breed([(_breed_id_of(d.raw) or d.message_id, d) for d in deliveries])
        batch = batching.DecodeBatch(lambda latents: self.model.decode(latents, self.temperature), len(groups))

        async def in_order(group: list[Delivery]) -> None:
            try:
                for delivery in group:
                    await self.handle(delivery)
                    self._in_hand.remove(delivery)
            finally:
                await batch.leave()

        token = batching.current.set(batch)
        try:
            outcomes = await asyncio.gather(*(in_order(group) for group in groups), return_exceptions=True)
        finally:
            batching.current.reset(token)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # Redis went away: the jobs not done stay in hand

    async def handle(self, delivery: Delivery) -> None:
        """Do one job; acknowledge it only after its result is written.

        Raises only when Redis is unavailable (the job stays pending, to be done again); any other
        failure dead-letters the job and tells the breed's front end.
        """
        if delivery.deliveries > self.max_deliveries:
            await self._poisoned(delivery)
            return
        job = delivery.payload
        if not isinstance(job, Job):
            reason = delivery.error or "not a job"
            log.warning("dead-lettering malformed job %s: %s", delivery.message_id, reason)
            await self.store.streams.dead_letter(delivery, reason)
            about = _what_job(delivery.raw)
            if about is not None:
                # Its breed, kind and generation, so that the front end undoes only what failed (a morph
                # from a newer version must not revert a breed that is evolving).
                breed_id, generation, rest = about
                await self._publish_error(breed_id, generation, f"The worker could not read a job: {reason}", **rest)
            return
        deadline = asyncio.timeout(self.job_deadline_s)
        owner = render_owner.set(delivery.message_id)
        try:
            async with deadline:
                # The lease is renewed while the job runs: only a dead worker's job is taken over.
                async with holding(self.store, delivery.message_id, self.consumer, self.job_timeout_ms):
                    await self.handlers[job.type](job)
        except TimeoutError:
            if not deadline.expired():
                log.exception("breed %s gen %d: %s job failed", job.breed_id, job.generation, job.type)
                await self._fail(delivery, job, "Something went wrong in the worker (TimeoutError).")
            else:
                await self._abandon(delivery, job)
        except LeaseLost as lost:
            log.warning("breed %s gen %d: %s job result dropped: %s", job.breed_id, job.generation, job.type, lost)
        except UNAVAILABLE:
            raise
        except JobError as error:
            await self._fail(delivery, job, str(error))
        except Exception as error:  # the loop must never die on one payload
            log.exception("breed %s gen %d: %s job failed", job.breed_id, job.generation, job.type)
            await self._fail(delivery, job, f"Something went wrong in the worker ({type(error).__name__}).")
        else:
            await self.store.streams.ack_job(delivery.message_id, delivery.raw)
        finally:
            render_owner.reset(owner)

    async def _abandon(self, delivery: Delivery, job: Job) -> None:
        """A job past its deadline: end its render if one runs, dead-letter it and tell its breed."""
        log.error("breed %s gen %d: %s job passed its deadline of %g s: abandoned", job.breed_id, job.generation,
                  job.type, self.job_deadline_s)
        abandon = getattr(self.renderer, "abandon", None)
        if abandon is not None:
            abandon(delivery.message_id)
        await self._fail(delivery, job, f"This took longer than {self.job_deadline_s:g} s and was given up; "
                                        "try again.")

    async def _poisoned(self, delivery: Delivery) -> None:
        """A job handed out more than max_deliveries times: its workers died on it. Never again."""
        job = delivery.payload
        message = (f"The worker stopped {delivery.deliveries - 1} times while doing this; "
                   "it will not be tried again.")
        log.error("job %s delivered %d times (max %d): dead-lettered", delivery.message_id, delivery.deliveries,
                  self.max_deliveries)
        if isinstance(job, Job):
            await self._fail(delivery, job, message)
        else:
            await self.store.streams.dead_letter(delivery, message)

    async def _fail(self, delivery: Delivery, job: Job, message: str) -> None:
        log.warning("breed %s gen %d: %s job dead-lettered: %s", job.breed_id, job.generation, job.type, message)
        await self.store.streams.dead_letter(delivery, message)
        # The bot must tell a failed morph, tree or composition from a failed step: only the latter
        # changes the breed.
        about = {"candidate": job.candidate, "other": job.other} if job.type in ("morph", "tree") else {}
        await self._publish_error(job.breed_id, job.generation, message, job=job.type, **about)

    async def _publish_error(self, breed_id: str, generation: int, message: str, **about: Any) -> None:
        await self.store.streams.publish_event(Event("error", breed_id, generation, message=message, **about))

    async def _progress(self, job: Job, generation: int, stage: str) -> None:
        await self.store.streams.publish_event(Event("progress", job.breed_id, generation, stage=stage))

    async def _breed(self, breed_id: str) -> model.Breed:
        breed = await self.store.breeds.get(breed_id)
        if breed is None:
            raise JobError(f"Unknown breed {breed_id}.")
        return breed

    # --- jobs -----------------------------------------------------------------------------

    async def _start(self, job: Job) -> None:
        breed = await self._breed(job.breed_id)
        if await self.store.breeds.get_generation(job.breed_id, 0) is None:
            params = breed.params
            await self._progress(job, 0, "evolving")
            rng = step_rng(job.breed_id, 0)
            if job.source:
                seed = await self._latent_of(job.source)
                latents, candidates = seeded_population(
                    seed, params.population, params.sigma, params.foreign, rng, parents=(job.source,)
                )
            elif job.seed_midi_key:
                data = await self.store.breeds.load_upload(job.seed_midi_key)
                if data is None:
                    raise JobError("The uploaded MIDI file has expired; start again with it.")
                seed = await asyncio.to_thread(self._encode_seed, data)
                latents, candidates = seeded_population(seed, params.population, params.sigma, params.foreign, rng)
            else:
                from engine import ga

                latents = ga.random_population(params.population, self.model.latent_size, rng)
                candidates = tuple(Candidate(candidate_id(0, i), i, (ga.FOREIGN,), ()) for i in range(len(latents)))
            await self._write(job, breed, 0, latents, candidates)
        await self.store.streams.publish_event(Event("generation_ready", job.breed_id, 0))

    def _encode_seed(self, data: bytes) -> NDArray[np.float32]:
        try:
            return self.model.encode_midi(data)[0]
        except ValueError as error:
            raise JobError(f"Could not use the MIDI file: {error}") from None

    async def _evolve(self, job: Job) -> None:
        from engine import ga

        target = job.generation + 1
        breed = await self._breed(job.breed_id)
        if await self.store.breeds.get_generation(job.breed_id, target) is None:
            source = await self.store.breeds.get_generation(job.breed_id, job.generation)
            latents = await self.store.breeds.get_latents(job.breed_id, job.generation)
            if source is None or latents is None:
                raise JobError(f"Generation {job.generation + 1} of this breed is missing.")
            sigma = breed.params.sigma if job.sigma is None else job.sigma
            await self._progress(job, target, "evolving")
            ids = [c.candidate_id for c in source.candidates]
            learns = breed.params.strategy == ga.PREFERENCE  # the others read the last votes only
            history = await self._history(job.breed_id, job.generation) if learns else []
            nudge = self._nudge_shift(job)
            try:
                offspring = ga.evolve(
                    latents, np.asarray(job.fitness, dtype=np.int64), ids,
                    sigma=sigma, foreign=breed.params.foreign, rng=step_rng(job.breed_id, target),
                    strategy=breed.params.strategy, history=history, subspace=self.subspace, nudge=nudge,
                )
            except ValueError as error:
                raise JobError(f"Cannot evolve: {error}") from None
            candidates = tuple(
                Candidate(candidate_id(target, i), i, origin.operators, origin.parents)
                for i, origin in enumerate(offspring.origins)
            )
            await self._write(
                job, breed, target, offspring.latents, candidates,
                rerolled=offspring.rerolled, fitness=tuple(int(v) for v in job.fitness), sigma=sigma,
                nudges=job.nudges if nudge is not None and not offspring.rerolled else (),
            )
        await self.store.streams.publish_event(Event("generation_ready", job.breed_id, target))

    def _nudge_shift(self, job: Job) -> NDArray[np.float64] | None:
        """The latent shift of the job's combined nudges; None without nudges or attribute vectors."""
        if not job.nudges:
            return None
        if self.attributes is None:
            log.warning("breed %s gen %d: nudges %s not applied: this worker has no attribute vectors",
                        job.breed_id, job.generation, job.nudges)
            return None
        try:
            return self.attributes.shift(dict(job.nudges))
        except KeyError as error:
            raise JobError(f"Cannot evolve: {error.args[0]}") from None

    async def _history(self, breed_id: str, before: int) -> list[tuple[NDArray[np.float32], tuple[int, ...]]]:
        """Every generation of the breed before `before` with the votes it got, oldest first.

        A generation's votes are stored with the generation they made (its `fitness`), so generation k's
        votes are generation k+1's record; a generation whose latents expired or never were is skipped.
        """
        history = []
        for number in range(before):
            known = self._voted.get((breed_id, number))
            if known is None:
                latents = await self.store.breeds.get_latents(breed_id, number)
                made = await self.store.breeds.get_generation(breed_id, number + 1)
                if latents is None or made is None or len(made.fitness) != len(latents):
                    continue
                # Written once and never changed: kept, the next step of the breed reads only its newest.
                known = self._voted[(breed_id, number)] = (latents, made.fitness)
                while len(self._voted) > VOTED_CACHE:
                    self._voted.popitem(last=False)
            else:
                self._voted.move_to_end((breed_id, number))
            history.append(known)
        return history

    async def _write(
        self,
        job: Job,
        breed: model.Breed,
        number: int,
        latents: NDArray[np.float32],
        candidates: tuple[Candidate, ...],
        **extra: Any,
    ) -> None:
        await self._progress(job, number, "decoding")
        batch = batching.current.get()
        if batch is None:
            melodies = await asyncio.to_thread(self.model.decode, latents, self.temperature)
        else:
            melodies = await batch.decode(latents)
        await self._progress(job, number, "rendering")
        files = await asyncio.to_thread(self.render_generation, melodies, breed.params)
        generation = Generation(
            breed_id=job.breed_id, number=number, candidates=candidates,
            melodies=tuple(tuple(m) for m in melodies), artifacts=tuple(sorted(files)), **extra,
        )
        await confirm_held()
        written = await self.store.breeds.write_generation(generation, latents.astype(np.float32), files)
        log.info("breed %s gen %d: %s", job.breed_id, number, "written" if written else "already written")

    def render_generation(self, melodies: Sequence[Sequence[Note]], params: model.BreedParams) -> dict[str, bytes]:
        """Audio clip, MIDI file and the numbered piano roll of a whole generation."""
        from engine import midi, pianoroll

        if params.backing != NO_BACKING:
            return self.render_backed_generation(melodies, params)
        clips = self.renderer.render_clips(melodies, params.tempo, params.instrument)
        files = {artifacts.clip_name(i): clip for i, clip in enumerate(clips)}
        for i, melody in enumerate(melodies):
            files[artifacts.midi_name(i)] = midi.melody_to_midi(
                melody, params.tempo, params.instrument, self.model.steps
            )
        labels = [str(i + 1) for i in range(len(melodies))]
        files[artifacts.ROLL_PNG] = pianoroll.generation_png(melodies, labels)
        return files

    async def _finish(self, job: Job) -> None:
        breed = await self._breed(job.breed_id)
        generation, index = await self._named_candidate(job)
        if await self.store.breeds.get_artifact(job.breed_id, job.generation, artifacts.WINNER_MID) is None:
            melody = generation.melodies[index]
            files = await asyncio.to_thread(self._render_winner, melody, breed, index)
            winner = MelodyRef(job.breed_id, job.generation, index)
            files[artifacts.LINEAGE_PNG] = await self._family_tree(winner, "The winner's family tree")
            files.update(await self.finish_tune(winner, breed, melody))
            await confirm_held()
            # A finished breed keeps its winner: no expiry, unlike the generations' clips. These are also
            # the gallery's files (stored once).
            await self.store.breeds.add_artifacts(job.breed_id, job.generation, files, keep=True)
        await self.store.streams.publish_event(Event("finished", job.breed_id, job.generation))

    def _render_winner(self, melody: Sequence[Note], breed: model.Breed, index: int) -> dict[str, bytes]:
        from engine import midi, pianoroll

        params = breed.params
        data = midi.melody_to_midi(melody, params.tempo, params.instrument, self.model.steps)
        return {
            artifacts.WINNER_MID: data,
            artifacts.WINNER_AUDIO: self.clip_audio(melody, params),
            artifacts.WINNER_PNG: pianoroll.melody_png(melody, f"Winner: candidate {index + 1}"),
        }

    async def _morph(self, job: Job) -> None:
        """The melodies on the way from one candidate to another, one after the other in one clip."""
        breed = await self._breed(job.breed_id)
        generation = await self.store.breeds.get_generation(job.breed_id, job.generation)
        latents = await self.store.breeds.get_latents(job.breed_id, job.generation)
        if generation is None or latents is None:
            raise JobError(f"Generation {job.generation + 1} of this breed is missing.")
        a, b = job.candidate, job.other
        if a is None or b is None:
            raise JobError("A morph needs two candidates of this generation.")
        for index in (a, b):
            if not 0 <= index < len(generation.candidates):
                raise JobError(f"There is no candidate {index + 1} in this generation.")
        if a == b:
            raise JobError(f"A morph needs two different candidates, not candidate {a + 1} twice.")
        steps = morph_steps(job.steps)
        midi_name = artifacts.morph_name(a, b, "mid")
        existing = await self.store.breeds.get_artifact(job.breed_id, job.generation, midi_name)
        if existing is None:
            path = self.model.interpolate(latents[a], latents[b], steps)
            # Exactly the candidates at both ends, so that they sound as they did in the vote
            # even where slerp's float rounding would tip a sampled note.
            path[0], path[-1] = latents[a], latents[b]
            melodies = await asyncio.to_thread(self.model.decode, path, self.temperature)
            audio, data = await asyncio.to_thread(self._render_morph, melodies, breed.params)
            await confirm_held()
            await self.store.breeds.add_artifacts(
                job.breed_id, job.generation, {artifacts.morph_name(a, b, "ogg"): audio, midi_name: data}
            )
            log.info("breed %s gen %d: morph %d -> %d in %d steps written", job.breed_id, job.generation,
                     a, b, steps)
        else:
            # Written before (by this job, delivered again, or an earlier one): tell what it holds.
            steps = self._morph_length(existing, breed.params.tempo)
        await self.store.streams.publish_event(
            Event("morph_ready", job.breed_id, job.generation, candidate=a, other=b, steps=steps)
        )

    def _render_morph(self, melodies: Sequence[Sequence[Note]], params: model.BreedParams) -> tuple[bytes, bytes]:
        """The audio clip and MIDI file of the melodies one after the other."""
        from engine import midi

        length = self.model.steps
        joined = [
            Note(n.pitch, n.start + i * length, n.end + i * length) for i, m in enumerate(melodies) for n in m
        ]
        data = midi.melody_to_midi(joined, params.tempo, params.instrument, length * len(melodies))
        return self.renderer.render_midi(data), data

    def _morph_length(self, data: bytes, tempo: int) -> int:
        """How many melodies a written morph's MIDI file holds (its end marker closes the last one)."""
        from engine import midi

        melody_seconds = self.model.steps * midi.step_seconds(tempo)
        return round(midi.read_midi(data).get_end_time() / melody_seconds)


def morph_steps(requested: int) -> int:
    """The number of melodies of a morph: 0 asks for the default, others are clamped to the range."""
    if requested == 0:
        return limits.MORPH_DEFAULT_STEPS
    return min(max(requested, int(limits.MORPH_STEPS.low)), int(limits.MORPH_STEPS.high))


def seeded_population(
    seed: NDArray[np.float32], population: int, sigma: float, foreign: int, rng: np.random.Generator,
    parents: tuple[str, ...] = (),
) -> tuple[NDArray[np.float32], tuple[Candidate, ...]]:
    """Generation 0 around a melody: the seed itself, mutants of it, and `foreign` fresh ones.

    `parents`: the melody id the seed is (a branch), so that the family tree goes on through it.
    """
    from engine import ga

    spread = sigma if sigma > 0 else 0.5  # variants of the seed must differ from it
    rows = [seed.astype(np.float32)]
    candidates = [Candidate(candidate_id(0, 0), 0, (SEED,), parents)]
    for i in range(1, population - foreign):
        rows.append(seed + rng.normal(0.0, spread, seed.shape).astype(np.float32))
        candidates.append(Candidate(candidate_id(0, i), i, (SEED, ga.MUTATED), parents))
    fresh = ga.random_population(foreign, seed.shape[0], rng) if foreign else np.empty((0, seed.shape[0]))
    for i, row in enumerate(fresh, start=len(rows)):
        rows.append(row)
        candidates.append(Candidate(candidate_id(0, i), i, (ga.FOREIGN,), ()))
    return np.stack(rows).astype(np.float32), tuple(candidates)


def _breed_id_of(raw: str) -> str | None:
    about = _what_job(raw)
    return about[0] if about is not None else None


def _what_job(raw: str) -> tuple[str, int, dict[str, Any]] | None:
    """The breed, generation and the event fields naming the job (kind, candidates) of a job that did not
    decode, as far as they are readable; None without a breed id."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("breed_id"), str) or not payload["breed_id"]:
        return None

    def number(name: str) -> int | None:
        value = payload.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    kind = payload.get("type")
    about: dict[str, Any] = {"job": kind if isinstance(kind, str) else None}
    if about["job"] in ("morph", "tree"):
        about.update(candidate=number("candidate"), other=number("other"))
    generation = number("generation")
    return payload["breed_id"], generation if generation is not None else -1, about


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"
