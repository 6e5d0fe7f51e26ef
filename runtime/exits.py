"""Exit statuses of every `breeder` command, in one place."""

from __future__ import annotations

OK = 0
FAILURE = 1
# A setting or an install step is missing and the process said which: restarting cannot help,
# so the supervisor does not restart a child that exits with it.
CONFIG_ERROR = 2
INTERRUPTED = 130
