"""`breeder local`: the terminal session, with its own worker and (without REDIS_URL) embedded Redis."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from domain.strategies import DESCRIPTIONS, STRATEGIES
from runtime.exits import CONFIG_ERROR, FAILURE

if TYPE_CHECKING:
    from domain.model import BreedParams
    from runtime.processes import Child
    from runtime.settings import CommonSettings
    from service.breeding import BreedingService


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--votes", default=None,
                        help='scripted rounds separated by ";", e.g. "1 3 3; 2; sigma 0.2; 4 4; finish 4"')
    parser.add_argument("--out", default=None, help="folder for clips and MIDI files (default: data/local)")
    parser.add_argument("--population", type=int, default=None, help="candidates per generation (2-10)")
    parser.add_argument("--sigma", type=float, default=None, help="mutation sigma (0-1)")
    parser.add_argument("--foreign", type=int, default=None, help="fresh random candidates per generation")
    parser.add_argument("--tempo", type=int, default=None, help="tempo in BPM")
    parser.add_argument("--instrument", type=int, default=None, help="General MIDI program (0-127)")
    parser.add_argument("--strategy", default=None, choices=STRATEGIES,
                        help="GA strategy: " + "; ".join(f"{name} ({what})" for name, what in DESCRIPTIONS.items()))
    parser.add_argument("--bars", type=int, default=None, help="bars of the tune made at the finish (8 or 16)")
    parser.add_argument("--backing", default=None,
                        help="what plays under the melody: none, chords or band (chords, bass and drums)")
    parser.add_argument("--seed-midi", default=None, help="start from the first 2 bars of this MIDI file")
    parser.add_argument("--from", dest="source", default=None, metavar="MELODY_ID",
                        help="branch from a melody of an earlier local breed, e.g. ab12cd34-g3-5")
    parser.add_argument("--no-worker", action="store_true",
                        help="do not start a worker process (one is already running on this Redis)")


def params_from(args: argparse.Namespace, settings: CommonSettings) -> BreedParams:
    """The settings' defaults with the options given on the command line; ParamsError when out of range."""
    from domain.model import choose

    return choose(settings.default_params(), population=args.population, sigma=args.sigma, foreign=args.foreign,
                  tempo=args.tempo, instrument=args.instrument, strategy=args.strategy, bars=args.bars,
                  backing=args.backing)


def run(args: argparse.Namespace) -> int:
    from domain.errors import BreedError, ParamsError
    from runtime.logs import configure
    from runtime.settings import CommonSettings, load
    from service.breeding import BreedingService

    settings = load(CommonSettings)
    configure("WARNING")
    try:
        params = params_from(args, settings)
    except ParamsError as error:
        print(f"breeder local: {error}", file=sys.stderr)
        return CONFIG_ERROR
    source = None
    if args.source:
        from domain.ids import parse_melody_id

        try:
            source = parse_melody_id(args.source)
        except BreedError as error:
            print(f"breeder local: {error}", file=sys.stderr)
            return CONFIG_ERROR
    args.source = source
    seed = None
    if args.seed_midi:
        try:
            seed = Path(args.seed_midi).read_bytes()
            BreedingService.check_seed(args.seed_midi, seed)
        except OSError as error:
            print(f"breeder local: cannot read {args.seed_midi}: {error.strerror}", file=sys.stderr)
            return CONFIG_ERROR
        except BreedError as error:
            print(f"breeder local: {error}", file=sys.stderr)
            return CONFIG_ERROR
    args.out = args.out or str(settings.data_dir / "local")
    ended_by: list[int] = []
    try:
        return asyncio.run(_main(args, settings, params, seed, ended_by))
    except asyncio.CancelledError:
        if not ended_by:
            raise
        return 128 + ended_by[0]  # the shell's status of a process a signal ended


# Signals that end a session like Ctrl-C does (the breed is stopped, the worker too): a kill and a
# terminal window closed.
END_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


async def _main(args: argparse.Namespace, settings: CommonSettings, params: BreedParams, seed: bytes | None,
                ended_by: list[int]) -> int:
    import time

    main = asyncio.current_task()
    assert main is not None

    def end(signum: int) -> None:
        ended_by.append(signum)
        main.cancel()

    for signum in END_SIGNALS:
        asyncio.get_running_loop().add_signal_handler(signum, end, signum)

    from runtime.processes import Child
    from runtime.redis_server import embedded_or_configured
    from service.connection import media_of, open_service
    from service.errors import STORAGE_FULL, STORAGE_FULL_TEXT

    with embedded_or_configured(settings) as url:
        worker = None
        if not args.no_worker:
            worker = Child("worker", [sys.executable, "-m", "entrypoints.cli", "worker"], {"REDIS_URL": url},
                           settings.data_dir / "logs" / "worker.log")
            worker.start()
            print(f"Worker log: {worker.log_path}")
        service = open_service(url, time.time, settings.default_params(), retention_s=settings.retention_s,
                               max_queued_jobs=settings.max_queued_jobs, media=media_of(settings))
        try:
            await service.prepare()
            return await session(service, args, params, seed, worker)
        except RuntimeError as error:
            print(f"\nbreeder local: {error}", file=sys.stderr)
            return FAILURE
        except STORAGE_FULL:
            print(f"\nbreeder local: {STORAGE_FULL_TEXT}", file=sys.stderr)
            return FAILURE
        finally:
            await service.close()
            if worker:
                worker.stop()


async def session(
    service: BreedingService, args: argparse.Namespace, params: BreedParams, seed: bytes | None,
    worker: Child | None,
) -> int:
    """Run one terminal session on the breeding service: scripted by --votes, else read from the terminal."""
    from terminal.session import Session, run_session

    scripted = args.votes is not None
    term = Session(service, Path(args.out), params, interactive=not scripted and sys.stdin.isatty(), worker=worker)
    lines = [part.strip() for part in args.votes.split(";")] if scripted else None
    from domain.errors import BreedError

    try:
        return await run_session(term, seed, lines, source=args.source)
    except BreedError as error:  # refused before anything started, e.g. --from a melody that is not there
        print(f"breeder local: {error}", file=sys.stderr)
        return CONFIG_ERROR
