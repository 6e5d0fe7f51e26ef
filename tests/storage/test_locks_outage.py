"""A breed's lock held when Redis goes away: the process that held it is not kept out of it for the lease."""

from __future__ import annotations

import time

import pytest

from storage import UNAVAILABLE, LockTimeout, connect
from storage.locks import LockStore, lock_key


async def test_a_lock_held_when_redis_went_away_is_let_go_by_its_process_once_redis_is_back(
        redis_server_factory) -> None:
    server = redis_server_factory(appendonly=True)
    port, data_dir = server.port, server.data_dir
    redis = connect(server.url)
    locks = LockStore(redis)
    try:
        with pytest.raises(UNAVAILABLE):
            async with locks.breed_lock("b1", lease_s=60.0):
                server.stop()  # the transition's writes and the lock's release fail
                await redis.get("x")
        redis_server_factory(data_dir, port=port, appendonly=True)  # its AOF keeps the lock, with its lease
        assert await redis.pttl(lock_key("b1")) > 30_000
        # Another process waits, as it must: it cannot tell a dead holder from a slow one.
        elsewhere = connect(server.url)
        with pytest.raises(LockTimeout):
            async with LockStore(elsewhere).breed_lock("b1", wait_s=0.3):
                pass
        await elsewhere.aclose()
        # The process that held it lets it go and takes it again at once, rather than waiting out its lease.
        started = time.monotonic()
        async with locks.breed_lock("b1", wait_s=5.0):
            assert time.monotonic() - started < 1.0
        assert await redis.exists(lock_key("b1")) == 0
    finally:
        await redis.aclose()
