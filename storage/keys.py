"""Every Redis key, stream and consumer-group name of the project, in one place.

All keys start with "mb:" so that a Redis shared with other applications stays tidy; only
storage/ builds key names.
"""

from __future__ import annotations

PREFIX = "mb:"

# Streams and their consumer groups (group names live inside a stream, so they need no prefix).
JOBS = f"{PREFIX}jobs"
EVENTS = f"{PREFIX}events"
WORKERS_GROUP = "workers"
BOTS_GROUP = "bots"
# Each front end that reads worker events has its own group on the events stream: each sees every
# event, and handles those of its own breeds.
WEB_GROUP = "web"
EVENT_GROUPS = {"discord": BOTS_GROUP, "web": WEB_GROUP}
# A terminal session reads the events stream in a group of its own, made when it starts and removed
# when it ends: sessions on one Redis must not take each other's events.
SESSION_READER_PREFIX = "terminal:"

# Bot processes that split the shards (SHARD_IDS) each read every event in a group of their shards and
# handle those of their own servers; processes that run every shard share BOTS_GROUP.
SHARDS_GROUP_PREFIX = f"{BOTS_GROUP}-shards-"


def shards_group(shard_ids: list[int]) -> str:
    """The events group of the bot processes running exactly `shard_ids`."""
    return SHARDS_GROUP_PREFIX + "-".join(str(shard) for shard in sorted(shard_ids))


def session_reader(session_id: str) -> str:
    """The reader name (and group) of one terminal session on the events stream."""
    return f"{SESSION_READER_PREFIX}{session_id}"


def event_group(reader: str) -> str:
    """The events stream's consumer group of `reader`: a front end ("discord", "web"), the bot processes of
    some shards, or a terminal session."""
    if reader.startswith((SESSION_READER_PREFIX, SHARDS_GROUP_PREFIX)):
        return reader
    return EVENT_GROUPS[reader]


DEAD_LETTERS = f"{PREFIX}dead-letters"

# Indexes: a set of breed ids whose status is open. Thread id -> breed id and message id -> target
# are a key each (thread(), message()), so that they expire with their breed; THREADS and MESSAGES are
# the hashes older versions kept them in, still read.
OPEN_BREEDS = f"{PREFIX}breeds:open"
THREADS = f"{PREFIX}threads"
MESSAGES = f"{PREFIX}messages"


def thread(thread_id: int) -> str:
    """The breed id a Discord thread belongs to."""
    return f"{PREFIX}thread:{thread_id}"


def message(message_id: int) -> str:
    """The "breed id:generation" a Discord message shows."""
    return f"{PREFIX}message:{message_id}"


def breed(breed_id: str) -> str:
    """The breed's JSON."""
    return f"{PREFIX}breed:{breed_id}"


def generation(breed_id: str, number: int) -> str:
    """The generation's JSON; its existence marks the generation as written."""
    return f"{PREFIX}breed:{breed_id}:gen:{number}"


def latents(breed_id: str, number: int) -> str:
    """A hash with the generation's latents: float32 bytes and shape."""
    return f"{PREFIX}breed:{breed_id}:gen:{number}:latents"


def artifact(breed_id: str, number: int, name: str) -> str:
    """One rendered file (audio, image, MIDI) of a generation."""
    return f"{PREFIX}breed:{breed_id}:gen:{number}:artifact:{name}"


def votes(breed_id: str, number: int) -> str:
    """A set of "candidate:user" members: one vote per user per candidate."""
    return f"{PREFIX}breed:{breed_id}:gen:{number}:votes"


def nudges(breed_id: str, number: int) -> str:
    """A list of the generation's nudges (codec.Nudge JSON), in the order they came."""
    return f"{PREFIX}breed:{breed_id}:gen:{number}:nudges"


def posted(breed_id: str, number: int, kind: str) -> str:
    """A marker set the first time the bot posts `kind` for a generation."""
    return f"{PREFIX}breed:{breed_id}:gen:{number}:posted:{kind}"


def posted_parts(breed_id: str, number: int, kind: str) -> str:
    """A hash of the parts of a post of `kind` sent so far (part -> message id), so a retry goes on from there."""
    return f"{PREFIX}breed:{breed_id}:gen:{number}:parts:{kind}"


def gallery(guild_id: int | None) -> str:
    """A server's gallery: a sorted set of winners' melody ids, scored by when they finished (no TTL)."""
    return f"{PREFIX}gallery:{guild_id if guild_id is not None else 'local'}"


def gallery_winner(melody_id: str) -> str:
    """A gallery winner's JSON (no TTL)."""
    return f"{PREFIX}winner:{melody_id}"


def gallery_file(melody_id: str, name: str) -> str:
    """Where older versions kept a second copy of a gallery winner's file (now the breed's own is kept)."""
    return f"{PREFIX}winner:{melody_id}:file:{name}"


def composition(composition_id: str) -> str:
    """A composition's JSON: its phrases and where it was asked for."""
    return f"{PREFIX}composition:{composition_id}"


def composition_file(composition_id: str, name: str) -> str:
    """One rendered file of a composition (with the artifacts' TTL)."""
    return f"{PREFIX}composition:{composition_id}:file:{name}"


def composition_posted(composition_id: str) -> str:
    """A marker set the first time the bot posts a composition."""
    return f"{PREFIX}composition:{composition_id}:posted"


def tune(tune_id: str) -> str:
    """A tune's request: the melody it is made from, its options and where it was asked for."""
    return f"{PREFIX}tune:{tune_id}"


def tune_file(tune_id: str, name: str) -> str:
    """One rendered file of a tune asked for with /breed tune (with the artifacts' TTL)."""
    return f"{PREFIX}tune:{tune_id}:file:{name}"


def tune_posted(tune_id: str) -> str:
    """A marker set the first time a front end shows a tune."""
    return f"{PREFIX}tune:{tune_id}:posted"


def upload(token: str) -> str:
    """An uploaded seed MIDI file."""
    return f"{PREFIX}upload:{token}"


def cooldown(kind: str, user_id: int | str) -> str:
    """Set while a user waits before another request of `kind` (start, morph); expires by itself."""
    return f"{PREFIX}cooldown:{kind}:{user_id}"


def lock(breed_id: str) -> str:
    """Held (with a lease) by the one process changing a breed right now."""
    return f"{PREFIX}breed:{breed_id}:lock"


def start_lock(scope: int | str | None) -> str:
    """Held while a start in `scope` (a server, a web client) is checked against its limits and stored."""
    return f"{PREFIX}start-lock:{scope if scope is not None else 'local'}"
