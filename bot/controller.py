"""The Discord side of a breed's life: start, vote deadlines, next, finish, stop, morph, worker events.

Each breed has one progress message that is edited in place: the step's progress while a
worker runs (queued -> evolving -> ... -> posted), and the generation's vote message while
people vote (`Breed.progress_message_id` points at whichever it is now). All work on one
breed runs under that breed's lock, so a deadline, a button and a worker event never interleave.
Messages go through partial messageables, which need no cache: they work after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import weakref
from collections.abc import AsyncIterator

import discord

from bot import texts, voting
from bot.errors import BreedError
from bot.permissions import REFUSAL, Caller, may_steer
from bot.service import BreedingService, morph_marker, refusal, require
from bot.tasks import BackgroundTasks
from bot.timers import VoteTimers
from bot.views import breed_controls
from storage.schemas import (
    ROLL_PNG,
    WINNER_AUDIO,
    WINNER_MID,
    WINNER_PNG,
    Breed,
    BreedParams,
    Event,
    clip_name,
    morph_name,
)

log = logging.getLogger(__name__)

MAX_FILES_PER_MESSAGE = 10
MAX_FILE_BYTES = 10 * 1024 * 1024
DEADLINE_RETRY_S = 30.0


class BreedController:
    """Runs breeds on Discord on top of the breeding service."""

    def __init__(self, client: discord.Client, service: BreedingService, tasks: BackgroundTasks) -> None:
        self.client = client
        self.service = service
        self.store = service.store
        self.timers = VoteTimers(tasks, service.clock, self._deadline_reached)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, breed_id: str) -> asyncio.Lock:
        lock = self._locks.get(breed_id)
        if lock is None:
            lock = self._locks[breed_id] = asyncio.Lock()
        return lock

    def _thread(self, breed: Breed) -> discord.PartialMessageable:
        if breed.thread_id is None:
            raise BreedError(f"Breed `{breed.breed_id}` has no thread.")
        return self.client.get_partial_messageable(
            breed.thread_id, guild_id=breed.guild_id, type=discord.ChannelType.public_thread
        )

    # --- start-up --------------------------------------------------------------------------

    async def resume(self) -> int:
        """Re-arm the vote deadline of every breed that is voting; returns how many."""
        armed = 0
        for breed in await self.store.open_breeds():
            if breed.status == "voting" and breed.vote_deadline is not None:
                self.timers.arm(breed.breed_id, breed.generation, breed.vote_deadline)
                armed += 1
        log.info("re-armed %d vote deadlines", armed)
        return armed

    # --- commands --------------------------------------------------------------------------

    async def start(
        self, channel: discord.TextChannel, owner: discord.abc.User, params: BreedParams,
        seed_name: str | None = None, seed: bytes | None = None,
    ) -> Breed:
        """Post the start message, open the breed's thread and ask for generation 1."""
        breed_id = self.store.new_breed_id()
        message: discord.Message | None = None
        try:
            message = await channel.send(texts.start_text(owner.id, breed_id, params, seed_name))
            thread = await message.create_thread(name=texts.thread_name(breed_id), auto_archive_duration=1440)
            progress = await thread.send(texts.progress_text(0, "queued"))
        except discord.Forbidden:
            log.warning("breed %s gen -1: missing permissions in channel %d", breed_id, channel.id)
            if message is not None:
                with contextlib.suppress(discord.HTTPException):
                    await message.delete()
            raise BreedError(
                "I cannot run a breed here: I need Send Messages, Create Public Threads, Send Messages in "
                "Threads, Attach Files and Add Reactions in this channel."
            ) from None
        return await self.service.create(
            breed_id=breed_id, owner_id=owner.id, params=params, guild_id=channel.guild.id,
            channel_id=channel.id, thread_id=thread.id, progress_message_id=progress.id, seed=seed,
        )

    async def close_voting(self, breed_id: str, caller: Caller | None, generation: int | None = None) -> str:
        """Close voting now (caller) or at the deadline (caller None, `generation` given)."""
        async with self._lock(breed_id):
            breed = await self.service.get(breed_id)
            if generation is not None and (breed.status != "voting" or breed.generation != generation):
                return "That vote was closed already."
            self._check_steer(breed, caller)
            require(breed, "close")
            fitness = await self.service.tally(breed, await self._votes_on_discord(breed))
            thread = self._thread(breed)
            # Post first, change state after: if Discord fails here, the breed is as it was.
            if not any(fitness):
                await thread.send(texts.reroll_text(breed.generation))
            progress = await thread.send(texts.progress_text(breed.generation + 1, "queued"))
            await self.service.close_voting(breed, fitness, progress.id)
            self.timers.cancel(breed_id)
            await self._end_vote_message(breed, texts.closed_text(breed.generation, fitness))
        return f"Voting on generation {texts.shown(breed.generation)} closed. Votes: {voting.describe_tally(fitness)}."

    async def finish(self, breed_id: str, caller: Caller, candidate: int | None = None) -> str:
        """End the breed with a winner: the named candidate (1-based) or the top-voted one."""
        async with self._lock(breed_id):
            breed = await self.service.get(breed_id)
            self._check_steer(breed, caller)
            require(breed, "finish")
            fitness = () if candidate is not None else await self.service.tally(
                breed, await self._votes_on_discord(breed)
            )
            winner = self.service.choose_winner(breed, candidate, fitness)
            progress = await self._thread(breed).send(texts.finishing_text(winner, breed.generation))
            await self.service.begin_finish(breed, winner, progress.id)
            self.timers.cancel(breed_id)
            closed = f"**Generation {texts.shown(breed.generation)}**: finished with candidate {texts.shown(winner)}."
            await self._end_vote_message(breed, closed)
        return f"Finishing with candidate {texts.shown(winner)}: its files will be posted in the thread."

    async def stop(self, breed_id: str, caller: Caller) -> str:
        async with self._lock(breed_id):
            breed = await self.service.get(breed_id)
            self._check_steer(breed, caller)
            require(breed, "stop")
            await self.service.stop(breed)
            self.timers.cancel(breed_id)
            await self._end_vote_message(breed, f"**Generation {texts.shown(breed.generation)}**: stopped.")
            await self._thread(breed).send(f"⏹️ <@{caller.user_id}> stopped this breed.")
        return f"Breed `{breed_id}` stopped."

    async def set_sigma(self, breed_id: str, caller: Caller, sigma: float) -> str:
        async with self._lock(breed_id):
            breed = await self.service.get(breed_id)
            self._check_steer(breed, caller)
            await self.service.set_sigma(breed, sigma)
            await self._thread(breed).send(
                f"🧬 <@{caller.user_id}> set the mutation σ to {sigma:g} from the next step on."
            )
        return f"Mutation σ of breed `{breed_id}` is {sigma:g} from the next step on."

    async def morph(self, breed_id: str, start: int, end: int, steps: int) -> str:
        """Ask a worker for the morph between two candidates (1-based); anyone may."""
        async with self._lock(breed_id):
            breed = await self.service.get(breed_id)
            a, b = await self.service.request_morph(breed, start, end, steps)
        return texts.morph_requested_text(a, b)

    async def status(self, breed: Breed) -> str:
        fitness = await self.service.tally(breed) if breed.status == "voting" else ()
        return texts.status_text(breed, fitness)

    def _check_steer(self, breed: Breed, caller: Caller | None) -> None:
        if caller is not None and not may_steer(breed.owner_id, caller):
            raise BreedError(REFUSAL)

    async def _deadline_reached(self, breed_id: str, generation: int) -> None:
        await self.client.wait_until_ready()
        try:
            await self.close_voting(breed_id, None, generation)
        except BreedError as error:
            log.info("breed %s gen %d: deadline reached, but %s", breed_id, generation, error)
        # Discord or Redis failed: the vote must still close, so the deadline comes back a bit later.
        except Exception:
            log.exception("breed %s gen %d: closing the vote failed; trying again in %.0f s",
                          breed_id, generation, DEADLINE_RETRY_S)
            self.timers.arm(breed_id, generation, self.service.clock() + DEADLINE_RETRY_S)

    # --- votes on Discord ------------------------------------------------------------------

    async def _votes_on_discord(self, breed: Breed) -> dict[int, set[int]] | None:
        """The votes as the vote message's reactions show them now, or None if it is not readable.

        This catches reactions made while the bot was offline; None falls back to the mirror.
        """
        message_id = breed.progress_message_id
        if not await self.service.shows_votes(breed, message_id):
            return None
        assert message_id is not None
        try:
            message = await self._thread(breed).fetch_message(message_id)
            reactions = []
            for reaction in message.reactions:
                emoji = str(reaction.emoji)
                if voting.index_of(emoji) is None:
                    continue
                reactions.append((emoji, [(user.id, user.bot) async for user in reaction.users(limit=None)]))
        except discord.HTTPException as error:
            log.warning("breed %s gen %d: cannot read the vote message (%s); using the mirrored votes",
                        breed.breed_id, breed.generation, error)
            return None
        return voting.votes_from_reactions(reactions, breed.params.population)

    async def _end_vote_message(self, breed: Breed, content: str) -> None:
        """Replace the vote line of the breed's vote message and take its buttons away.

        `breed` is the state from before voting ended; a failure is only logged, the vote is over anyway.
        """
        if breed.status != "voting" or not await self.service.shows_votes(breed, breed.progress_message_id):
            return
        assert breed.progress_message_id is not None
        message = self._thread(breed).get_partial_message(breed.progress_message_id)
        try:
            await message.edit(content=content, view=None)
        except discord.HTTPException as error:
            log.warning("breed %s gen %d: cannot edit the vote message: %s", breed.breed_id, breed.generation, error)

    # --- worker events ---------------------------------------------------------------------

    async def handle_event(self, event: Event) -> None:
        """React to one worker event; safe to call again with the same event."""
        async with self._lock(event.breed_id):
            breed = await self.store.get_breed(event.breed_id)
            if breed is None:
                log.warning("%s event for unknown breed %s", event.type, event.breed_id)
                return
            if event.type == "progress":
                await self._on_progress(breed, event)
            elif event.type == "generation_ready":
                await self._on_generation_ready(breed, event.generation)
            elif event.type == "finished":
                await self._on_finished(breed, event.generation)
            elif event.type == "morph_ready":
                await self._on_morph_ready(breed, event)
            elif event.type == "error" and event.job == "morph":
                await self._on_morph_failed(breed, event)
            elif event.type == "error":
                await self._on_error(breed, event)
            else:
                log.debug("breed %s: ignoring %s event", breed.breed_id, event.type)

    async def _on_progress(self, breed: Breed, event: Event) -> None:
        if refusal(breed, "post") is None and event.stage:
            await self._edit_progress(breed, texts.progress_text(event.generation, event.stage))

    async def _on_generation_ready(self, breed: Breed, number: int) -> None:
        if refusal(breed, "post") is not None or number != breed.generation:
            log.info("breed %s gen %d: not posting (status %s, newest generation %d)",
                     breed.breed_id, number, breed.status, breed.generation)
            return
        generation = await self.store.get_generation(breed.breed_id, number)
        if generation is None:
            log.error("breed %s gen %d: generation_ready, but the generation is missing", breed.breed_id, number)
            return
        deadline = self.service.deadline(breed)
        vote_message_id: int | None = None
        async with self._first_post(breed.breed_id, number) as first:
            if first:
                await self._edit_progress(breed, texts.progress_text(number, "posted"))
                vote_message_id = await self._post_generation(breed, number, len(generation.candidates),
                                                              deadline, rerolled=generation.rerolled)
            else:
                log.warning("breed %s gen %d: posted before a restart; opening its vote", breed.breed_id, number)
        await self.service.open_voting(breed, number, deadline, vote_message_id)
        self.timers.arm(breed.breed_id, number, deadline)

    async def _post_generation(
        self, breed: Breed, number: int, count: int, deadline: float, *, rerolled: bool
    ) -> int:
        """Post the clips and piano roll, add the number reactions; returns the vote message's id."""
        files: list[tuple[str, bytes]] = []
        missing: list[str] = []
        for name in [clip_name(i) for i in range(count)] + [ROLL_PNG]:
            data = await self.store.get_artifact(breed.breed_id, number, name)
            if data is None or len(data) > MAX_FILE_BYTES:
                missing.append(name)
            else:
                files.append((name, data))
        thread = self._thread(breed)
        chunks = texts.plan_messages([name for name, _ in files], MAX_FILES_PER_MESSAGE) or [[]]
        data_of = dict(files)
        position = 0
        for chunk in chunks[:-1]:
            await thread.send(texts.clips_text(number, position, position + len(chunk) - 1),
                              files=[_file(name, data_of[name]) for name in chunk])
            position += len(chunk)
        content = texts.generation_text(breed, number, deadline, rerolled=rerolled)
        if missing:
            content += f"\n(Missing or too large: {', '.join(missing)}.)"
            log.warning("breed %s gen %d: artifacts missing or too large: %s", breed.breed_id, number, missing)
        vote = await thread.send(content, files=[_file(name, data_of[name]) for name in chunks[-1]],
                                 view=breed_controls(breed.breed_id))
        # Linked at once, so that a restart before voting opens still knows what this message shows.
        await self.store.link_message(vote.id, breed.breed_id, number)
        for index in range(count):
            await vote.add_reaction(voting.emoji_for(index))
        log.info("breed %s gen %d: posted %d files, vote message %d", breed.breed_id, number, len(files), vote.id)
        return vote.id

    async def _on_finished(self, breed: Breed, number: int) -> None:
        if refusal(breed, "finished") is not None:
            log.info("breed %s gen %d: finished event, but no finish in progress", breed.breed_id, number)
            return
        assert breed.winner is not None
        async with self._first_post(breed.breed_id, number, "winner") as first:
            if first:
                await self._post_winner(breed, number, breed.winner)
        await self.service.mark_finished(breed)

    async def _post_winner(self, breed: Breed, number: int, winner: int) -> None:
        files = []
        for name in (WINNER_MID, WINNER_AUDIO, WINNER_PNG):
            data = await self.store.get_artifact(breed.breed_id, number, name)
            if data is not None and len(data) <= MAX_FILE_BYTES:
                files.append(_file(name, data))
        await self._edit_progress(breed, texts.winner_posted_text(winner, number))
        await self._thread(breed).send(texts.winner_text(breed, winner, number), files=files)
        log.info("breed %s gen %d: winner %d posted", breed.breed_id, number, winner)

    async def _on_morph_ready(self, breed: Breed, event: Event) -> None:
        a, b, number = event.candidate, event.other, event.generation
        if a is None or b is None:
            log.warning("breed %s gen %d: morph_ready event without its candidates", breed.breed_id, number)
            return
        # Posted once per pair and generation, whatever the breed does meanwhile: it is about that generation.
        async with self._first_post(breed.breed_id, number, morph_marker(a, b)) as first:
            if first:
                await self._post_morph(breed, number, a, b, event.steps)
            else:
                log.info("breed %s gen %d: morph %d -> %d posted already", breed.breed_id, number, a, b)

    async def _post_morph(self, breed: Breed, number: int, a: int, b: int, steps: int | None) -> None:
        files = []
        missing = []
        for name in (morph_name(a, b, "ogg"), morph_name(a, b, "mid")):
            data = await self.store.get_artifact(breed.breed_id, number, name)
            if data is None or len(data) > MAX_FILE_BYTES:
                missing.append(name)
            else:
                files.append(_file(name, data))
        content = texts.morph_text(a, b, number, steps)
        if missing:
            content += f"\n(Missing or too large: {', '.join(missing)}.)"
            log.warning("breed %s gen %d: morph files missing or too large: %s", breed.breed_id, number, missing)
        await self._thread(breed).send(content, files=files)
        log.info("breed %s gen %d: morph %d -> %d posted", breed.breed_id, number, a, b)

    async def _on_morph_failed(self, breed: Breed, event: Event) -> None:
        """A failed morph changes nothing in the breed (unlike a failed step); the thread is told once."""
        a, b, number = event.candidate, event.other, event.generation
        log.warning("breed %s gen %d: morph %s -> %s failed: %s", breed.breed_id, number, a, b, event.message)
        if a is None or b is None:
            return
        async with self._first_post(breed.breed_id, number, morph_marker(a, b, failed=True)) as first:
            if first:
                await self._thread(breed).send(texts.morph_failed_text(a, b, event.message or "the worker failed."))

    async def _on_error(self, breed: Breed, event: Event) -> None:
        if breed.status not in ("starting", "evolving"):
            log.info("breed %s gen %d: error event while %s: %s", breed.breed_id, event.generation,
                     breed.status, event.message)
            return
        message = event.message or "the worker failed."
        # The step that failed made the next generation, or rendered the winner.
        if breed.winner is not None:
            await self._edit_progress(breed, texts.finish_failed_text(message))
        else:
            await self._edit_progress(breed, texts.failed_text(breed.generation + 1, message))
        breed = await self.service.step_failed(breed)
        if breed.status == "voting":
            follow = (f"Voting on generation {texts.shown(breed.generation)} is open again: "
                      "use /breed next or /breed finish to try again.")
        else:
            follow = "This breed cannot go on; start a new one with /breed start."
        await self._thread(breed).send(f"⚠️ {message} {follow}")

    @contextlib.asynccontextmanager
    async def _first_post(self, breed_id: str, number: int, kind: str = "generation") -> AsyncIterator[bool]:
        """Whether this is the first post of `kind` for (breed, generation), so nothing is posted twice.

        If the post fails, the mark is taken back, so that the redelivered event tries again.
        """
        first = await self.store.mark_posted(breed_id, number, kind)
        try:
            yield first
        except BaseException:
            if first:
                await self.store.unmark_posted(breed_id, number, kind)
            raise

    async def _edit_progress(self, breed: Breed, content: str) -> None:
        if breed.progress_message_id is None:
            return
        message = self._thread(breed).get_partial_message(breed.progress_message_id)
        try:
            await message.edit(content=content)
        except discord.HTTPException as error:
            log.warning("breed %s gen %d: cannot edit the progress message: %s", breed.breed_id, breed.generation,
                        error)


def _file(name: str, data: bytes) -> discord.File:
    return discord.File(io.BytesIO(data), filename=name)
