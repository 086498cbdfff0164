"""engine/ shows its architecture: subpackages by concern, imports one way, no cycles, no hidden imports.

The graph is read from the source with ``ast``, not by importing: every ``import`` and ``from … import``
at module level and inside functions, relative imports resolved. A package's ``__init__`` is a module
of its own (``engine.seed``); ``from engine import clock`` is an edge to ``engine.clock`` when that is
a module, to ``engine`` when it names something the package defines. Imports under
``if TYPE_CHECKING:`` never run, so they are left out. Importing ``engine.a.b`` also runs
``engine/a/__init__.py``; that implicit edge is not drawn (a submodule importing its own package
would otherwise always look like a cycle), but an ``__init__`` that imports its submodules does
get those edges like any module.

On top of the module graph, the layout (docs/architecture.md, "Layers"): engine/ itself holds only the
few cross-cutting modules, and the subpackages stand in layers, each importing only those below it, bar
the crossings named in ``KNOWN_CROSSINGS`` with the reason for each.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Front doors and frameworks the engine must never import (docs/architecture.md, "Layers").
FORBIDDEN_TOP_LEVEL = {"web", "worker", "flask", "flask_login", "flask_wtf", "celery"}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    file: str
    line: int
    in_function: bool

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Map every module of ``package`` under ``root`` to its file; ``pkg/__init__.py`` is ``pkg``."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, in_function: bool = False) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for other in node.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]), in_function)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
        yield from _imports(node, in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                     ast.Lambda)))


def _imported_names(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Return the dotted names an import statement loads, relative ones made absolute, then its ``from`` part."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names] + [""]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        parent = ".".join(base + ([node.module] if node.module else []))
    else:
        parent = node.module or ""
    return [f"{parent}.{alias.name}" if alias.name != "*" else parent for alias in node.names] + [parent]


def _resolve(name: str, parent: str, modules, *, from_import: bool) -> str:
    """Return the module of ``modules`` an imported name loads, or "" for one outside them."""
    if from_import:  # ``from pkg import x``: the submodule pkg.x if there is one, else pkg itself
        return name if name in modules else (parent if parent in modules else "")
    while name and name not in modules:  # ``import a.b.c`` loads a.b.c; the deepest one we know
        name = name.rpartition(".")[0]
    return name


def import_graph(root: Path, package: str) -> tuple[set[str], list[Edge], list[Edge]]:
    """Return (modules, edges between them, imports of forbidden top-level packages)."""
    modules = module_names(root, package)
    edges, forbidden = [], []
    for module, path in modules.items():
        file = str(path.relative_to(root))
        is_package = path.name == "__init__.py"
        for node, in_function in _imports(ast.parse(path.read_text(encoding="utf-8"), filename=file)):
            names = _imported_names(module, is_package, node)
            parent = names.pop()
            targets = set()
            for name in names:
                if name.split(".")[0] in FORBIDDEN_TOP_LEVEL:
                    forbidden.append(Edge(module, name, file, node.lineno, in_function))
                targets.add(_resolve(name, parent, modules, from_import=isinstance(node, ast.ImportFrom)))
            for target in sorted(t for t in targets if t and t != module):
                edges.append(Edge(module, target, file, node.lineno, in_function))
    return set(modules), edges, forbidden


def strongly_connected(modules: set[str], edges: list[Edge]) -> list[set[str]]:
    """Return the groups of two or more modules that import each other, directly or round a loop."""
    after: dict[str, list[str]] = {m: [] for m in modules}
    for e in edges:
        after[e.source].append(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(v: str) -> None:  # Tarjan; engine/ is shallow enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in after[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for m in sorted(modules):
        if m not in index:
            visit(m)
    return groups


def describe_cycle(group: set[str], edges: list[Edge]) -> str:
    """Name one loop through ``group``, each step with the file and line of its import."""
    inside = [e for e in edges if e.source in group and e.target in group]
    start = min(group)
    # Breadth-first from start back to start: the shortest loop is the easiest to read.
    paths: dict[str, list[Edge]] = {start: []}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for e in inside:
            if e.source != v:
                continue
            if e.target == start:
                loop = paths[v] + [e]
                return " → ".join(f"{x.source} ({x.where()})" for x in loop) + f" → {start}"
            if e.target not in paths:
                paths[e.target] = paths[v] + [e]
                queue.append(e.target)
    raise AssertionError(f"no loop found in {sorted(group)}")


def problems(root: Path, package: str) -> list[str]:
    """Return every breach of the import rules in ``package``, one line each."""
    modules, edges, forbidden = import_graph(root, package)
    out = [f"{e.source} imports {e.target} ({e.where()}): the engine must not import front doors or Flask"
           for e in forbidden]
    out += [f"cycle: {describe_cycle(g, edges)}" for g in strongly_connected(modules, edges)]
    out += [f"{e.source} imports {e.target} inside a function ({e.where()}): import at the top of the module, "
            f"and if that makes a cycle, move the code where it belongs" for e in edges if e.in_function]
    return out


def test_engine_imports_run_one_way():
    found = problems(ROOT, "engine")
    assert not found, "\n".join(found)


def test_the_graph_sees_what_it_must(tmp_path):
    """The checker itself: a loop through a relative import and a package, a hidden import, a front door."""
    files = {
        "pkg/__init__.py": "from .a import thing\n",
        "pkg/a.py": "from . import b\nthing = 1\n",
        "pkg/b.py": "import os\nfrom pkg.sub import c\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import thing\n"
                        "from .. import thing as again\n",
        "pkg/d.py": "def late():\n    from .a import thing\n    return thing\n",
        "pkg/e.py": "import web.app\nfrom worker import tasks\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    found = problems(tmp_path, "pkg")

    assert found[:2] == ["pkg.e imports web.app (pkg/e.py:1): the engine must not import front doors or Flask",
                         "pkg.e imports worker.tasks (pkg/e.py:2): the engine must not import front doors or Flask"]
    assert found[2] == ("cycle: pkg (pkg/__init__.py:1) → pkg.a (pkg/a.py:1) → pkg.b (pkg/b.py:2) → "
                        "pkg.sub.c (pkg/sub/c.py:4) → pkg")
    assert found[3].startswith("pkg.d imports pkg.a inside a function (pkg/d.py:2)")
    assert len(found) == 4


def test_type_checking_imports_and_outside_packages_are_not_edges(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/__init__.py").write_text("")
    (tmp_path / "pkg/a.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    from .b import B\n"
                                       "else:\n    import json\nimport sqlalchemy\n")
    (tmp_path / "pkg/b.py").write_text("from .a import A\n")

    modules, edges, forbidden = import_graph(tmp_path, "pkg")

    assert modules == {"pkg", "pkg.a", "pkg.b"}
    assert [(e.source, e.target, e.in_function) for e in edges] == [("pkg.b", "pkg.a", False)]
    assert forbidden == []


@pytest.mark.parametrize("module, statement, target", [
    ("engine.cases.case_file", "from ..store import audit", "engine.store.audit"),
    ("engine.cases.case_file", "from .attachments import list_attachments", "engine.cases.attachments"),
    ("engine.cases.case_file", "from ..spiff.workflow import Runner", "engine.spiff.workflow"),
    ("engine.studio.sandbox", "from .. import clock", "engine.clock"),
    ("engine.studio.sandbox", "from . import workspace", "engine.studio.workspace"),
    ("engine.cases.case_file", "import engine.spiff.parser", "engine.spiff.parser"),
    ("engine.cases.case_file", "from engine import __doc__", "engine"),
    ("engine.cases.case_file", "from sqlalchemy import select", ""),
])
def test_names_resolve_to_modules(module, statement, target):
    node = ast.parse(statement).body[0]
    names = _imported_names(module, False, node)
    parent = names.pop()
    modules = set(module_names(ROOT, "engine"))
    assert {_resolve(n, parent, modules, from_import=isinstance(node, ast.ImportFrom)) for n in names} == {target}


# -- the layout ---------------------------------------------------------------------------------------------------

# Modules that stay at engine/ itself: small, cross-cutting, read by every package.
FLAT = {"engine", "engine.settings", "engine.clock", "engine.errors", "engine.context"}

# The subpackages from the bottom up; each imports only from those below it (and from FLAT).
LAYERS = [
    {"spiff"},                                 # the only code that imports SpiffWorkflow
    {"store"},                                 # database, core tables, migrations, row writes, audit chain
    {"org"},                                   # orgs, users, roles, sign-in, who sees and acts, calendar
    {"definitions"},                           # parse, lint, forms, form contracts, deploy, layout, script helpers
    {"cases"},                                 # the read side: case pages, lists, search, summaries, masking
    {"runtime"},                               # the write side: start, complete, sync, operations, timers
    {"board", "signing", "studio", "seed"},    # capabilities on top of the core
]

# Modules left out of the layering: engine.context wires settings, database, calendar and script engine
# together for a session; engine.store.tables gathers every table of every package for Alembic and
# create_all. Both are read by front doors and the schema code, so they sit above everything they import.
AGGREGATES = {"engine.context", "engine.store.tables"}

# Imports against the layering that the engine keeps on purpose or has yet to remove, each with why.
# The test fails both on a new crossing and on one listed here that is gone (then delete its line).
KNOWN_CROSSINGS = {
    ("engine.definitions.deployment", "engine.board.warning_rules"): "warning rules deploy with the definitions",
    ("engine.cases.case_file", "engine.signing.models"): "a case page shows a task's signers",
    ("engine.cases.case_file", "engine.signing.queue"): "a case page shows who signs next",
    ("engine.cases.summaries", "engine.signing.models"): "a task summary shows its signers",
    ("engine.runtime.lifecycle", "engine.signing.models"): "a completion is held while after-signers sign",
    ("engine.runtime.lifecycle", "engine.signing.queue"): "a completion is held while after-signers sign",
    ("engine.runtime.lifecycle", "engine.board.platform_figures"): "scripts read the platform's figures",
    ("engine.runtime.timers", "engine.board.aggregates"): "the sweep folds the board's tallies",
    ("engine.runtime.timers", "engine.board.warnings"): "the sweep evaluates warnings",
    ("engine.runtime.timer_loop", "engine.studio.migration"): "the loop takes up stalled migration jobs",
}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if module in FLAT or module in AGGREGATES or len(parts) < 2:
        return None
    return next(i for i, layer in enumerate(LAYERS) if parts[1] in layer)


def layout_problems(root: Path, package: str = "engine") -> list[str]:
    """Return every module outside the layout and every import that runs up the layers, one line each."""
    modules, edges, _ = import_graph(root, package)
    known = {name for layer in LAYERS for name in layer}
    out = [f"{m} is a module at {package}/ itself: put it in the subpackage whose question it answers"
           for m in sorted(modules) if m.count(".") == 1 and m not in FLAT and m.split(".")[1] not in known]
    out += [f"{m} is in no layer: add its package to LAYERS" for m in sorted(modules)
            if m.count(".") >= 2 and m.split(".")[1] not in known]
    if out:
        return out
    seen = set()
    for e in edges:
        below, above = layer_of(e.source), layer_of(e.target)
        if below is None or above is None or above <= below:
            continue
        seen.add((e.source, e.target))
        if (e.source, e.target) not in KNOWN_CROSSINGS:
            out.append(f"{e.source} imports {e.target} ({e.where()}), a layer above it: move the code where it "
                       f"belongs, or name the crossing and why in KNOWN_CROSSINGS")
    out += [f"{s} no longer imports {t}: delete the crossing from KNOWN_CROSSINGS"
            for s, t in sorted(set(KNOWN_CROSSINGS) - seen)]
    return out


def test_engine_shows_its_layers():
    found = layout_problems(ROOT)
    assert not found, "\n".join(found)


def test_the_layout_check_sees_a_flat_module_and_a_crossing(tmp_path):
    files = {
        "engine/__init__.py": "",
        "engine/clock.py": "",
        "engine/stray.py": "",
        "engine/store/__init__.py": "",
        "engine/store/models.py": "from ..org import orgs\n",
        "engine/org/__init__.py": "",
        "engine/org/orgs.py": "from .. import clock\nfrom ..store.models import thing\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    assert layout_problems(tmp_path) == [
        "engine.stray is a module at engine/ itself: put it in the subpackage whose question it answers"]
    (tmp_path / "engine/stray.py").unlink()

    found = layout_problems(tmp_path)

    assert found[0] == ("engine.store.models imports engine.org.orgs (engine/store/models.py:1), a layer above it: "
                        "move the code where it belongs, or name the crossing and why in KNOWN_CROSSINGS")
    assert found[1:] == [f"{s} no longer imports {t}: delete the crossing from KNOWN_CROSSINGS"
                         for s, t in sorted(KNOWN_CROSSINGS)]
