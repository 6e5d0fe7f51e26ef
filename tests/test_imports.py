"""The bot process and every layer it is built from never load TensorFlow (nor Magenta or note_seq)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "tf_keras", "magenta", "note_seq")

# Imports the package and every module below it, then reports which heavy top-level modules got loaded.
_PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(module.name)
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[2:]))
print(json.dumps(loaded))
"""


def _heavy_modules_loaded_by(package: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, package, *HEAVY],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("package", ["domain", "runtime", "storage", "service", "bot", "terminal"])
def test_importing_package_and_all_its_modules_loads_no_tensorflow(package: str) -> None:
    assert _heavy_modules_loaded_by(package) == []


def test_the_probe_does_see_tensorflow_when_it_is_loaded() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['tensorflow'] = sys; " + _PROBE, "storage", *HEAVY],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["tensorflow"]
