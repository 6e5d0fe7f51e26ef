"""The web page: start a breed, listen, vote, steer and download the winner, in a browser.

A thin shell over the breeding service, like the bot: every change is a call on the service
(the same rules and refusals), every refusal one line in JSON (`{"error": ...}`) that the page
shows. The page learns of the worker's results through server-sent events (`/api/breeds/{id}/events`)
and then fetches the breed's state once: no polling. Each breed has its own URL, `/b/{id}`, so a
reload or a restart of the process finds it again (everything is in Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from importlib import resources
from typing import Any

from aiohttp import web

from domain import artifacts, limits, nudges
from domain.errors import BreedError, UnknownBreedError
from domain.ids import BREED_ID, MelodyRef, melody_id
from domain.instruments import INSTRUMENTS
from domain.model import Breed
from domain.rules import Actor, end_line
from domain.strategies import DESCRIPTIONS
from domain.tune import BACKINGS, TUNE_BARS
from runtime.health import Probes
from service import media
from service.breeding import BreedingService
from service.errors import STORAGE_FULL, STORAGE_FULL_TEXT, UNAVAILABLE, UNAVAILABLE_TEXT, QueueFull
from service.melodies import OTHER_SERVER
from service.nudges import TooManyNudges
from web.access import ACCESS_KEY, MAX_JSON_BYTES, Access, log_in, middlewares, security_headers
from web.front import FRONT, GOODBYE, WebFront

log = logging.getLogger(__name__)

FORM_TYPE = "multipart/form-data"
KEEPALIVE_S = 15.0
# Files a page may ask for: the names the worker gives them (domain.artifacts), nothing else.
FILE_NAME = re.compile(r"^(clip-\d{1,2}\.(ogg|mid)|roll\.png|(winner|tune)\.(mid|ogg|png)|lineage\.png"
                       r"|morph-\d{1,2}-\d{1,2}\.(ogg|mid))$")
CONTENT_TYPES = {".ogg": "audio/ogg", ".mid": "audio/midi", ".png": "image/png"}
OPTION_TYPES: dict[str, Callable[[str], object]] = {
    "population": int, "sigma": float, "foreign": int, "vote_minutes": float, "tempo": int, "instrument": int,
    "strategy": str, "bars": int, "backing": str,
}
# Ids as the service makes them (breeds, tunes): anything else names nothing (404) before any lookup.
GENERATION_NUMBER = re.compile(r"[0-9]{1,6}")
# Whole numbers in a request: more digits than this are out of every range (400), before any parsing.
MAX_DIGITS = 15
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FRONT_KEY = web.AppKey("front", WebFront)
SERVICE_KEY = web.AppKey("service", BreedingService)
STREAMS_KEY = web.AppKey("streams", Counter[int])
# When each client last announced a Play all (listening along), for its cooldown.
PLAYS_KEY = web.AppKey("plays", dict[int, float])
PLAY_COOLDOWN_S = 2.0


def make_app(service: BreedingService, front: WebFront, access: Access) -> web.Application:
    """The page and its API over `service`; `front` pushes the worker's results to open pages; `access`:
    who may use it. /metrics, /healthz and /readyz answer first (`probe_paths`)."""
    app = web.Application(middlewares=[probe_paths(service_probes(service)), *middlewares(access), _one_line_errors],
                          client_max_size=MAX_JSON_BYTES)
    app[SERVICE_KEY] = service
    app[FRONT_KEY] = front
    app[ACCESS_KEY] = access
    app[STREAMS_KEY] = Counter()
    app[PLAYS_KEY] = {}
    app.on_response_prepare.append(security_headers)
    static = resources.files("web") / "static"
    app.router.add_get("/login", _page("login.html"))
    app.router.add_post("/login", log_in)
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/b/{breed_id}", _page("breed.html"))
    app.router.add_static("/static", str(static), append_version=True)
    app.router.add_get("/api/options", options)
    app.router.add_post("/api/breeds", start)
    app.router.add_get("/api/breeds", open_breeds)
    app.router.add_get("/api/breeds/{breed_id}", state)
    app.router.add_get("/api/breeds/{breed_id}/events", updates)
    app.router.add_post("/api/breeds/{breed_id}/votes", vote)
    app.router.add_post("/api/breeds/{breed_id}/next", next_generation)
    app.router.add_post("/api/breeds/{breed_id}/sigma", sigma)
    app.router.add_post("/api/breeds/{breed_id}/nudges", nudge)
    app.router.add_post("/api/breeds/{breed_id}/finish", finish)
    app.router.add_post("/api/breeds/{breed_id}/morph", morph)
    app.router.add_post("/api/breeds/{breed_id}/stop", stop)
    app.router.add_post("/api/breeds/{breed_id}/play", play)
    app.router.add_get("/api/breeds/{breed_id}/files/{number}/{name}", file)
    return app


# --- metrics and health ---------------------------------------------------------------------------


def service_probes(service: BreedingService) -> Probes:
    """The page's /readyz checks (Redis answers, the events groups exist) and /metrics' gauges."""
    probes = Probes(service.metrics)
    probes.add_redis(service.ping)
    probes.add_flag("group", lambda: service.prepared)
    probes.on_scrape(service.refresh_metrics)
    return probes


def probe_paths(probes: Probes) -> Callable[..., Awaitable[web.StreamResponse]]:
    """/metrics, /healthz and /readyz answer a GET at any Host and without the login: the kubelet asks at
    the pod's address, Prometheus has no cookie. Only these three exact paths: every other request goes on
    to the Host check and the login. They tell no breed, person or text (runtime.metrics)."""
    answers: dict[str, Handler] = {"/metrics": probes.serve_metrics, "/healthz": probes.serve_healthz,
                                   "/readyz": probes.serve_readyz}

    @web.middleware
    async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        probe = answers.get(request.path)
        if probe is not None and request.method in ("GET", "HEAD"):
            return await probe(request)
        return await handler(request)

    return answer


# --- errors ---------------------------------------------------------------------------------------


class PageError(Exception):
    """A request the page cannot answer: one line, and the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@web.middleware
