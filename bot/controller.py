"""The Discord side of a breed's life: what to post for each step the breeding service takes.

Each breed has one progress message that is edited in place: the step's progress while a
worker runs (queued -> evolving -> ... -> posted), and the generation's vote message while
people vote (`Breed.progress_message_id` points at whichever it is now). The service owns every
state change and runs it under the breed's lock; this class only says what Discord shows: through
the callbacks the service calls, and as the bot's front end of the event router (service.router),
which also keeps its vote deadlines. Messages go through partial messageables, which need no cache:
they work after a restart.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Protocol

import discord

from bot import texts, voting
from bot.gallery import GalleryPosts
from bot.views import breed_controls, winner_controls
from domain import artifacts
from domain.errors import BreedError, UnknownBreedError
from domain.ids import MelodyRef
from domain.model import Breed, BreedParams, Composition, Front, Generation, TuneRequest
from domain.rules import Actor
from domain.votes import top_candidate
from service.breeding import BreedingService, Ending, Place
from service.events import ExternalWait, wait_plainly
from service.results import Files
from service.router import EventRouter, Morph, Tree
from service.tasks import BackgroundTasks

log = logging.getLogger(__name__)

FRONT = Front.DISCORD
MAX_FILES_PER_MESSAGE = 10
MAX_FILE_BYTES = 10 * 1024 * 1024


class BreedWatcher(Protocol):
    """Something beside the thread that follows a breed (the voice channel of /breed listen)."""

    async def breed_changed(self, breed: Breed) -> None:
        """A new generation is up for votes, the winner was posted, or the breed was stopped."""
        ...


class BreedController:
    """Runs breeds on Discord on top of the breeding service: the bot's `service.router.FrontEnd`."""

    def __init__(
        self, client: discord.Client, service: BreedingService, tasks: BackgroundTasks, consumer: str, *,
        external_wait: ExternalWait = wait_plainly, max_deliveries: int | None = None, reader: str = FRONT,
    ) -> None:
        """`reader`: the events group this process reads (service.events.discord_group: its shards')."""
        self.client = client
        self.service = service
        self.router = EventRouter(service, self, tasks, consumer, reader=reader, external_wait=external_wait,
                                  max_deliveries=max_deliveries)
        self.gallery = GalleryPosts(client, service)
        self.watchers: list[BreedWatcher] = []

    def _thread(self, breed: Breed) -> discord.PartialMessageable:
        if breed.thread_id is None:
            raise BreedError(f"Breed `{breed.breed_id}` has no thread.")
        return self.client.get_partial_messageable(
            breed.thread_id, guild_id=breed.guild_id, type=discord.ChannelType.public_thread
        )

    def shows(self, subject: Breed | Composition | TuneRequest) -> bool:
        """Discord's breeds and tunes, and every composition (only Discord asks for them), of the servers on
        this process's shards."""
        return (isinstance(subject, Composition) or subject.front == FRONT) and self.serves(subject.guild_id)

    def serves(self, guild_id: int | None) -> bool:
        """Whether this process runs the shard of a server (every server when it runs every shard)."""
        shard_ids = getattr(self.client, "shard_ids", None)
        if guild_id is None or not shard_ids:
            return True
        return (guild_id >> 22) % (self.client.shard_count or 1) in shard_ids

    # --- commands --------------------------------------------------------------------------

    async def start(
        self, channel: discord.TextChannel, owner: discord.abc.User, params: BreedParams,
        seed_name: str | None = None, seed: bytes | None = None, source: tuple[MelodyRef, Breed] | None = None,
    ) -> Breed:
        """Post the start message, open the breed's thread and ask for generation 1 (around `source`, if given)."""
        ref, source_breed = source if source is not None else (None, None)
        source_id = str(ref) if ref is not None else None
        shown: list[discord.Message | discord.Thread] = []

        async def announce(breed_id: str) -> Place:
            message: discord.Message | None = None
            try:
                message = await channel.send(
                    texts.start_text(owner.id, breed_id, params, seed_name, source_breed, source_id))
                shown.append(message)
                thread = await message.create_thread(name=texts.thread_name(breed_id), auto_archive_duration=1440)
                shown.append(thread)
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
            return Place(channel.guild.id, channel.id, thread.id, progress.id)

        try:
            return await self.service.start(owner_id=owner.id, params=params, place=Place(guild_id=channel.guild.id),
                                            seed=seed, seed_name=seed_name or "seed.mid", source=ref, announce=announce,
                                            front=Front.DISCORD)
        except BaseException:
            # The breed was not stored (e.g. Redis is full): its post and thread would lead nowhere.
            for posted in reversed(shown):
                with contextlib.suppress(discord.HTTPException):
                    await posted.delete()
            raise

    async def branch(self, interaction: discord.Interaction, melody_id: str) -> str:
        """The Branch button: a new breed around a winner, in the channel its breed was started in."""
        source = await self.service.melodies.melody(melody_id, interaction.guild_id)
        channel = self.client.get_channel(source[1].channel_id) if source[1].channel_id is not None else None
        if not isinstance(channel, discord.TextChannel):
            raise BreedError("The channel that breed was started in is gone; use /breed start from: in another one.")
        breed = await self.start(channel, interaction.user, self.service.params(like=source[1]), source=source)
        return f"Breed `{breed.breed_id}` started in <#{breed.thread_id}>, from `{melody_id}`."

    async def close_voting(self, breed_id: str, actor: Actor | None, generation: int | None = None) -> str:
        """Close voting now (actor) or at the deadline (actor None, `generation` given)."""

        async def announce(breed: Breed, fitness: tuple[int, ...]) -> int:
            # Posted before the state changes: if Discord fails here, the breed is as it was.
            thread = self._thread(breed)
            if not any(fitness):
                await thread.send(texts.reroll_text(breed.generation))
            return (await thread.send(texts.progress_text(breed.generation + 1, "queued"))).id

        async def announce_end(breed: Breed, ending: Ending) -> int:
            thread = self._thread(breed)
            await thread.send(texts.ended_text(ending.line, ending.winner, ending.generation))
            return (await thread.send(texts.finishing_text(ending.winner, ending.generation))).id

        done = await self.service.close_voting(breed_id, actor, generation=generation,
                                               read_votes=self._votes_on_discord, announce=announce,
                                               announce_end=announce_end)
        self.router.voting_closed(breed_id)
        before = done.before
        if done.ended:
            assert done.winner is not None and done.breed.winner_generation is not None
            await self._end_vote_message(before, texts.vote_ended_text(before.generation, done.fitness))
            return texts.ended_answer(done.ended, done.winner, done.breed.winner_generation)
        nudged = texts.nudges_text(done.nudges)
        await self._end_vote_message(before, texts.closed_text(before.generation, done.fitness) + nudged)
        return texts.closed_answer(before.generation, done.fitness) + nudged

    async def finish(self, breed_id: str, actor: Actor, candidate: int | None = None) -> str:
        """End the breed with a winner: the named candidate (1-based) or the top-voted one."""

        async def announce(breed: Breed, fitness: tuple[int, ...]) -> int:
            winner = candidate - 1 if candidate is not None else voting_top(fitness)
            return (await self._thread(breed).send(texts.finishing_text(winner, breed.generation))).id

        done = await self.service.finish(breed_id, actor, candidate, read_votes=self._votes_on_discord,
                                         announce=announce)
        self.router.voting_closed(breed_id)
        assert done.winner is not None
        before = done.before
        await self._end_vote_message(before, texts.vote_finished_text(before.generation, done.winner))
        return texts.finishing_answer(done.winner)

    async def stop(self, breed_id: str, actor: Actor) -> str:
        done = await self.service.stop(breed_id, actor)
        self.router.voting_closed(breed_id)
        before = done.before
        await self._end_vote_message(before, texts.vote_stopped_text(before.generation))
        await self._thread(before).send(texts.stopped_text(actor.user_id))
        await self._tell_watchers(done.breed)
        return texts.stopped_answer(breed_id)

    async def set_sigma(self, breed_id: str, actor: Actor, sigma: float) -> str:
        breed = await self.service.set_sigma(breed_id, actor, sigma)
        await self._thread(breed).send(texts.sigma_text(actor.user_id, sigma))
        return texts.sigma_answer(breed_id, sigma)

    async def nudge(self, breed_id: str, user_id: int, attribute: str, amount: float) -> str:
        """Count a member's nudge on the generation up for votes; anyone may."""
        nudged = await self.service.nudges.add(breed_id, user_id, attribute, amount)
        return texts.nudged_text(nudged.words, nudged.summary)

    async def morph(self, breed_id: str, start: int, end: int, steps: int, actor: Actor | None = None) -> str:
        """Ask a worker for the morph between two candidates (1-based); anyone may."""
        a, b = await self.service.request_morph(breed_id, start, end, steps, actor)
        return texts.morph_requested_text(a, b)

    async def find(self, breed_id: str, guild_id: int | None) -> Breed:
        """The breed a button names, only in the server it was pressed in: elsewhere there is no such breed."""
        if guild_id is None:
            raise UnknownBreedError(f"There is no breed `{breed_id}`.")
        return await self.service.find(breed_id, None, guild_id)

    async def status(self, breed: Breed) -> str:
        fitness = await self.service.votes.tally(breed) if breed.status == "voting" else ()
        return texts.status_text(breed, fitness)

    async def close_at_deadline(self, breed_id: str, generation: int) -> None:
        await self.client.wait_until_ready()
        await self.close_voting(breed_id, None, generation)

    # --- votes on Discord ------------------------------------------------------------------

    async def _votes_on_discord(self, breed: Breed) -> dict[int, set[int]] | None:
        """The votes as the vote message's reactions show them now, or None if it is not readable.

        This catches reactions made while the bot was offline; None falls back to the mirror.
        """
        message_id = breed.progress_message_id
        if not await self.service.votes.shows_votes(breed, message_id):
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
        if breed.status != "voting" or not await self.service.votes.shows_votes(breed, breed.progress_message_id):
            return
        assert breed.progress_message_id is not None
        message = self._thread(breed).get_partial_message(breed.progress_message_id)
        try:
            await message.edit(content=content, view=None)
        except discord.HTTPException as error:
            log.warning("breed %s gen %d: cannot edit the vote message: %s", breed.breed_id, breed.generation, error)

    # --- worker events (service.router calls these) ------------------------------------------

    async def show_progress(self, breed: Breed, generation: int, stage: str) -> None:
        await self._edit_progress(breed, texts.progress_text(generation, stage))

    async def voting_opened(self, breed: Breed) -> None:
        """The vote message was posted before voting opened; only the watchers hear of it."""
        await self._tell_watchers(breed)

    async def winner_shown(self, breed: Breed) -> None:
        """The winner was posted before the breed finished; only the watchers hear of it."""
        await self._tell_watchers(breed)

    async def _tell_watchers(self, breed: Breed) -> None:
        # A watcher's failure is logged, never the step's: the thread already shows the change.
        for watcher in list(self.watchers):
            try:
                await watcher.breed_changed(breed)
            except Exception:
                log.exception("breed %s gen %d: a watcher failed", breed.breed_id, breed.generation)

    async def show_tree(self, breed: Breed, tree: Tree) -> None:
        await self.gallery.show_tree(breed, tree)

    async def show_composition(
        self, composition: Composition, files: tuple[tuple[str, bytes], ...], failure: str | None,
    ) -> None:
        await self.gallery.show_composition(composition, files, failure)

    async def show_tune(self, tune: TuneRequest, files: Files, failure: str | None) -> None:
        await self.gallery.show_tune(tune, files, failure)

    async def show_generation(self, breed: Breed, generation: Generation, deadline: float) -> int:
        """Post the clips and piano roll, add the number reactions; returns the vote message's id."""
        number = generation.number
        count = len(generation.candidates)
        await self._edit_progress(breed, texts.progress_text(number, "posted"))
        names = artifacts.generation_files(count)
        files = await self.service.results.files(breed.breed_id, number, names, MAX_FILE_BYTES)
        thread = self._thread(breed)
        chunks = texts.plan_messages([name for name, _ in files.found], MAX_FILES_PER_MESSAGE) or [[]]
        data_of = dict(files.found)
        # A retry (a reaction failed, the bot restarted) goes on from what was sent: nothing is sent twice.
        parts = self.service.results.post_parts(breed.breed_id, number)
        position = 0
        for part, chunk in enumerate(chunks[:-1]):
            if await parts.sent(f"clips-{part}") is None:
                sent = await thread.send(texts.clips_text(number, position, position + len(chunk) - 1),
                                         files=[_file(name, data_of[name]) for name in chunk])
                await parts.record(f"clips-{part}", str(sent.id))
            position += len(chunk)
        vote_id = await parts.sent("vote")
        if vote_id is None:
            content = texts.generation_text(breed, number, deadline, rerolled=generation.rerolled) + _missing(files)
            vote: discord.Message | discord.PartialMessage = await thread.send(
                content, files=[_file(name, data_of[name]) for name in chunks[-1]], view=breed_controls(breed.breed_id))
            await parts.record("vote", str(vote.id))
            # Linked at once, so that a restart before voting opens still knows what this message shows.
            await self.service.votes.link_message(vote.id, breed.breed_id, number)
        else:
            vote = thread.get_partial_message(int(vote_id))
        reacted = int(await parts.sent("reactions") or 0)
        for index in range(reacted, count):
            await vote.add_reaction(voting.emoji_for(index))
            await parts.record("reactions", str(index + 1))
        log.info("breed %s gen %d: posted %d files, vote message %d", breed.breed_id, number, len(files.found),
                 vote.id)
        return vote.id

    async def show_winner(self, breed: Breed, number: int, winner: int) -> None:
        files = await self.service.results.winner_files(breed.breed_id, number, MAX_FILE_BYTES)
        await self._edit_progress(breed, texts.winner_posted_text(winner, number))
        thread = self._thread(breed)
        # The winner's files and its tune's fit one message; more (a future file) go first, in order.
        chunks = texts.plan_messages([name for name, _ in files.found], MAX_FILES_PER_MESSAGE) or [[]]
        data_of = dict(files.found)
        # A retry (the bot restarted half-way) goes on from what was sent: nothing is sent twice.
        parts = self.service.results.post_parts(breed.breed_id, number, "winner")
        for part, chunk in enumerate(chunks[:-1]):
            if await parts.sent(f"files-{part}") is None:
                sent = await thread.send(files=[_file(name, data_of[name]) for name in chunk])
                await parts.record(f"files-{part}", str(sent.id))
        if await parts.sent("winner") is None:
            sent = await thread.send(texts.winner_text(breed, winner, number) + _missing(files),
                                     files=[_file(name, data_of[name]) for name in chunks[-1]],
                                     view=winner_controls(str(MelodyRef(breed.breed_id, number, winner))))
            await parts.record("winner", str(sent.id))
        log.info("breed %s gen %d: winner %d posted", breed.breed_id, number, winner)

    async def show_morph(self, breed: Breed, morph: Morph) -> None:
        a, b, number = morph.start, morph.end, morph.generation
        if morph.failure is not None:
            await self._thread(breed).send(texts.morph_failed_text(a, b, morph.failure))
            return
        files = await self.service.results.files(breed.breed_id, number, artifacts.morph_files(a, b), MAX_FILE_BYTES)
        content = texts.morph_text(a, b, number, morph.steps) + _missing(files)
        await self._thread(breed).send(content, files=[_file(name, data) for name, data in files.found])
        log.info("breed %s gen %d: morph %d -> %d posted", breed.breed_id, number, a, b)

    async def show_failure(self, before: Breed, after: Breed, message: str) -> None:
        # The step that failed made the next generation, or rendered the winner.
        if before.winner is not None:
            await self._edit_progress(before, texts.finish_failed_text(message))
        else:
            await self._edit_progress(before, texts.failed_text(before.generation + 1, message))
        await self._thread(after).send(texts.step_failed_text(after, message))

    async def _edit_progress(self, breed: Breed, content: str) -> None:
        if breed.progress_message_id is None:
            return
        message = self._thread(breed).get_partial_message(breed.progress_message_id)
        try:
            await message.edit(content=content)
        except discord.HTTPException as error:
            log.warning("breed %s gen %d: cannot edit the progress message: %s", breed.breed_id, breed.generation,
                        error)


def voting_top(fitness: tuple[int, ...]) -> int:
    top = top_candidate(fitness)
    assert top is not None  # the service refuses a finish without votes before announcing it
    return top


def _missing(files: Files) -> str:
    return f"\n(Missing or too large: {', '.join(files.missing)}.)" if files.missing else ""


def _file(name: str, data: bytes) -> discord.File:
    return discord.File(io.BytesIO(data), filename=name)
