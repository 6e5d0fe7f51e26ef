"""The test suite keeps its habits: no test module imports another, and no test waits by sleeping.

Helpers that tests share live in tests/support (or a conftest's fixtures). A test that waits for
something checks a condition until a deadline (tests.support.waiting.wait_for): a fixed sleep is too
short on a loaded machine and too long on an idle one. Sleeps inside a function that a test defines or a
class's method stand in for slow work (a slow upload, a long decode) and are left alone; short sleeps
(at most POLL_S) between the checks of a loop are fine when the loop has a deadline.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SUPPORT = TESTS / "support"
POLL_S = 0.05
SLEEPS = {"sleep"}  # asyncio.sleep, time.sleep, or either imported by name


def modules_of_the_suite() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if SUPPORT not in path.parents)


def imported_modules(tree: ast.Module, path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every module an import names, relative imports resolved against `path`."""
    package = path.relative_to(TESTS.parent).with_suffix("").parts[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join((*package[: len(package) - node.level + 1], node.module or "")) if node.level else (
                node.module or "")
            base = base.strip(".")
            found.append((node.lineno, base))
            # `from tests.bot import test_gallery` names a module too.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def imports_of_test_modules(path: Path, source: str) -> list[str]:
    tree = ast.parse(source, str(path))
    return [f"{path.relative_to(TESTS.parent)}:{line} imports {name}"
            for line, name in imported_modules(tree, path)
            if name.split(".")[-1].startswith("test_") and (TESTS.parent / (name.replace(".", "/") + ".py")).exists()]


def _is_sleep(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    return name in SLEEPS


def _short(call: ast.Call) -> bool:
    """A sleep of a constant number of seconds no longer than POLL_S (a pause between checks, or a yield)."""
    if not call.args:
        return False
    seconds = call.args[0]
    return isinstance(seconds, ast.Constant) and isinstance(seconds.value, int | float) and seconds.value <= POLL_S


def _has_deadline(loop: ast.While | ast.For | ast.AsyncFor) -> bool:
    """Whether the loop looks at a deadline: a name with "deadline" in it, or the clock (monotonic, time)."""
    for node in ast.walk(loop):
        if isinstance(node, ast.Name) and "deadline" in node.id.lower():
            return True
        if isinstance(node, ast.Attribute) and ("deadline" in node.attr.lower() or node.attr in {"monotonic", "time"}):
            return True
    return False


class SleepFinder(ast.NodeVisitor):
    """Sleeps used as waits in the module-level functions (tests and their helpers) of one module."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.found: list[str] = []
        self._depth = 0  # functions (and classes) the visit is inside
        self._loops: list[ast.While | ast.For | ast.AsyncFor] = []

    def _scope(self, node: ast.AST) -> None:
        self._depth += 1
        loops, self._loops = self._loops, []
        self.generic_visit(node)
        self._loops = loops
        self._depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scope(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._scope(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._depth += 2  # a method is never a test's own wait: it stands in for a part (a slow model)
        self.generic_visit(node)
        self._depth -= 2

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scope(node)

    def _loop(self, node: ast.While | ast.For | ast.AsyncFor) -> None:
        self._loops.append(node)
        self.generic_visit(node)
        self._loops.pop()

    visit_While = visit_For = visit_AsyncFor = _loop

    def visit_Call(self, node: ast.Call) -> None:
        if _is_sleep(node) and self._depth == 1:
            line = f"{self.where}:{node.lineno}"
            if not _short(node):
                self.found.append(f"{line} sleeps {ast.unparse(node.args[0]) if node.args else ''} s instead of "
                                  "waiting on a condition")
            elif self._loops and not any(_has_deadline(loop) for loop in self._loops):
                self.found.append(f"{line} polls in a loop without a deadline")
        self.generic_visit(node)


def sleeps_as_waits(path: Path, source: str) -> list[str]:
    finder = SleepFinder(str(path.relative_to(TESTS.parent)))
    finder.visit(ast.parse(source, str(path)))
    return finder.found


def test_no_test_module_imports_another() -> None:
    found = [line for path in modules_of_the_suite() for line in imports_of_test_modules(path, path.read_text())]
    assert found == [], "share helpers through tests/support or a fixture:\n" + "\n".join(found)


def test_no_test_waits_by_sleeping_or_polls_without_a_deadline() -> None:
    found = [line for path in modules_of_the_suite() for line in sleeps_as_waits(path, path.read_text())]
    assert found == [], "wait with tests.support.waiting.wait_for:\n" + "\n".join(found)


@pytest.mark.parametrize("source, found", [
    ("from tests.bot.test_gallery import names\n", 1),
    ("from tests.bot import test_gallery\n", 1),
    ("import tests.bot.test_gallery\n", 1),
    ("from .test_gallery import names\n", 1),
    ("from tests.bot.simulation import World\nfrom tests.support.bot import names\n", 0),
])
def test_the_import_check_finds_a_test_module_imported_in_any_spelling(source: str, found: int) -> None:
    assert len(imports_of_test_modules(TESTS / "bot" / "test_example.py", source)) == found


@pytest.mark.parametrize("source, found", [
    ("import asyncio\nasync def test_x():\n    await asyncio.sleep(1.5)\n", 1),
    ("import time\ndef test_x():\n    time.sleep(0.2)\n", 1),
    ("import asyncio\nasync def helper(seconds):\n    await asyncio.sleep(seconds)\n", 1),
    ("import asyncio\nasync def test_x(ready):\n    while not ready():\n        await asyncio.sleep(0.01)\n", 1),
    ("import asyncio\nasync def test_x(ready):\n    for _ in range(100):\n        await asyncio.sleep(0.05)\n", 1),
    ("import asyncio, time\nasync def test_x(ready):\n    deadline = time.monotonic() + 60\n"
     "    while not ready():\n        assert time.monotonic() < deadline\n        await asyncio.sleep(0.05)\n", 0),
    ("import asyncio\nasync def test_x():\n    await asyncio.sleep(0)\n", 0),
    ("import asyncio\nasync def test_x():\n    async def slow_upload():\n        await asyncio.sleep(1.0)\n", 0),
    ("import time\nclass SlowModel:\n    def decode(self):\n        time.sleep(1.0)\n", 0),
])
def test_the_sleep_check_finds_waits_and_leaves_stand_ins_and_deadlined_polls(source: str, found: int) -> None:
    assert len(sleeps_as_waits(TESTS / "test_example.py", source)) == found