async def _one_line_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal as {"error": one line}; details of anything unexpected go to the log only."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        # The guard gave the request its bound (web.access): a form's, or the JSON one the app has.
        most = request.client_max_size
        return web.json_response({"error": f"The request is too large (at most {most // 1024} KiB)."}, status=413)
    except web.HTTPException:
        raise
    except BreedError as error:
        message = " ".join(str(error).split())
        status = 404 if isinstance(error, UnknownBreedError) else 429 if isinstance(error, TooManyNudges) else 400
        if isinstance(error, QueueFull):
            status = 503
        return web.json_response({"error": message}, status=status)
    except PageError as error:
        return web.json_response({"error": str(error)}, status=error.status)
    except UNAVAILABLE:
        return web.json_response({"error": UNAVAILABLE_TEXT}, status=503)
    except STORAGE_FULL:
        log.error("%s %s: Redis refused a write, it holds REDIS_MAXMEMORY already", request.method, request.path)
        return web.json_response({"error": STORAGE_FULL_TEXT}, status=507)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "Something went wrong on our side; the details are in the log."},
                                 status=500)


# --- pages ----------------------------------------------------------------------------------------


def _page(name: str) -> Handler:
    async def page(request: web.Request) -> web.StreamResponse:
        html = (resources.files("web") / "static" / name).read_text(encoding="utf-8")
        return web.Response(text=html, content_type="text/html")

    return page


async def options(request: web.Request) -> web.StreamResponse:
    """What the start form offers: the defaults and every limit, from the same place as the bot's.

    `?from=<melody id>`: the defaults of a branch from that melody (its breed's tempo and instrument).
    """
    service = request.app[SERVICE_KEY]
    source = request.query.get("from", "").strip()
    defaults = service.params(like=(await _source(service, source))[1]) if source else service.defaults
    return web.json_response({
        "defaults": {
            "population": defaults.population, "sigma": defaults.sigma, "foreign": defaults.foreign,
            "vote_minutes": defaults.vote_minutes, "tempo": defaults.tempo, "instrument": defaults.instrument,
            "strategy": defaults.strategy, "bars": defaults.bars, "backing": defaults.backing,
        },
        "limits": {
            "population": [limits.POPULATION.low, limits.POPULATION.high],
            "sigma": [limits.SIGMA.low, limits.SIGMA.high],
            "foreign": [limits.FOREIGN.low, limits.FOREIGN.high],
            "vote_minutes": [limits.VOTE_MINUTES_OPTION_LOW, limits.VOTE_MINUTES.high],
            "tempo": [limits.TEMPO.low, limits.TEMPO.high],
            "morph_steps": [limits.MORPH_STEPS.low, limits.MORPH_STEPS.high],
        },
        "morph_default_steps": limits.MORPH_DEFAULT_STEPS,
        "instruments": [{"name": name, "program": program} for name, program in INSTRUMENTS],
        "strategies": [{"name": name, "description": what} for name, what in DESCRIPTIONS.items()],
        "tune_bars": list(TUNE_BARS), "backings": list(BACKINGS),
    })


