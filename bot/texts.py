"""What the bot writes: pure functions from breed state to message text.

People count generations and candidates from 1; the stored numbers start at 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.voting import describe_tally
from domain.ids import melody_id
from domain.instruments import instrument_name
from domain.model import Breed, BreedParams, Composition, TuneRequest, Winner
from domain.strategies import DEFAULT_STRATEGY

# General MIDI programs offered by /breed start (the setting INSTRUMENT may name any 0-127).

# Progress stages of a step: "queued" is the bot's own, the others the worker reports.
STAGES: dict[str, str] = {
    "queued": "queued, waiting for a worker",
    "evolving": "breeding the next generation",
    "decoding": "turning vectors into melodies",
    "rendering": "rendering audio and the piano roll",
}


def shown(number: int) -> int:
    """A 0-based generation or candidate number as people see it."""
    return number + 1


def timestamp(deadline: float) -> str:
    """A Discord timestamp that each reader's client shows as "in 3 minutes"."""
    return f"<t:{int(deadline)}:R>"


def describe_params(params: BreedParams) -> str:
    minutes = f"{params.vote_minutes:g}"
    strategy = f" · {params.strategy} strategy" if params.strategy != DEFAULT_STRATEGY else ""
    return (
        f"{params.population} candidates · σ {params.sigma:g} · {params.foreign} foreign · "
        f"{minutes} min votes · {params.tempo} BPM · {instrument_name(params.instrument)} · "
        f"{backing_name(params.backing)} · {params.bars}-bar tune{strategy}"
    )


def backing_name(backing: str) -> str:
    """How people read a backing: "no backing", "chords backing", "band backing"."""
    return "no backing" if backing == "none" else f"{backing} backing"


def start_text(
    owner_id: int, breed_id: str, params: BreedParams, seed_name: str | None, source: Breed | None = None,
    source_id: str | None = None,
) -> str:
    seed = f"\nStarting from the melody in `{seed_name}`." if seed_name else ""
    if source is not None and source_id is not None:
        seed = f"\n🌱 Branched from `{source_id}` of breed `{source.breed_id}`{_where(source)}."
    return f"🎼 <@{owner_id}> started breed `{breed_id}`: {describe_params(params)}.{seed}"


def _where(breed: Breed) -> str:
    return f" (<#{breed.thread_id}>)" if breed.thread_id else ""


def thread_name(breed_id: str) -> str:
    return f"Breed {breed_id}"


def progress_text(generation: int, stage: str) -> str:
    """The progress line of the step that makes `generation` (0-based)."""
    if stage == "posted":
        return f"✅ Generation {shown(generation)}: posted below ↓"
    if stage == "evolving" and generation == 0:
        return f"⏳ Generation {shown(generation)}: picking the first melodies…"
    return f"⏳ Generation {shown(generation)}: {STAGES.get(stage, stage)}…"


def finishing_text(candidate: int, generation: int) -> str:
    return f"🏁 Rendering the winner, candidate {shown(candidate)} of generation {shown(generation)}…"


def ended_text(line: str, candidate: int, generation: int) -> str:
    """What the thread is told when the breed ends by itself: why (domain.rules.end_line), and what wins."""
    return f"⏹️ {line} Its best melody so far wins: candidate {shown(candidate)} of generation {shown(generation)}."


def vote_ended_text(generation: int, fitness: Sequence[int]) -> str:
    """What a vote message says once the breed ended by itself as its vote closed."""
    return f"{closed_text(generation, fitness)} The breed ended by itself."


def ended_answer(line: str, candidate: int, generation: int) -> str:
    """The answer to whoever closed the vote that ended the breed."""
    return (f"{line} Finishing with candidate {shown(candidate)} of generation {shown(generation)}: "
            "its files will be posted in the thread.")


def failed_text(generation: int, message: str) -> str:
    return f"⚠️ Generation {shown(generation)} failed: {message}"


def winner_posted_text(candidate: int, generation: int) -> str:
    return f"🏆 Winner: candidate {shown(candidate)} of generation {shown(generation)}, posted below ↓"


def finish_failed_text(message: str) -> str:
    return f"⚠️ Rendering the winner failed: {message}"


def generation_text(breed: Breed, generation: int, deadline: float, *, rerolled: bool) -> str:
    """The text of a generation's vote message."""
    lines = [f"**Generation {shown(generation)}** of breed `{breed.breed_id}` · σ {breed.params.sigma:g}"]
    if rerolled:
        lines.append("Nobody voted last time, so these are fresh random melodies.")
    lines.append("Listen, then react with the numbers you like (one vote per candidate each).")
    first = melody_id(breed.breed_id, generation, 0)
    last = melody_id(breed.breed_id, generation, breed.params.population - 1)
    lines.append(f"Melody ids: `{first}` … `{last}` (for /breed tree, /breed start from:, /breed compose).")
    if generation + 1 >= breed.params.max_generations:
        lines.append("This is the breed's last generation: when voting closes, it ends with its favourite.")
    lines.append(f"Voting closes {timestamp(deadline)}.")
    return "\n".join(lines)


