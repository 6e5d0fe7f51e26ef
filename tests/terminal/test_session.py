"""The terminal session on the real Redis store: the worker's results reach it through the event router,
in a group of its own; here the test plays the worker, writing generations and publishing its events."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from domain.model import BreedParams, Candidate, Generation, Note
from service.breeding import BreedingService
from service.events import Event
from storage import BreedStore
from storage.streams import EVENTS
from terminal.commands import Command
from terminal.session import Session
from tests.support.waiting import wait_for


async def play_generation(store: BreedStore, breed_id: str, number: int) -> None:
    """What a worker does for a generation: write it, then say so on the events stream."""
    candidates = tuple(Candidate(f"{breed_id}-{number}-{i}", i, ("foreign",), ()) for i in range(2))
    melodies = ((Note(60, 0, 4),), (Note(64 + number, 0, 8),))
    generation = Generation(breed_id, number, candidates, melodies)
    await store.breeds.write_generation(generation, np.zeros((2, 4), np.float32), {})
    await store.streams.events.publish_event(Event("generation_ready", breed_id, number))


async def started(session: Session, store: BreedStore) -> None:
    """Start the session's breed while playing the worker's first generation."""
    starting = asyncio.create_task(session.start(None))

    async def stored() -> bool:
        return bool(session.breed_id) and await store.breeds.get(session.breed_id) is not None

    await wait_for(stored, timeout=60, what="the session's breed")
    await play_generation(store, session.breed_id, 0)
    await asyncio.wait_for(starting, 60)


def new_session(store: BreedStore, tmp_path: Path) -> Session:
    service = BreedingService(store, time.time)
    return Session(service, tmp_path, BreedParams(population=2, foreign=0), interactive=False, timeout_s=20)


async def evolving(store: BreedStore, breed_id: str) -> None:
    """Wait until the breed's vote has closed and its next generation is asked of the worker."""

    async def closed() -> bool:
        return (await store.breeds.get(breed_id)).status == "evolving"

    await wait_for(closed, timeout=60, what=f"breed {breed_id} to evolve")


async def groups(store: BreedStore) -> set[str]:
    return {group["name"].decode() for group in await store.redis.xinfo_groups(EVENTS)}


async def test_two_sessions_on_one_redis_each_see_their_own_breed_and_leave_no_group(
    store: BreedStore, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = new_session(store, tmp_path / "one"), new_session(store, tmp_path / "two")
    try:
        await started(first, store)
        await started(second, store)
        assert {f"terminal:{first.breed_id}", f"terminal:{second.breed_id}"} <= await groups(store)

        voting = asyncio.create_task(first.step(Command("votes", (1,))))
        await evolving(store, first.breed_id)
        await play_generation(store, first.breed_id, 1)
        assert await asyncio.wait_for(voting, 60)
    finally:
        await first.close()
        await second.close()

    shown = capsys.readouterr().out
    assert shown.count("Generation 1 ") == 2 and shown.count("Generation 2 ") == 1
    assert (tmp_path / "one" / first.breed_id / "gen-02").is_dir()
    assert not (tmp_path / "two" / second.breed_id / "gen-02").exists()
    assert (await store.breeds.get(second.breed_id)).status == "voting"  # the other session's event left it be
    assert not any(name.startswith("terminal:") for name in await groups(store))


async def test_a_failed_step_ends_the_wait_with_the_workers_message(store: BreedStore, tmp_path: Path) -> None:
    session = new_session(store, tmp_path)
    try:
        await started(session, store)
        voting = asyncio.create_task(session.step(Command("votes", (0,))))
        await evolving(store, session.breed_id)
        failed = Event("error", session.breed_id, 0, message="The model is away.", job="evolve")
        await store.streams.events.publish_event(failed)
        with pytest.raises(RuntimeError, match="^the worker failed: The model is away.$"):
            await asyncio.wait_for(voting, 60)
    finally:
        await session.close()
    assert (await store.breeds.get(session.breed_id)).status == "voting"  # the vote is open again


async def test_a_killed_sessions_group_goes_when_the_next_session_starts_and_a_live_one_stays(
    store: BreedStore, tmp_path: Path,
) -> None:
    # A session killed long ago, before it could remove its group; and one starting its breed right now.
    await store.redis.xgroup_create(EVENTS, "terminal:gone1234", id="1-0", mkstream=True)
    await store.streams.sessions.add_session_group("starting")
    live = new_session(store, tmp_path / "live")
    later = new_session(store, tmp_path / "later")
    try:
        await started(live, store)
        await started(later, store)
        assert await groups(store) >= {f"terminal:{live.breed_id}", f"terminal:{later.breed_id}", "terminal:starting"}
        assert "terminal:gone1234" not in await groups(store)
    finally:
        await live.close()
        await later.close()


async def test_a_breed_whose_session_was_killed_is_stopped_when_the_next_session_opens(
    store: BreedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import service.events
    import terminal.session
    from storage.breeds import breed_key

    # A session says it is alive for 3 s, every 0.2 s (instead of 60 s, every 15 s): a running session's
    # beat comes in time even on a loaded machine.
    monkeypatch.setattr(service.events, "STALE_SESSION_S", 3.0)
    monkeypatch.setattr(terminal.session, "SESSION_BEAT_S", 0.2)
    running, killed = new_session(store, tmp_path / "running"), new_session(store, tmp_path / "killed")
    discord = await BreedingService(store, time.time).start(owner_id=5, params=BreedParams(population=2, foreign=0),
                                                            front="discord")
    try:
        await started(running, store)
        await started(killed, store)
        # Killed: its process is gone without a word, so its beat stops (its tasks simply end here).
        killed._ending.set()
        # Its last beat lasts its time out; the running session beats on.
        await wait_for(lambda: _not_alive(store, killed.breed_id), timeout=60, what="the killed session's last beat")

        later = new_session(store, tmp_path / "later")
        await started(later, store)
        assert (await store.breeds.get(killed.breed_id)).status == "stopped"
        assert 0 < await store.redis.pttl(breed_key(killed.breed_id))  # it expires like any breed that ended
        assert (await store.breeds.get(running.breed_id)).status == "voting"
        assert (await store.breeds.get(discord.breed_id)).status == discord.status  # only terminal breeds
    finally:
        for session in (running, killed, later):
            await session.close()


async def _not_alive(store: BreedStore, session_id: str) -> bool:
    return not await store.streams.sessions.session_alive(session_id)