# --- a breed ----------------------------------------------------------------------------------


async def start(request: web.Request) -> web.StreamResponse:
    """Start a breed from the form (multipart: options, and an optional MIDI file `melody`)."""
    service = request.app[SERVICE_KEY]
    choices: dict[str, object] = {}
    seed: bytes | None = None
    seed_name = ""
    form = await _start_form(request)
    raw_source = form.get("from")
    source_text = str(raw_source).strip() if isinstance(raw_source, str) else ""
    source, like = await _source(service, source_text) if source_text else (None, None)
    for name, convert in OPTION_TYPES.items():
        raw = form.get(name)
        if raw is None or isinstance(raw, web.FileField) or not str(raw).strip():
            continue
        choices[name] = _option(name, str(raw).strip(), convert)
    params = service.params(like, **choices)
    melody = form.get("melody")
    if isinstance(melody, web.FileField) and melody.filename:
        seed_name = melody.filename
        seed = melody.file.read(limits.MAX_SEED_BYTES + 1)
    # The file is parsed by start, once the page's limits and the client's cooldown let it start.
    breed = await service.start(owner_id=client_id(request), params=params, seed=seed, seed_name=seed_name,
                                source=source, front=FRONT)
    log.info("breed %s started on the web page", breed.breed_id)
    return web.json_response({"breed_id": breed.breed_id, "url": f"/b/{breed.breed_id}"}, status=201)


def _option(name: str, text: str, convert: Callable[[str], object]) -> object:
    """A start option typed in the form: a number in its type, or one line (400)."""
    shown = name.replace("_", " ")
    if len(text) > MAX_DIGITS + 2:
        raise PageError(f"Cannot start: {shown} is out of range.")
    try:
        value = convert(text)
    except ValueError:
        raise PageError(f"Cannot start: {shown} must be a number, not `{text}`.") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise PageError(f"Cannot start: {shown} must be a number, not `{text}`.")
    return value


async def _start_form(request: web.Request) -> Mapping[str, object]:
    """The start options: the page's form (multipart), a JSON object, or nothing; another body is refused (415)."""
    if not request.body_exists or request.content_type == FORM_TYPE:
        return await request.post()
    if request.content_type == "application/json":
        options = await _json(request)
        return {name: str(value) for name, value in options.items() if value is not None}
    raise PageError("Send the options as the page's form or as JSON.", status=415)


def client_id(request: web.Request) -> int:
    """Who asks, for the limits and the right to steer: the client's address (loopback: the local user);
    through WEB_TRUSTED_PROXY, the address it forwards (web.access)."""
    return request.app[ACCESS_KEY].client(request)


def actor(request: web.Request) -> Actor:
    return Actor(client_id(request))


async def _source(service: BreedingService, text: str) -> tuple[MelodyRef, Breed]:
    """The melody a branch starts from: one bred on this page or in the terminal (no Discord server's)."""
    with not_discords():
        return await service.melodies.melody(text, None)


@contextlib.contextmanager
def not_discords() -> Iterator[None]:
    """A melody of a Discord server is refused with what the page can use instead."""
    try:
        yield
    except BreedError as error:
        if str(error) == OTHER_SERVER:
            raise BreedError("That melody was bred on Discord: here you can use melodies bred on this "
                             "page or in the terminal.") from None
        raise


async def open_breeds(request: web.Request) -> web.StreamResponse:
    """The web page's breeds that are still going, newest first, to come back to."""
    breeds = await request.app[SERVICE_KEY].reads.open_breeds(FRONT)
    return web.json_response([{"breed_id": b.breed_id, "generation": b.generation, "status": b.status,
                               "url": f"/b/{b.breed_id}"} for b in reversed(breeds)])