def clips_text(generation: int, first: int, last: int) -> str:
    return f"Generation {shown(generation)}, candidates {shown(first)}–{shown(last)}"


def closed_text(generation: int, fitness: Sequence[int]) -> str:
    return f"**Generation {shown(generation)}**: voting closed. Votes: {describe_tally(fitness)}."


def closed_answer(generation: int, fitness: Sequence[int]) -> str:
    """The answer to whoever closed the vote."""
    return f"Voting on generation {shown(generation)} closed. Votes: {describe_tally(fitness)}."


def vote_finished_text(generation: int, candidate: int) -> str:
    """What a vote message says once the breed finished with `candidate`."""
    return f"**Generation {shown(generation)}**: finished with candidate {shown(candidate)}."


def finishing_answer(candidate: int) -> str:
    return f"Finishing with candidate {shown(candidate)}: its files will be posted in the thread."


def vote_stopped_text(generation: int) -> str:
    return f"**Generation {shown(generation)}**: stopped."


def stopped_text(user_id: int) -> str:
    return f"⏹️ <@{user_id}> stopped this breed."


def stopped_answer(breed_id: str) -> str:
    return f"Breed `{breed_id}` stopped."


def sigma_text(user_id: int, sigma: float) -> str:
    return f"🧬 <@{user_id}> set the mutation σ to {sigma:g} from the next step on."


def sigma_answer(breed_id: str, sigma: float) -> str:
    return f"Mutation σ of breed `{breed_id}` is {sigma:g} from the next step on."


def step_failed_text(after: Breed, message: str) -> str:
    """What the thread is told when a step failed: voting is open again, or the breed cannot go on."""
    if after.status == "voting":
        follow = (f"Voting on generation {shown(after.generation)} is open again: "
                  "use /breed next or /breed finish to try again.")
    else:
        follow = "This breed cannot go on; start a new one with /breed start."
    return f"⚠️ {message} {follow}"


def nudged_text(words: str, summary: str) -> str:
    return f"Nudged: {words}. This generation's nudges so far: {summary}. They move the next generation."


def nudges_text(summary: str) -> str:
    """The line that tells what the closed generation's nudges were, or "" when nobody nudged."""
    return f" Nudges: {summary}." if summary else ""


def reroll_text(generation: int) -> str:
    return f"🎲 Nobody voted on generation {shown(generation)}: re-rolling fresh random melodies."


def winner_text(breed: Breed, candidate: int, generation: int) -> str:
    return (
        f"🏆 The winner of breed `{breed.breed_id}`: candidate {shown(candidate)} of generation "
        f"{shown(generation)} ({breed.params.tempo} BPM, {instrument_name(breed.params.instrument)}), "
        f"`{melody_id(breed.breed_id, generation, candidate)}`, and the {breed.params.bars}-bar tune made "
        f"from it with {backing_name(breed.params.backing)} (`tune.ogg`, `tune.mid`). It is in the server's "
        "/breed gallery; **Branch** breeds on from it, /breed tune makes another tune."
    )


def tree_requested_text(melody: str, breed: Breed) -> str:
    return f"Drawing the family tree of `{melody}`: it will be posted in <#{breed.thread_id}>."


def tree_text(melody: str) -> str:
    return f"🌳 Family tree of `{melody}`: its ancestors back to generation 1, with their votes."


def tree_failed_text(melody: str, message: str) -> str:
    return f"⚠️ The family tree of `{melody}` failed: {message}"


def winner_line(winner: Winner) -> str:
    """One gallery entry: its id, whose breed, how many took part, when it finished."""
    people = len(winner.people)
    branched = f", branched from `{winner.source}`" if winner.source else ""
    return (f"`{winner.melody_id}` · breed `{winner.breed_id}` by <@{winner.owner_id}> · "
            f"{people} {'person' if people == 1 else 'people'}{branched} · <t:{int(winner.finished_at)}:d>")


def gallery_text(winners: Sequence[Winner], page: int, pages: int, total: int) -> str:
    if not total:
        return "This server's gallery is empty: the winner of every finished breed goes there."
    head = f"🖼️ **Gallery**: {total} winner{'s' if total != 1 else ''}, newest first (page {page} of {pages})"
    tail = "\n/breed play <id> posts one again; /breed start from:<id> breeds on from it."
    return "\n".join([head, *(winner_line(winner) for winner in winners)]) + tail


def play_text(winner: Winner, user_id: int, without_tree: bool = False) -> str:
    """A gallery replay; `without_tree`: its family tree went with its breed (BREED_RETENTION_DAYS), said in a line."""
    return (f"🎵 <@{user_id}> plays `{winner.melody_id}`, the winner of breed `{winner.breed_id}` by "
            f"<@{winner.owner_id}> ({len(winner.people)} took part)."
            + ("\nIts family tree is no longer kept: it went with its breed." if without_tree else ""))


