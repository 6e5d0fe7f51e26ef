"""The import contract: each layer imports only the layers below it, and no module imports itself in a circle.

Every import counts: at module level, inside functions, and under `if TYPE_CHECKING:` (a type-only
upward import still couples the layers; a Protocol breaks it).
"""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Lowest first; packages of one rank do not import each other. The engine's pure parts and the store
# know nothing of each other; the worker joins them, as the breeding service does for the front ends
# (the two talk only through the store's streams); training builds on the engine. Nothing imports the
# entry points (`entrypoints`, the `breeder` command), and the benchmarks (`bench`, tools beside the
# product) sit beside them: `breeder bench` loads them by name.
RANKS = {
    "domain": 0, "storage": 1, "engine": 1, "training": 2, "worker": 3, "service": 3,
    "bot": 4, "terminal": 4, "web": 4, "entrypoints": 5, "bench": 5,
}
# Front ends talk to the breeding service only: the store, the engine and the worker are out of their reach.
FRONT_ENDS = ("bot", "terminal", "web")
SERVICE_ONLY = ("storage", "engine", "worker", "training")
# Settings, logging, the embedded Redis, signals, processes, exit codes: used by all but the domain.
LEAF = "runtime"
PACKAGES = (*RANKS, LEAF)


def imports_of(path: Path, module: str, known: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """Every project module `path` imports, wherever the import statement stands.

    `from a import b` counts as importing the module a.b when `known` has it, else as importing a.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                root = ".".join(base + ([node.module] if node.module else []))
            else:
                root = node.module or ""
            # `from engine import ga` imports the module engine.ga, `from domain.model import Note` domain.model.
            submodules = [f"{root}.{alias.name}" for alias in node.names if f"{root}.{alias.name}" in known]
            names = submodules or [root]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] in PACKAGES)
    return found


def modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every package of the project under `root`."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def allowed(importer: str, imported: str) -> bool:
    source, target = importer.split(".")[0], imported.split(".")[0]
    if source == target:
        return True
    if target == LEAF:
        return source != "domain"
    if source == LEAF:
        return target == "domain"
    if source in FRONT_ENDS and target in SERVICE_ONLY:
        return False
    return RANKS[target] < RANKS[source]


def violations(root: Path) -> list[str]:
    """Every upward or sideways import under `root`, as 'importer -> imported'."""
    known = modules(root)
    return [
        f"{name} -> {imported}"
        for name, path in known.items()
        for imported in sorted(imports_of(path, name, set(known)))
        if not allowed(name, imported)
    ]


def cycles(root: Path) -> list[list[str]]:
    """Import cycles between the project's modules (imports of a name resolve to its module)."""
    known = modules(root)
    graph = {
        name: {target for target in imports_of(path, name, set(known)) if target in known and target != name}
        for name, path in known.items()
    }
    # A package's __init__ importing its own submodules is how packages re-export; not a cycle to fix.
    for name in graph:
        graph[name] = {t for t in graph[name] if not (known[name].name == "__init__.py" and t.startswith(name + "."))}
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_layer_imports_a_layer_above_it_or_beside_it() -> None:
    assert violations(PROJECT_ROOT) == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert cycles(PROJECT_ROOT) == []


def store_reach_ins(root: Path) -> list[str]:
    """Every `x.store` a front end reads, as 'module:line': the service's store is below their reach."""
    found = []
    for name, path in modules(root).items():
        if name.split(".")[0] not in FRONT_ENDS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "store":
                found.append(f"{name}:{node.lineno}")
    return found


def test_front_ends_do_not_reach_into_the_services_store() -> None:
    assert store_reach_ins(PROJECT_ROOT) == []


def top_level_imports(package: str) -> dict[str, set[str]]:
    """Module -> the top-level names it imports (any library), for every module of `package`."""
    found: dict[str, set[str]] = {}
    for name, path in modules(PROJECT_ROOT).items():
        if name.split(".")[0] != package:
            continue
        roots = found.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots.add((node.module or "").split(".")[0])
    return found


def test_the_domain_uses_the_standard_library_only() -> None:
    import sys

    for name, roots in top_level_imports("domain").items():
        for root in roots:
            assert root == "domain" or root in sys.stdlib_module_names, f"{name} imports {root}"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_contract_catches_an_upward_import_even_under_type_checking(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "storage/store.py": "import typing\nif typing.TYPE_CHECKING:\n    from worker.runner import Worker\n",
        "worker/runner.py": "def run():\n    from entrypoints import cli\n",
        "bot/cog.py": "import terminal.session\n",
        "domain/model.py": "from runtime.settings import Settings\n",
        "service/breeding.py": "from domain.model import Note\nfrom runtime import logs\nfrom bot import cog\n",
    })
    assert sorted(violations(root)) == [
        "bot.cog -> terminal.session",
        "domain.model -> runtime.settings",
        "service.breeding -> bot.cog",
        "storage.store -> worker.runner",
        "worker.runner -> entrypoints",
    ]


def test_the_engine_knows_neither_the_store_nor_redis_nor_the_worker() -> None:
    for name, roots in top_level_imports("engine").items():
        assert not roots & {"storage", "redis", "worker", "service"}, f"{name} imports {sorted(roots)}"


def test_the_engine_and_the_store_may_not_import_each_other(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "engine/melody.py": "from storage.codec import Note\n",
        "storage/breeds.py": "def late():\n    from engine import midi\n",
        "worker/runner.py": "from engine import ga\nfrom storage import connect\n",
        "service/breeding.py": "from worker import runner\n",
    })
    assert sorted(violations(root)) == [
        "engine.melody -> storage.codec",
        "service.breeding -> worker.runner",
        "storage.breeds -> engine",
    ]


def test_the_contract_catches_a_cycle(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "engine/a.py": "from engine import b\n",
        "engine/b.py": "def late():\n    from engine.a import thing\n",
    })
    assert cycles(root) == [["engine.a", "engine.b", "engine.a"]]


def test_the_contract_keeps_front_ends_off_the_store_and_the_engine(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "bot/client.py": "from storage import UNAVAILABLE\nfrom service.errors import UNAVAILABLE as SAME\n",
        "web/app.py": "def state():\n    from storage.codec import Event\n",
        "terminal/session.py": "import engine.pianoroll\nfrom terminal import roll\n",
        "entrypoints/web_cmd.py": "from storage import connect\n",
    })
    assert sorted(violations(root)) == [
        "bot.client -> storage",
        "terminal.session -> engine.pianoroll",
        "web.app -> storage.codec",
    ]


def test_a_reach_into_the_services_store_is_caught(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "web/app.py": "async def state(service):\n    return await service.store.breeds.get('b1')\n",
        "service/reads.py": "async def lookup(self):\n    return await self.store.breeds.get('b1')\n",
    })
    assert store_reach_ins(root) == ["web.app:2"]