async def _breed(request: web.Request) -> Breed:
    """The breed of the URL, if it is one of the web page's (another front end's breed does not exist here)."""
    breed_id = request.match_info["breed_id"].strip().lower()
    if not BREED_ID.fullmatch(breed_id):
        raise PageError("There is no such breed.", 404)
    breed = await request.app[SERVICE_KEY].reads.lookup(breed_id)
    if breed is None or breed.front != FRONT:
        raise UnknownBreedError(f"There is no breed `{breed_id}`.")
    return breed


async def state(request: web.Request) -> web.StreamResponse:
    """Everything the breed's page shows, in one JSON: the breed, its newest generation, the votes."""
    service = request.app[SERVICE_KEY]
    breed = await _breed(request)
    generation = await service.reads.generation(breed.breed_id, breed.generation) if breed.generation >= 0 else None
    tally = await service.votes.tally(breed) if generation is not None else ()
    ballot = await service.votes.ballot(breed, client_id(request)) if generation else ()
    shown: dict[str, Any] = {
        "breed_id": breed.breed_id, "status": breed.status, "generation": breed.generation,
        "winner": breed.winner, "params": {
            "population": breed.params.population, "sigma": breed.params.sigma, "foreign": breed.params.foreign,
            "tempo": breed.params.tempo, "instrument": breed.params.instrument, "strategy": breed.params.strategy,
            "bars": breed.params.bars, "backing": breed.params.backing,
        },
        "tally": list(tally), "ballot": list(ballot), "candidates": [], "morphs": [], "winner_files": [],
        "vote_deadline": breed.vote_deadline, "now": service.clock(), "source": breed.source, "ended": end_line(breed),
        "attributes": [{"name": name, "words": list(nudges.WORDS[name])} for name in nudges.ATTRIBUTES],
        "nudge_limits": [nudges.AMOUNT.low, nudges.AMOUNT.high],
    }
    if generation is not None:
        shown["nudges"] = (await service.nudges.combined(breed))[1]
        shown["rerolled"] = generation.rerolled
        shown["candidates"] = [
            {"index": c.index, "id": c.candidate_id, "melody_id": melody_id(breed.breed_id, breed.generation, c.index),
             "operators": list(c.operators), "parents": list(c.parents),
             "notes": [[n.pitch, n.start, n.end] for n in melody], "audio": artifacts.clip_name(c.index),
             "midi": artifacts.midi_name(c.index)}
            for c, melody in zip(generation.candidates, generation.melodies, strict=True)
        ]
        shown["morphs"] = await _morphs(service, breed)
    if breed.status == "finished" and breed.winner is not None:
        # The page finishes with a candidate of the generation shown; a breed that ended by itself, maybe earlier.
        number = breed.generation if breed.winner_generation is None else breed.winner_generation
        files = await service.results.winner_files(breed.breed_id, number)
        shown["winner_generation"] = number
        shown["winner_melody_id"] = melody_id(breed.breed_id, number, breed.winner)
        shown["winner_files"] = [name for name, _ in files.found]
    return web.json_response(shown)


async def _morphs(service: BreedingService, breed: Breed) -> list[dict[str, object]]:
    """The morphs of the newest generation that were made (their files are there)."""
    return [
        {"start": a, "end": b, "audio": artifacts.morph_name(a, b, "ogg"), "midi": artifacts.morph_name(a, b, "mid")}
        for a, b in await service.reads.made_morphs(breed)
    ]