def forget_server_confirm_text(server_name: str) -> str:
    return (f"This deletes this server's gallery, its breeds and everyone's votes for good. To go on, run "
            f"`/breed forget-server` again with `confirm:` {server_name}")


def server_forgotten_text(winners: int, breeds: int) -> str:
    return (f"Forgotten: {winners} gallery winner{'s' if winners != 1 else ''} and {breeds} "
            f"breed{'s' if breeds != 1 else ''} of this server, with their votes.")


def composition_requested_text(composition: Composition) -> str:
    return f"Composing {len(composition.melodies)} phrases: the piece will be posted here."


def composition_text(composition: Composition) -> str:
    joins = " with smooth joins" if composition.smooth else ""
    phrases = " ".join(f"`{melody}`" for melody in composition.melodies)
    return f"🎼 A piece by <@{composition.requester_id}> from {phrases}{joins}."


def composition_failed_text(composition: Composition, message: str) -> str:
    return f"⚠️ The piece of <@{composition.requester_id}> failed: {message}"


def tune_requested_text(tune: TuneRequest) -> str:
    return (f"Making a {tune.bars}-bar tune from `{tune.melody}` with {backing_name(tune.backing)}: "
            "it will be posted here.")


def tune_text(tune: TuneRequest) -> str:
    return (f"🎶 A {tune.bars}-bar tune from `{tune.melody}` with {backing_name(tune.backing)}, "
            f"for <@{tune.requester_id}>: the melody opens it and comes back.")


def tune_failed_text(tune: TuneRequest, message: str) -> str:
    return f"⚠️ The tune from `{tune.melody}` for <@{tune.requester_id}> failed: {message}"


def morph_requested_text(start: int, end: int) -> str:
    """The answer to /breed morph; `start` and `end` are 0-based candidates."""
    return f"Morphing from candidate {shown(start)} to candidate {shown(end)}: the clip will be posted in the thread."


def morph_text(start: int, end: int, generation: int, steps: int | None) -> str:
    """The message that carries a morph's clip and MIDI file."""
    length = f" ({steps} steps)" if steps else ""
    return (f"🔀 Morph from candidate {shown(start)} to candidate {shown(end)} of generation "
            f"{shown(generation)}{length}")


def morph_failed_text(start: int, end: int, message: str) -> str:
    return f"⚠️ The morph from candidate {shown(start)} to candidate {shown(end)} failed: {message}"


def status_text(breed: Breed, fitness: Sequence[int]) -> str:
    """The /breed status answer."""
    head = f"Breed `{breed.breed_id}` by <@{breed.owner_id}>"
    if breed.thread_id:
        head += f" in <#{breed.thread_id}>"
    if breed.generation < 0:
        where = "making generation 1"
    elif breed.status == "voting":
        closes = f", closes {timestamp(breed.vote_deadline)}" if breed.vote_deadline else ""
        where = f"voting on generation {shown(breed.generation)}{closes}; votes: {describe_tally(fitness)}"
    elif breed.status == "evolving":
        where = f"working on the step after generation {shown(breed.generation)}"
    elif breed.status == "finished" and breed.winner is not None:
        number = breed.generation if breed.winner_generation is None else breed.winner_generation
        where = f"finished: the winner is candidate {shown(breed.winner)} of generation {shown(number)}"
    else:
        where = f"{breed.status} at generation {shown(breed.generation)}"
    return f"{head}: {where}. {describe_params(breed.params)}."


def plan_messages(names: Sequence[str], per_message: int = 10) -> list[list[str]]:
    """Split attachments into messages of at most `per_message` files, in order."""
    if per_message < 1:
        raise ValueError("per_message must be at least 1")
    return [list(names[i:i + per_message]) for i in range(0, len(names), per_message)]


# --- /breed listen -------------------------------------------------------------------------

def listen_playing_text(channel_id: int, what: str, position: int, count: int) -> str:
    """The listen message while a clip plays: `what` is "Generation 2" or "The winner"; `position` counts from 1."""
    return f"🔊 In <#{channel_id}> · {what}: ▶ {position} of {count}"


def listen_done_text(channel_id: int, what: str, count: int) -> str:
    return f"🔊 In <#{channel_id}> · {what}: all {count} played; the next generation plays when it is posted."


def listen_waiting_text(channel_id: int) -> str:
    return f"🔊 In <#{channel_id}>: the first generation plays when it is posted."


def listen_left_text(channel_id: int, why: str) -> str:
    return f"🔇 Left <#{channel_id}>: {why}."


def listen_started_answer(channel_id: int, breed_id: str) -> str:
    return f"Playing breed `{breed_id}` in <#{channel_id}>; `/breed listen action:stop` makes me leave."


def listen_busy_text(breed_id: str, channel_id: int) -> str:
    return (f"I am playing breed `{breed_id}` in <#{channel_id}> on this server already (one voice channel per "
            "server); `/breed listen action:stop` there frees me.")
