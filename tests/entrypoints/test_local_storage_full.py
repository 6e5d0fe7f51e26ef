"""`breeder local` over a full Redis: one line, exit status 1, no traceback, whether the store was set up or not."""

from __future__ import annotations

from redis.asyncio import Redis

from service.errors import STORAGE_FULL_TEXT
from storage import BreedStore, connect
from tests.support.local import local
from tests.support.storage_full import fill


async def test_a_full_store_ends_the_session_in_one_line(redis_server_factory, tmp_path) -> None:
    for prepared in (False, True):
        server = redis_server_factory(maxmemory="16mb", appendonly=False)
        client: Redis = connect(server.url)
        if prepared:  # the streams and their groups were made before Redis filled up
            await BreedStore(client).streams.ensure_groups()
        await fill(client)
        await client.aclose()

        result = local(server.url, tmp_path / str(prepared), "--no-worker", "--votes", "1")

        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().splitlines()[-1] == f"breeder local: {STORAGE_FULL_TEXT}"
        assert "Traceback" not in result.stdout + result.stderr