async def updates(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one message whenever the worker's result for this breed is in."""
    with stream_slot(request):
        breed = await _breed(request)
        return await stream_updates(request, breed.breed_id)


@contextlib.contextmanager
def stream_slot(request: web.Request) -> Iterator[None]:
    """One of the client's open streams of updates, taken before any lookup; 429 past the client's cap or
    past all clients' together."""
    access, streams = request.app[ACCESS_KEY], request.app[STREAMS_KEY]
    client = client_id(request)
    if streams[client] >= access.max_streams_per_client:
        raise PageError(f"Too many open pages: you have {streams[client]} streams of updates open, the most one "
                        "client may have; close some pages first.", 429)
    if streams.total() >= access.max_streams:
        raise PageError("Too many open pages on this page's server: try again later.", 429)
    streams[client] += 1
    try:
        yield
    finally:
        streams[client] -= 1
        if streams[client] <= 0:
            del streams[client]


async def stream_updates(request: web.Request, subject: str) -> web.StreamResponse:
    """Server-sent events: the front end's messages about `subject` (a breed or a tune), with keep-alives."""
    front = request.app[FRONT_KEY]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    queue = front.watch(subject)
    try:
        await response.write(b"event: hello\ndata: {}\n\n")
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if message == GOODBYE:
                break
            await response.write(f"data: {message}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        front.unwatch(subject, queue)
    return response


class _OutOfRange(ValueError):
    """A number in a JSON request beyond every range (or not finite)."""


def _whole(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _OutOfRange
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > 10.0 ** MAX_DIGITS:
        raise _OutOfRange
    return value


def _not_a_number(text: str) -> float:
    raise _OutOfRange


async def _json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; numbers beyond every range (a 5,000-digit one, NaN, 1e999) are refused (400)
    before they are made."""
    if request.content_type != "application/json":
        raise PageError("Send the request as JSON.", 415)
    try:
        body = json.loads(await request.text(), parse_int=_whole, parse_float=_finite, parse_constant=_not_a_number)
    except _OutOfRange:
        raise PageError("A number in the request is out of range.") from None
    except (ValueError, UnicodeDecodeError):
        raise PageError("The request is not JSON.") from None
    if not isinstance(body, dict):
        raise PageError("The request must be a JSON object.")
    return body


def _integer(body: dict[str, Any], name: str, *, optional: bool = False) -> int | None:
    value = body.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise PageError(f"`{name}` must be a whole number.")
    return value


async def vote(request: web.Request) -> web.StreamResponse:
    """The person's whole ballot on the generation shown: {"generation": g, "picks": [0-based, ...]}."""
    breed = await _breed(request)
    body = await _json(request)
    generation = _integer(body, "generation")
    picks = body.get("picks")
    if not isinstance(picks, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in picks):
        raise PageError("`picks` must be a list of candidate numbers.")
    if len(picks) > 10 * limits.MAX_CANDIDATES:
        raise PageError("That is more votes than a ballot may hold.")
    assert generation is not None
    tally = await request.app[SERVICE_KEY].votes.cast_ballot(breed.breed_id, generation, client_id(request), picks)
    return web.json_response({"tally": list(tally)})


async def next_generation(request: web.Request) -> web.StreamResponse:
    breed = await _breed(request)
    closed = await request.app[FRONT_KEY].close_voting(breed.breed_id, actor(request))
    return web.json_response({"fitness": list(closed.fitness), "rerolled": closed.rerolled, "nudges": closed.nudges,
                              "ended": closed.ended or None, "winner": closed.winner})


async def nudge(request: web.Request) -> web.StreamResponse:
    """A nudge on the generation shown: {"generation": g, "attribute": "density", "amount": -1}."""
    breed = await _breed(request)
    body = await _json(request)
    generation = _integer(body, "generation")
    attribute, amount = body.get("attribute"), body.get("amount")
    if not isinstance(attribute, str):
        raise PageError(f"`attribute` must be one of {', '.join(nudges.ATTRIBUTES)}.")
    if not isinstance(amount, int | float) or isinstance(amount, bool):
        raise PageError(f"`amount` must be a number {nudges.AMOUNT.describe()}.")
    nudged = await request.app[SERVICE_KEY].nudges.add(breed.breed_id, client_id(request), attribute, float(amount),
                                                  generation)
    return web.json_response({"nudged": nudged.words, "nudges": nudged.summary})


async def sigma(request: web.Request) -> web.StreamResponse:
    breed = await _breed(request)
    value = (await _json(request)).get("sigma")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise PageError("`sigma` must be a number between 0 and 1.")
    changed = await request.app[SERVICE_KEY].set_sigma(breed.breed_id, actor(request), float(value))
    return web.json_response({"sigma": changed.params.sigma})


async def finish(request: web.Request) -> web.StreamResponse:
    """Finish with {"candidate": n} (1-based) or the top-voted candidate ({})."""
    breed = await _breed(request)
    candidate = _integer(await _json(request), "candidate", optional=True)
    done = await request.app[SERVICE_KEY].finish(breed.breed_id, actor(request), candidate)
    request.app[FRONT_KEY].closed(breed.breed_id)
    return web.json_response({"winner": done.winner})


async def stop(request: web.Request) -> web.StreamResponse:
    """Stop the breed without a winner (its generations and files stay)."""
    breed = await _breed(request)
    stopped = await request.app[SERVICE_KEY].stop(breed.breed_id, actor(request))
    request.app[FRONT_KEY].closed(breed.breed_id)
    return web.json_response({"status": stopped.breed.status})


async def play(request: web.Request) -> web.StreamResponse:
    """Play all was pressed on a page, {"generation": g, "page": "<the page's id>"}: every open page of the
    breed hears of it, and those that play along start the round too. One a client per PLAY_COOLDOWN_S."""
    breed = await _breed(request)
    body = await _json(request)
    generation, page = _integer(body, "generation"), body.get("page")
    if not isinstance(page, str) or not BREED_ID.fullmatch(page):
        raise PageError("`page` must be the page's id.")
    if generation != breed.generation:
        raise PageError("That generation is not the newest any more: reload the page.", 409)
    plays, client, now = request.app[PLAYS_KEY], client_id(request), time.monotonic()
    if now - plays.get(client, -PLAY_COOLDOWN_S) < PLAY_COOLDOWN_S:
        raise PageError(f"Slow down: one Play all every {PLAY_COOLDOWN_S:g} s.", 429)
    if len(plays) >= 1000:
        for stale in [key for key, at in plays.items() if now - at >= PLAY_COOLDOWN_S]:
            del plays[stale]
    plays[client] = now
    request.app[FRONT_KEY].notify(breed.breed_id, "play", generation=generation, page=page)
    return web.json_response({"generation": generation}, status=202)


async def morph(request: web.Request) -> web.StreamResponse:
    """Ask for the morph {"start": a, "end": b, "steps": n} (candidates 1-based)."""
    breed = await _breed(request)
    body = await _json(request)
    start_at, end_at = _integer(body, "start"), _integer(body, "end")
    steps = _integer(body, "steps", optional=True) or limits.MORPH_DEFAULT_STEPS
    assert start_at is not None and end_at is not None
    a, b = await request.app[SERVICE_KEY].request_morph(breed.breed_id, start_at, end_at, steps, actor(request))
    return web.json_response({"start": a, "end": b}, status=202)


async def file(request: web.Request) -> web.StreamResponse:
    """A rendered file of one of the web page's breeds: clips, MIDI, piano rolls, the winner's files."""
    breed = await _breed(request)
    name, number_text = request.match_info["name"], request.match_info["number"]
    if not GENERATION_NUMBER.fullmatch(number_text):
        raise PageError("No such file.", 404)
    number = int(number_text)
    if not FILE_NAME.match(name) or not 0 <= number <= breed.generation:
        raise PageError("No such file.", 404)
    fetched = await request.app[SERVICE_KEY].media.breed_file(breed.breed_id, number, name)
    data = fetched.data
    if data is None:
        # Gone for good (404), or being rendered again for longer than the page waits (503: ask again).
        status = 503 if fetched.line in (media.LATE, media.BUSY) else 404
        raise PageError(fetched.line or "That file is not there (or no longer: clips are kept for a while only).",
                        status)
    suffix = name[name.rindex("."):]
    headers = {"Content-Disposition": f'inline; filename="{breed.breed_id}-g{number + 1}-{name}"',
               "Accept-Ranges": "bytes"}
    # A browser learns an Ogg Opus clip's duration from its last page: it asks for the end by a Range.
    try:
        wanted = request.http_range
    except ValueError:
        wanted = slice(None, None)
    if wanted.start is None and wanted.stop is None:
        return web.Response(body=data, content_type=CONTENT_TYPES[suffix], headers=headers)
    start, stop, _ = wanted.indices(len(data))
    if start >= stop:
        raise PageError("That part of the file is not there.", 416)
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(data)}"
    return web.Response(body=data[start:stop], status=206, content_type=CONTENT_TYPES[suffix], headers=headers)
