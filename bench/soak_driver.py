"""The soak's simulated people: they start, vote on, step and finish breeds through one bot's Discord.

They act on what Discord shows them alone (the thread's messages, the answers), never on Redis, so they
go on reacting and pressing while Redis is away; `check` then reads Discord and Redis for what was lost
or doubled.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.voting import NUMBER_EMOJI
from service.errors import UNAVAILABLE_TEXT as RESTARTING

log = logging.getLogger(__name__)

POPULATION = 4


class Report(Protocol):
    """Where the driver writes what it saw (the soak's report)."""

    finished: int
    lost_generations: int
    duplicate_generations: int
    lost_votes: int
    restarting_answers: int
    close_to_post_s: list[float]
    close_to_post_spans: list[tuple[float, float]]
    start_to_first_s: list[float]
    problems: list[str]


@dataclass(frozen=True)
class Home:
    """One bot process's simulated Discord: its server, channel and voters."""

    env: Any
    guild: Any
    channel: Any
    people: list[Any]


@dataclass
class Track:
    """What the driver did to one breed, to check against what Discord and Redis show."""

    starter: Any
    home: Home
    breed_id: str = ""
    thread: Any = None
    generation: int = 0  # the generation up for votes, 0-based
    voted: bool = False
    closed_at: float | None = None
    started_at: float | None = None  # when /breed start was asked, until its first generation is posted
    finishing: bool = False
    done: bool = False
    votes: dict[int, tuple[int, ...]] = field(default_factory=dict)  # generation -> reactions per candidate


class Driver:
    """Moves every breed one step at a time: start, reactions, Next, ..., finish. One interaction at a time.

    It acts on what Discord shows (the thread's messages, the answers), never on Redis: people go on
    reacting and pressing while Redis is away.
    """

    def __init__(self, tracks: list[Track], generations: int, rng: random.Random, report: Report) -> None:
        self.tracks, self.generations, self.rng, self.report = tracks, generations, rng, report
        self.steps_done = 0

    @staticmethod
    def find_thread(track: Track, thread_id: int) -> Any:
        for channel in track.home.guild.channels.values():
            for thread in channel.threads:
                if thread.id == thread_id:
                    return thread
        return None

    @staticmethod
    def vote_message(track: Track, number: int) -> Any:
        title = f"**Generation {number + 1}**"
        shown = [m for m in track.thread.history() if m.author.bot and m.reactions and title in m.content]
        return shown[0] if shown else None

    @staticmethod
    def winner_posted(track: Track) -> bool:
        return any(a.filename == "winner.mid" for m in track.thread.history() for a in m.attachments)

    async def interact(self, action: Any) -> str:
        """One SimCord operation; its answer's text ("" when there is none)."""
        try:
            result = await action
        except Exception as error:  # noqa: BLE001 - a fault in progress; the round comes back to it
            log.info("interaction failed during a fault: %s", error)
            return ""
        answer = result.response.content if result is not None and result.response is not None else ""
        if answer.startswith(RESTARTING):
            self.report.restarting_answers += 1
        return answer

    def votes_to_cast(self) -> bool:
        """Whether some breed's generation is posted and its voters have not reacted yet."""
        return any(track.thread is not None and not (track.done or track.finishing or track.voted)
                   and track.closed_at is None and self.vote_message(track, track.generation) is not None
                   for track in self.tracks)

    def observe(self) -> None:
        """Note every next generation posted since the last look (reads Discord only, so quick)."""
        for track in self.tracks:
            if track.closed_at is not None and self.vote_message(track, track.generation) is not None:
                posted = time.monotonic()
                self.report.close_to_post_s.append(posted - track.closed_at)
                self.report.close_to_post_spans.append((track.closed_at, posted))
                track.closed_at = None
            if track.started_at is not None and track.thread is not None and self.vote_message(track, 0) is not None:
                self.report.start_to_first_s.append(time.monotonic() - track.started_at)
                track.started_at = None

    async def round(self, between: Callable[[], Awaitable[None]]) -> bool:
        """One action for every breed that is ready for one; whether anything happened.

        Between two breeds' actions the bench looks at all of them (so that "posted" is noticed within
        one interaction, not one round of fifty) and lets the faults come in (`between()`).
        """
        progressed = False
        for track in self.tracks:
            self.observe()
            await between()
            if not track.done:
                progressed |= await self.step(track)
        return progressed

    async def step(self, track: Track) -> bool:
        if not track.breed_id:
            asked = time.monotonic()
            answer = await self.interact(track.starter.slash(track.home.channel, "breed start"))
            match = re.match(r"Breed `([a-z0-9]+)` started in <#(\d+)>", answer)
            if match is None:
                return False
            track.breed_id, track.thread = match.group(1), self.find_thread(track, int(match.group(2)))
            track.started_at = asked
            self.steps_done += 1
            return True
        if track.finishing:
            if not self.winner_posted(track):
                return False
            track.done = True
            self.steps_done += 1
            return True
        if track.closed_at is not None:  # waiting for the next generation; observe() times it
            return False
        message = self.vote_message(track, track.generation)
        if message is None:
            return False
        if not track.voted:
            counts = [0] * POPULATION
            for person in track.home.people:
                for index in self.rng.sample(range(POPULATION), 2):
                    try:
                        await person.react(message, NUMBER_EMOJI[index])
                    except TimeoutError:
                        # Made: SimCord adds the reaction, then waits for the bot, which a loaded machine slows.
                        log.info("breed %s: the bot was slow to take a reaction; it takes it later", track.breed_id)
                        counts[index] += 1
                    except Exception as error:  # noqa: BLE001 - not made, so not expected in the fitness
                        log.warning("breed %s: a reaction failed: %s", track.breed_id, error)
                    else:
                        counts[index] += 1
            track.votes[track.generation] = tuple(counts)
            track.voted = True
            return True
        if track.generation < self.generations:
            answer = await self.interact(track.starter.click(message, label="Next"))
            if not answer.startswith("Voting on generation"):
                return False
            track.closed_at = time.monotonic()
            track.generation += 1
            track.voted = False
            self.steps_done += 1
            return True
        answer = await self.interact(track.starter.slash(track.thread, "breed finish"))
        if not answer.startswith("Finishing with candidate"):
            return False
        track.finishing = True
        self.steps_done += 1
        return True

    async def check(self, store: Any) -> None:
        """What Discord and Redis show: winners posted once, every generation posted once, every vote counted."""
        from domain.votes import top_candidate

        for track in self.tracks:
            if track.thread is None:
                self.report.lost_generations += self.generations + 1
                self.report.problems.append(f"breed {track.breed_id or '?'} never started")
                continue
            history = track.thread.history()
            winners = [m for m in history if any(a.filename == "winner.mid" for a in m.attachments)]
            breed = await store.breeds.get(track.breed_id)
            if breed is not None and breed.status == "finished" and len(winners) == 1:
                self.report.finished += 1
            elif len(winners) > 1:
                self.report.problems.append(f"breed {track.breed_id}: winner posted {len(winners)} times")
            else:
                self.report.problems.append(f"breed {track.breed_id}: no winner posted "
                                            f"(status {breed.status if breed else 'unknown'})")
            for number in range(self.generations + 1):
                posts = [m for m in history if m.author.bot and f"**Generation {number + 1}**" in m.content
                         and m.attachments]
                if not posts:
                    self.report.lost_generations += 1
                    self.report.problems.append(f"breed {track.breed_id}: generation {number + 1} never posted")
                elif len(posts) > 1:
                    self.report.duplicate_generations += len(posts) - 1
                    self.report.problems.append(f"breed {track.breed_id}: generation {number + 1} posted twice")
            for number, reacted in track.votes.items():
                if number < self.generations:  # the fitness of the step these votes closed
                    made = await store.breeds.get_generation(track.breed_id, number + 1)
                    counted = tuple(made.fitness) if made is not None else ()
                else:  # the last generation's votes chose the winner
                    counted = tuple(await store.votes.tally(track.breed_id, number, POPULATION))
                    if breed is not None and breed.winner != top_candidate(reacted):
                        self.report.problems.append(f"breed {track.breed_id}: winner {breed.winner} is not "
                                                    f"the top of the votes {reacted}")
                missing = sum(max(want - (counted[i] if i < len(counted) else 0), 0) for i, want in enumerate(reacted))
                if missing:
                    self.report.lost_votes += missing
                    self.report.problems.append(f"breed {track.breed_id} gen {number + 1}: {missing} votes lost "
                                                f"(reacted {reacted}, counted {counted})")
