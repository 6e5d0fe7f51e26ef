"""Every library the product imports is declared in pyproject.toml, not only pulled in by another one."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("domain", "runtime", "storage", "engine", "service", "bot", "terminal", "web", "breeder")
# Magenta pins TensorFlow 2.9, so the Makefile and the worker image install it with --no-deps (see pyproject).
INSTALLED_APART = {"magenta"}


def _name(requirement: str) -> str:
    return re.split(r"[=<>\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    return {_name(requirement) for requirement in requirements}


def imported_roots(package: str) -> set[str]:
    roots = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return roots


def test_every_third_party_import_of_the_product_is_a_declared_dependency() -> None:
    distributions = importlib.metadata.packages_distributions()
    third_party = {root for package in PRODUCT for root in imported_roots(package)
                   if root not in sys.stdlib_module_names and root not in PRODUCT and root != "__future__"}
    undeclared = {}
    for root in sorted(third_party):
        names = {_name(name) for name in distributions.get(root, [root])}
        if not names & (declared() | INSTALLED_APART):
            undeclared[root] = sorted(names)
    assert undeclared == {}


def test_what_a_worker_imports_is_in_the_engine_extra_without_tensorflow() -> None:
    """The worker image installs `.[engine]` only: TensorFlow and Magenta are for training and export."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["engine"]
    engine = {_name(requirement) for requirement in requirements}
    assert not {"tensorflow", "tf-keras", "magenta"} & engine
    roots: set[str] = set()
    for package in ("domain", "runtime", "storage", "engine"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "decoder.py" or "training" in path.relative_to(ROOT).parts:
                continue  # TensorFlow's side: training, export and the attribute vectors
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    roots |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    roots.add(node.module.split(".")[0])
    distributions = importlib.metadata.packages_distributions()
    missing = {root: sorted(distributions.get(root, [root])) for root in sorted(roots)
               if root not in sys.stdlib_module_names and root not in PRODUCT and root != "__future__"
               and not {_name(name) for name in distributions.get(root, [root])} & engine}
    assert missing == {}
