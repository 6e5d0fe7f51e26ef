"""Votes, nudges, posting markers, the gallery and requests in memory: the twins of storage.votes,
storage.nudges, storage.posts, storage.gallery and storage.requests (same values back, same errors)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from domain.model import Composition, TuneRequest, Winner
from storage.codec import Nudge, dump, load_nudge, load_winner
from storage.memory.space import Space
from storage.votes import ballot_members, ballot_of, is_by, tally_of, vote_member, voters_of

R = TypeVar("R", Composition, TuneRequest)


class MemoryVotes:
    """Votes in memory: per generation a set of "candidate:user" members (more of one person's: ":2", ...)."""

    def __init__(self, space: Space) -> None:
        self._space = space

    def _members(self, breed_id: str, number: int) -> set[str]:
        return set(self._space.get(("votes", breed_id, number), set()))

    def _store(self, breed_id: str, number: int, members: set[str]) -> None:
        key = ("votes", breed_id, number)
        if members:
            self._space.set(key, members, keep_ttl=True)
        else:
            self._space.delete(key)  # an empty set is no key, as in Redis

    async def add(self, breed_id: str, number: int, candidate_index: int, user_id: int) -> bool:
        member = vote_member(candidate_index, user_id)
        members = self._members(breed_id, number)
        if member in members:
            return False
        self._store(breed_id, number, members | {member})
        return True

    async def remove(self, breed_id: str, number: int, candidate_index: int, user_id: int) -> bool:
        member = vote_member(candidate_index, user_id)
        members = self._members(breed_id, number)
        if member not in members:
            return False
        self._store(breed_id, number, members - {member})
        return True

    async def replace(self, breed_id: str, number: int, votes: dict[int, set[int]]) -> None:
        members = {vote_member(index, user) for index, users in votes.items() for user in users}
        self._space.delete(("votes", breed_id, number))
        self._store(breed_id, number, members)

    async def set_ballot(self, breed_id: str, number: int, user_id: int, counts: tuple[int, ...]) -> None:
        members = {m for m in self._members(breed_id, number) if not is_by(m, user_id)}
        members |= set(ballot_members(user_id, counts))
        self._store(breed_id, number, members)

    async def voters(self, breed_id: str, number: int) -> set[int]:
        return voters_of(self._members(breed_id, number))

    async def ballot(self, breed_id: str, number: int, user_id: int) -> tuple[int, ...]:
        return ballot_of(self._members(breed_id, number), user_id)

    async def tally(self, breed_id: str, number: int, population: int) -> list[int]:
        return tally_of(self._members(breed_id, number), population)


class MemoryNudges:
    """Each generation's nudges in memory, in the order they came."""

    def __init__(self, space: Space) -> None:
        self._space = space

    async def add(self, breed_id: str, number: int, nudge: Nudge) -> int:
        given: list[str] = self._space.setdefault(("nudges", breed_id, number), list)
        given.append(dump(nudge))
        return len(given)

    async def read(self, breed_id: str, number: int) -> list[Nudge]:
        return [load_nudge(raw) for raw in self._space.get(("nudges", breed_id, number), [])]


class MemoryPosts:
    """Posting markers and post parts in memory, kept for `retention_s`."""

    def __init__(self, space: Space, retention_s: float) -> None:
        self._space = space
        self._retention_s = retention_s

    async def mark_posted(self, breed_id: str, number: int, kind: str = "generation") -> bool:
        return self._space.set(("posted", breed_id, number, kind), True, self._retention_s, nx=True)

    async def is_posted(self, breed_id: str, number: int, kind: str = "generation") -> bool:
        return self._space.exists(("posted", breed_id, number, kind))

    async def posted_kinds(self, breed_id: str, number: int, kinds: list[str]) -> set[str]:
        return {kind for kind in kinds if self._space.exists(("posted", breed_id, number, kind))}

    async def unmark_posted(self, breed_id: str, number: int, kind: str = "generation") -> None:
        self._space.delete(("posted", breed_id, number, kind))

    async def post_part(self, breed_id: str, number: int, kind: str, part: str) -> str | None:
        parts: dict[str, str] = self._space.get(("parts", breed_id, number, kind), {})  # as record_post_part keeps it
        return parts.get(part)

    async def record_post_part(self, breed_id: str, number: int, kind: str, part: str, value: str) -> None:
        key = ("parts", breed_id, number, kind)
        parts = {**self._space.get(key, {}), part: value}
        self._space.set(key, parts, self._retention_s)


class MemoryGallery:
    """Gallery winners in memory, without expiry; their files are their breeds' own artifacts."""

    def __init__(self, space: Space) -> None:
        self._space = space

    def _order(self, guild_id: int | None) -> dict[str, float]:
        return dict(self._space.get(("gallery", guild_id), {}))

    async def keep(self, winner: Winner) -> bool:
        order = self._order(winner.guild_id)
        added = winner.melody_id not in order
        order.setdefault(winner.melody_id, winner.finished_at)
        self._space.set(("gallery", winner.guild_id), order)
        self._space.set(("winner", winner.melody_id), dump(winner))
        return added

    async def winners(self, guild_id: int | None, start: int, count: int) -> list[Winner]:
        # Newest first; on a tie of times, as a sorted set reversed: the greater id first.
        newest = sorted(self._order(guild_id).items(), key=lambda item: (item[1], item[0]), reverse=True)
        found = [self._space.get(("winner", melody_id)) for melody_id, _ in newest[start:start + max(count, 0)]]
        return [load_winner(raw) for raw in found if raw is not None]

    async def size(self, guild_id: int | None) -> int:
        return len(self._order(guild_id))

    async def winner(self, melody_id: str) -> Winner | None:
        raw = self._space.get(("winner", melody_id))
        return load_winner(raw) if raw is not None else None

    async def file(self, winner: Winner, name: str) -> bytes | None:
        return self._space.get_as(("artifact", winner.breed_id, winner.generation, name), bytes)

    async def remove(self, winner: Winner, names: tuple[str, ...]) -> bool:
        order = self._order(winner.guild_id)
        removed = order.pop(winner.melody_id, None) is not None
        if order:
            self._space.set(("gallery", winner.guild_id), order)
        else:
            self._space.delete(("gallery", winner.guild_id))
        self._space.delete(("winner", winner.melody_id),
                           *(("artifact", winner.breed_id, winner.generation, name) for name in names))
        return removed


class MemoryRequests(Generic[R]):
    """Requests of one kind in memory, each kept for `artifact_ttl_s`; `id_of` names a request."""

    def __init__(self, space: Space, kind: str, artifact_ttl_s: float, id_of: Callable[[R], str],
                 load: Callable[[bytes | str], R]) -> None:
        self._space = space
        self._kind = kind
        self._ttl_s = artifact_ttl_s
        self._id_of: Callable[[R], str] = id_of
        self._load: Callable[[bytes | str], R] = load

    async def create(self, request: R) -> None:
        self._space.set(("request", self._kind, self._id_of(request)), dump(request), self._ttl_s)

    async def delete(self, request: R) -> None:
        self._space.delete(("request", self._kind, self._id_of(request)))

    async def get(self, request_id: str) -> R | None:
        raw = self._space.get(("request", self._kind, request_id))
        return self._load(raw) if raw is not None else None

    async def add_files(self, request_id: str, files: dict[str, bytes]) -> None:
        for name, data in files.items():
            self._space.set(("request-file", self._kind, request_id, name), bytes(data), self._ttl_s)

    async def file(self, request_id: str, name: str) -> bytes | None:
        return self._space.get_as(("request-file", self._kind, request_id, name), bytes)

    async def mark_posted(self, request_id: str) -> bool:
        return self._space.set(("request-posted", self._kind, request_id), True, self._ttl_s, nx=True)

    async def unmark_posted(self, request_id: str) -> None:
        self._space.delete(("request-posted", self._kind, request_id))

    async def mark_failed(self, request_id: str, message: str) -> None:
        self._space.set(("request-failed", self._kind, request_id), message, self._ttl_s)

    async def failure(self, request_id: str) -> str | None:
        return self._space.get_as(("request-failed", self._kind, request_id), str)
