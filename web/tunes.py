"""The web page's tunes: "Make a tune" from any melody id of the page, pushed to the page once it is made.

A tune is asked for with POST /api/tunes; the page then listens to /api/tunes/{id}/events (told
once the worker made it, or failed) and reads /api/tunes/{id} for its files. Only tunes asked for
on the page exist here, like its breeds.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from domain import artifacts
from domain.ids import BREED_ID
from domain.model import TuneRequest
from web.app import (
    CONTENT_TYPES,
    SERVICE_KEY,
    PageError,
    _integer,
    _json,
    client_id,
    not_discords,
    stream_slot,
    stream_updates,
)
from web.front import FRONT

log = logging.getLogger(__name__)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/tunes", request_tune)
    app.router.add_get("/api/tunes/{tune_id}", tune_state)
    app.router.add_get("/api/tunes/{tune_id}/events", tune_updates)
    app.router.add_get("/api/tunes/{tune_id}/files/{name}", tune_file)


def _shown(tune: TuneRequest, files: list[str], failed: str | None = None) -> dict[str, Any]:
    """A tune as the page reads it; `failed`: why the worker could not make it (None: made, or not yet)."""
    return {"tune_id": tune.tune_id, "melody": tune.melody, "bars": tune.bars, "backing": tune.backing,
            "files": files, "failed": failed, "url": f"/api/tunes/{tune.tune_id}"}


async def request_tune(request: web.Request) -> web.StreamResponse:
    """Ask for a tune: {"melody": id, "bars": 8 or 16, "backing": "none"/"chords"/"band"} (options may be left out)."""
    body = await _json(request)
    melody = body.get("melody")
    if not isinstance(melody, str) or not melody.strip():
        raise PageError("`melody` must be a melody id, e.g. ab12cd34-g3-5.")
    backing = body.get("backing")
    if backing is not None and not isinstance(backing, str):
        raise PageError("`backing` must be one of the backings' names.")
    bars = _integer(body, "bars", optional=True)
    with not_discords():
        tune = await request.app[SERVICE_KEY].tunes.request(melody, None, None, client_id(request), bars=bars,
                                                           backing=backing or None, front=FRONT)
    log.info("tune %s of %s asked for on the web page", tune.tune_id, tune.melody)
    return web.json_response(_shown(tune, []), status=202)


async def _tune(request: web.Request) -> TuneRequest:
    """The tune of the URL, if it was asked for on the page (an id not in the ids' format names nothing)."""
    tune_id = request.match_info["tune_id"]
    if not BREED_ID.fullmatch(tune_id):
        raise PageError("There is no such tune.", 404)
    return await request.app[SERVICE_KEY].tunes.get(tune_id, FRONT)


async def tune_state(request: web.Request) -> web.StreamResponse:
    """A tune and the files made so far (none until the worker is done)."""
    service = request.app[SERVICE_KEY]
    tune = await _tune(request)
    files = await service.tunes.files(tune.tune_id)
    failed = await service.tunes.failure(tune.tune_id)
    return web.json_response(_shown(tune, [name for name, _data in files.found], failed))


async def tune_updates(request: web.Request) -> web.StreamResponse:
    with stream_slot(request):
        tune = await _tune(request)
        return await stream_updates(request, tune.tune_id)


async def tune_file(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE_KEY]
    tune = await _tune(request)
    name = request.match_info["name"]
    if name not in artifacts.TUNE_FILES:
        raise PageError("No such file.", 404)
    found = dict((await service.tunes.files(tune.tune_id)).found)
    if name not in found:
        raise PageError("That file is not there (or no longer: tunes are kept for a while only).", 404)
    headers = {"Content-Disposition": f'inline; filename="{tune.melody}-{name}"'}
    return web.Response(body=found[name], content_type=CONTENT_TYPES[name[name.rindex("."):]], headers=headers)
