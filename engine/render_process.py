"""The renderer in a child process that can be ended: a hung render cannot hold a job, or the worker, forever.

A thread cannot be killed, and FluidSynth runs in threads of whatever process calls it. So a worker
renders through `RenderProcess`: the same public methods as `engine.render.Renderer`, each a call
into one long-lived child process that built the same Renderer (its SoundFont and note cache stay
loaded between jobs). When a job passes its deadline, the worker calls `abandon(owner)`: if that job's
render is the one running, the child is ended (its caller gets RenderError at once) and the next call
starts a fresh child. The job a call renders for is `render_owner`, a context variable that the
worker sets per job and that `asyncio.to_thread` carries into the rendering thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from engine.synth import RenderError

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from domain.model import Note
    from engine.render import Renderer

log = logging.getLogger(__name__)

# The job (its message id) that a render is made for; None outside a job.
render_owner: ContextVar[str | None] = ContextVar("render_owner", default=None)
# Abandoned jobs remembered, so that a thread still working for one starts no new render.
_ABANDONED_KEPT = 256
# A child that does not end within this after being told to is killed.
_END_WAIT_S = 5.0


class RenderAbandoned(RenderError):
    """The job passed its deadline: its renders were ended, and it starts no new one."""


def _serve(factory: Callable[[], Renderer], connection: Connection, log_level: str) -> None:
    """The child: build the renderer, then answer calls (method name, arguments) until the parent goes."""
    import signal

    from runtime.logs import configure

    # Ctrl-C reaches the whole process group: the worker ends its child itself (close, or EOF when it dies).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure(log_level)  # a spawned process starts with no logging of its own
    renderer = factory()
    while True:
        try:
            name, args = connection.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[str, Any] = ("ok", getattr(renderer, name)(*args))
        except Exception as error:  # noqa: BLE001 - every failure goes back to the caller, the child serves on
            answer = ("error", RenderError(str(error) or type(error).__name__) if not _picklable(error) else error)
        connection.send(answer)


def _picklable(error: Exception) -> bool:
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any failure means: send a plain RenderError instead
        return False
    return True


class RenderProcess:
    """A Renderer (built by `factory`, a picklable callable) in a child process that can be ended.

    Calls are served one at a time, from any thread; the child starts on the first call.
    """

    def __init__(self, factory: Callable[[], Renderer]) -> None:
        self._factory = factory
        self._context = multiprocessing.get_context("spawn")  # the worker has threads: no fork
        self._calls = threading.Lock()  # one call at a time in the child
        self._state = threading.Lock()  # the child and who it renders for; abandon() takes only this
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None
        self._busy_for: str | None = None
        self._abandoned: deque[str] = deque(maxlen=_ABANDONED_KEPT)
        self.restarts = 0

    # --- the Renderer's methods the worker calls ----------------------------------------------

    def check(self) -> None:
        """Start the child and load FluidSynth and the SoundFont there; RenderUnavailable or RenderError."""
        self._call("check")

    def render_clips(
        self, melodies: Sequence[Sequence[Note]], tempo: int, instrument: int, steps: int = 32,
    ) -> list[bytes]:
        clips: list[bytes] = self._call("render_clips", [list(m) for m in melodies], tempo, instrument, steps)
        return clips

    def render_midi(self, data: bytes) -> bytes:
        clip: bytes = self._call("render_midi", data)
        return clip

    def render_midis(self, files: Sequence[bytes]) -> list[bytes]:
        clips: list[bytes] = self._call("render_midis", list(files))
        return clips

    # --- ending --------------------------------------------------------------------------------

    def abandon(self, owner: str) -> bool:
        """`owner`'s job passed its deadline: end the child if it renders for that job (True), and refuse
        the job's later calls."""
        with self._state:
            self._abandoned.append(owner)
            if self._busy_for != owner or self._process is None:
                return False
            process = self._process
        log.warning("job %s: its render passed the deadline; ending the renderer (pid %s)", owner, process.pid)
        process.kill()
        return True

    @property
    def pid(self) -> int | None:
        """The child's process id, None while there is none."""
        with self._state:
            return self._process.pid if self._process is not None else None

    def close(self) -> None:
        """End the child (the next call would start another)."""
        with self._state:
            process, connection = self._process, self._connection
            self._process = self._connection = None
        if connection is not None:
            connection.close()  # the child reads EOF and returns
        if process is not None:
            process.join(_END_WAIT_S)
            if process.is_alive():
                process.kill()
                process.join()

    # --- internals -----------------------------------------------------------------------------

    def _call(self, name: str, *args: Any) -> Any:
        owner = render_owner.get()
        with self._calls:
            with self._state:
                if owner is not None and owner in self._abandoned:
                    raise RenderAbandoned("the job passed its deadline")
                connection = self._ensure_child()
                self._busy_for = owner
            try:
                connection.send((name, args))
                status, value = connection.recv()
            except (EOFError, OSError) as error:
                self._lost_child()
                if owner is not None and owner in self._abandoned:
                    raise RenderAbandoned("the job passed its deadline") from None
                raise RenderError(f"the renderer stopped ({type(error).__name__})") from None
            finally:
                with self._state:
                    self._busy_for = None
        if status == "error":
            raise value
        return value

    def _ensure_child(self) -> Connection:
        if self._process is not None and self._connection is not None and self._process.is_alive():
            return self._connection
        if self._process is not None:
            self._lost_child_locked()
        parent, child = self._context.Pipe()
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        process = self._context.Process(target=_serve, args=(self._factory, child, level), name="renderer",
                                        daemon=True)
        process.start()
        child.close()  # only the child holds its end: its death reads as EOF here
        self._process, self._connection = process, parent
        log.info("renderer process %s started", process.pid)
        return parent

    def _lost_child(self) -> None:
        with self._state:
            self._lost_child_locked()

    def _lost_child_locked(self) -> None:
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            connection.close()
        if process is not None:
            process.kill()
            process.join(_END_WAIT_S)
            self.restarts += 1
            log.warning("renderer process %s ended (exit code %s); the next render starts another",
                        process.pid, process.exitcode)
