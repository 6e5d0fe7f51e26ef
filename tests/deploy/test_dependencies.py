"""pyproject.toml declares exactly what the code uses: every library imported anywhere (the product, the
tests, the benchmarks, training) is declared, not only pulled in by another one, and every declared
dependency is imported somewhere, or named below with the reason it is needed without an import."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Every top-level package: each folder at the root with an __init__.py (the product's layers, the entry
# points, the worker, training, the benchmarks and the tests), whatever they are called.
PACKAGES = sorted(path.parent.name for path in ROOT.glob("*/__init__.py"))
# Magenta pins TensorFlow 2.9, so the Makefile and the worker image install it with --no-deps (see pyproject).
INSTALLED_APART = {"magenta"}
# Declared, needed, and imported by none of our files: the reason for each.
USED_WITHOUT_AN_IMPORT = {
    "davey": "discord.py imports it for the end-to-end encryption (DAVE) Discord requires in voice",
    "tf-keras": "TensorFlow imports it as Keras when the decoder sets TF_USE_LEGACY_KERAS=1",
    "tensorflow-probability": "Magenta imports it (Magenta is installed with --no-deps)",
    "tf-slim": "Magenta imports it (Magenta is installed with --no-deps)",
    "tensorflow-datasets": "Magenta imports it (Magenta is installed with --no-deps)",
    "pytest-asyncio": "a pytest plugin: runs the async tests (asyncio_mode = auto)",
    "pytest-xdist": "a pytest plugin: make test runs the tests on every core (-n)",
    "pytest-timeout": "a pytest plugin: a hanging test fails after the pyproject's timeout",
    "ruff": "a command: make lint",
    "moto": "a server the media store's tests start (python -m moto.server), an S3 to test against",
    "mypy": "a command: make lint",
}


def _normal(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503): discord.py and discord-py are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _name(requirement: str) -> str:
    return _normal(re.split(r"[=<>\[; ]", requirement, maxsplit=1)[0])


def _requirements(*extras: str) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    chosen = extras or tuple(project["optional-dependencies"])
    return list(project["dependencies"]) + [req for extra in chosen for req in project["optional-dependencies"][extra]]


def declared(*extras: str) -> set[str]:
    """The distributions pyproject.toml names: the core and `extras` (default: every extra)."""
    return {_name(requirement) for requirement in _requirements(*extras)}


def imported_roots(paths: list[Path]) -> set[str]:
    """The third-party modules `paths` import (top-level names), counting `importlib.util.find_spec("x")`,
    which finds a package's files without importing it."""
    roots: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "find_spec" and node.args and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)):
                roots.add(node.args[0].value.split(".")[0])
    return {root for root in roots if root not in sys.stdlib_module_names and root not in PACKAGES
            and root != "__future__"}


def distributions_of(root: str) -> set[str]:
    """The installed distributions that provide the top-level module `root`."""
    return {_normal(name) for name in importlib.metadata.packages_distributions().get(root, [root])}


def everything() -> list[Path]:
    return [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]


def test_the_packages_are_found_by_their_init_files() -> None:
    assert {"domain", "runtime", "storage", "engine", "service", "bot", "terminal", "web", "bench",
            "tests"} <= set(PACKAGES)


def test_every_third_party_import_is_a_declared_dependency() -> None:
    known = declared() | INSTALLED_APART
    undeclared = {root: sorted(distributions_of(root)) for root in sorted(imported_roots(everything()))
                  if not distributions_of(root) & known}
    assert undeclared == {}


def test_every_declared_dependency_is_imported_or_says_why_not() -> None:
    used = {name for root in imported_roots(everything()) for name in distributions_of(root)}
    unused = declared() - used - set(USED_WITHOUT_AN_IMPORT)
    assert unused == set(), "declared but imported nowhere: drop them, or name the reason in USED_WITHOUT_AN_IMPORT"
    # The reasons stay true: each names a declared dependency that is indeed not imported.
    assert set(USED_WITHOUT_AN_IMPORT) <= declared()
    assert set(USED_WITHOUT_AN_IMPORT) & used == set()


def test_what_a_worker_imports_is_in_the_engine_extra_without_tensorflow() -> None:
    """The worker image installs `.[engine]` only: TensorFlow and Magenta are for training and export."""
    engine = declared("engine")
    assert not {"tensorflow", "tf-keras", "magenta"} & engine
    paths = [path for package in ("domain", "runtime", "storage", "engine", "worker")
             for path in (ROOT / package).rglob("*.py")
             # TensorFlow's side: training, export and the attribute vectors
             if path.name != "decoder.py" and "training" not in path.relative_to(ROOT).parts]
    missing = {root: sorted(distributions_of(root)) for root in sorted(imported_roots(paths))
               if not distributions_of(root) & engine}
    assert missing == {}
