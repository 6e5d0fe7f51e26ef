"""`breeder redis`: run the embedded Redis server in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from runtime.exits import FAILURE, OK
from runtime.logs import configure
from runtime.redis_server import PASSWORD_NAME, RedisServer, RedisServerError, safe_url

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder for the AOF, config and log (default: DATA_DIR/redis)")
    parser.add_argument("--port", type=int, default=None, help="TCP port on 127.0.0.1 (default: a free one)")


def run(args: argparse.Namespace) -> int:
    """Run the embedded server in the foreground until Ctrl-C or SIGTERM, with REDIS_PASSWORD (unset: the
    password kept in its data folder) and REDIS_MAXMEMORY."""
    from runtime.settings import CommonSettings, load

    configure("INFO")
    settings = load(CommonSettings)
    data_dir: Path = args.data_dir if args.data_dir is not None else settings.data_dir / "redis"
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        with RedisServer(data_dir, port=args.port, password=password, maxmemory=settings.redis_maxmemory) as server:
            where = "REDIS_PASSWORD" if password else data_dir / PASSWORD_NAME
            print(f"Redis running at {safe_url(server.url)} (data in {data_dir}; password: {where}); "
                  "Ctrl-C stops it", flush=True)
            while not stop_requested.is_set():
                code = server.wait(timeout=0.5)
                if code is not None:
                    log.error("redis-server exited on its own with code %d", code)
                    return FAILURE
    except KeyboardInterrupt:
        pass
    except RedisServerError as error:
        print(f"breeder redis: {error}", file=sys.stderr, flush=True)
        return FAILURE
    finally:
        signal.signal(signal.SIGTERM, previous)
    return OK
