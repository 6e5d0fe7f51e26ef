"""The soak's last part: new breeds started one at a time on warm workers, timed to what people see first.

Once the soak's breeds are done, the workers are warm (model loaded, note cache filled) and idle. A group
that starts a breed then waits for its first generation; this times that wait, as people see it:

- on Discord: from `/breed start` to generation 1's vote message in the breed's thread, with its clips
  and its number reactions (the bot under SimCord, as in the rest of the soak);
- on the web page (its server in this process, on the same Redis and workers): from the start request to
  generation 1's state and its first clip fetched, as the page does (the page's update stream says the
  generation is open for votes, the page reads the state, the player loads the clip).

The breeds are started one after another, each once the one before it appeared, so each meets workers with
nothing else to do. The web page's breeds have the product's default options (population 8); the Discord
ones the soak's bot options (population 4).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.soak_driver import Driver, Home, Track

WARM_STARTS = 5  # breeds started one at a time on each front
TIMEOUT_S = 60.0


async def discord_starts(home: Home, count: int, advance: Callable[[Any, float], Awaitable[None]]) -> tuple[
        list[float], list[str]]:
    """Seconds from `/breed start` to its first vote message, for `count` breeds one after another; their ids."""
    seconds: list[float] = []
    ids: list[str] = []
    for index in range(count):
        starter = home.guild.add_member(home.env.create_user(f"warm{index}"))
        track = Track(starter, home)
        asked = time.monotonic()
        result = await starter.slash(home.channel, "breed start")
        answer = result.response.content if result is not None and result.response is not None else ""
        match = re.match(r"Breed `([a-z0-9]+)` started in <#(\d+)>", answer)
        if match is None:
            raise RuntimeError(f"a warm /breed start was answered {answer!r}")
        track.breed_id, track.thread = match.group(1), Driver.find_thread(track, int(match.group(2)))
        ids.append(track.breed_id)
        while Driver.vote_message(track, 0) is None:
            if time.monotonic() - asked > TIMEOUT_S:
                raise RuntimeError(f"breed {track.breed_id}: no first generation on Discord after {TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.005)
            await advance(home.env, 0.01)  # the bot's virtual time follows the wall clock, as in the soak
        seconds.append(time.monotonic() - asked)
    return seconds, ids


async def web_starts(url: str, settings: Any, count: int) -> tuple[list[float], list[str]]:
    """Seconds from the web page's start request to generation 1's state and first clip fetched, for `count`
    breeds one after another (the page's server runs here, on Redis at `url`, its media where `settings`
    says, as the workers'); their ids."""
    import aiohttp

    from service.connection import media_of, open_service
    from web.server import WebServer

    service = open_service(url, time.time, media=media_of(settings))
    server = WebServer(service, "127.0.0.1", 0, consumer="soak-web")
    await server.start()
    seconds: list[float] = []
    ids: list[str] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as session:
            for _ in range(count):
                asked = time.monotonic()
                async with session.post(f"{server.url}/api/breeds", json={}) as response:
                    if response.status != 201:
                        raise RuntimeError(f"the web page refused a start: {response.status} {await response.text()}")
                    breed_id = (await response.json())["breed_id"]
                ids.append(breed_id)
                state = await _first_generation(session, f"{server.url}/api/breeds/{breed_id}")
                clip = state["candidates"][0]["audio"]
                async with session.get(f"{server.url}/api/breeds/{breed_id}/files/0/{clip}") as response:
                    if response.status != 200 or not (await response.read()).startswith(b"OggS"):
                        raise RuntimeError(f"breed {breed_id}: its first clip was not served ({response.status})")
                seconds.append(time.monotonic() - asked)
    finally:
        await server.stop()
        await service.close()
    return seconds, ids


async def _first_generation(session: Any, api: str) -> dict[str, Any]:
    """What the page does: read the state when its update stream opens and at each update, until generation 1
    is open for votes; that state."""
    async with session.get(f"{api}/events") as stream:
        async for line in stream.content:
            if not (line.startswith(b"event: hello") or line.startswith(b"data: ")):
                continue
            if line.startswith(b"data: ") and json.loads(line[6:]).get("type") == "progress":
                continue  # the page shows the stage and reads nothing
            async with session.get(api) as response:
                state: dict[str, Any] = await response.json()
            if state["status"] == "voting" and state["generation"] == 0 and state["candidates"]:
                return state
    raise RuntimeError(f"{api}: the update stream ended before generation 1 was open for votes")
