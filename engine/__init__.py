"""The engine: the GA, the model, audio, MIDI and images; pure parts that know no store (the worker runs them).

pyfluidsynth prints where it found libfluidsynth when the environment sets CI, as it is imported, and
pretty_midi imports it on the way to any MIDI work. It is imported here first, with that line
captured: stdout belongs to the commands.
"""

import contextlib
import importlib.util
import io

if importlib.util.find_spec("fluidsynth") is not None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(ImportError, OSError):
        import fluidsynth  # noqa: F401
