"""Move engine/'s flat modules into subpackages by concern and rewrite every reference to them (issue 14, item 5).

Run from the repository root on a clean work tree: ``.venv/bin/python scripts/restructure_engine.py``
(``--dry-run`` prints the plan and changes nothing). It is deterministic and idempotent: a second run
finds nothing to do and says so.

What it does, in order:

1. Rewrites every ``import`` of a moved module in engine/, web/, worker/, bench/, tests/, scripts/ with
   ``ast``: absolute (``engine.x``, ``from engine import x``) and relative (``from .x import``,
   ``from ..x import``, ``from . import x``) forms, each resolved from the file's place now and written
   for its place after the move (relative stays relative, absolute stays absolute). A statement naming
   modules that now live in different packages is split, one statement per package. Where a module
   is renamed (``runtime`` → ``lifecycle``, ``cases`` → ``case_file``, ``definitions`` → ``deployment``:
   a package and a module may not share a name) the use sites in that file follow
   (``runtime.complete_task`` → ``lifecycle.complete_task``), scope by scope; a file that already uses
   the new name for something else keeps the old one as an alias and is reported.
2. Rewrites references in text: ``engine.x`` and ``engine/x.py`` in strings, comments and docstrings of
   Python files (never inside import statements, already handled), and in docs/*.md, README.md and
   templates; ``"engine" / "migrations"`` path joins.
3. ``git mv`` each module to its new place; a new package gets an ``__init__.py`` holding only a
   docstring that says what the package answers (no re-exports).
4. Writes the import-graph test for the new layout (tests/engine/test_import_graph.py) and the
   architecture document's "Layers" and "Dependency direction" sections, each only when the file
   still holds the text this script was written against (otherwise it says so and leaves it).

Modules of engine/ that the mapping does not name are reported and left where they are; their
imports are rewritten like every other file's. Landed Alembic revisions are left byte for byte.

Not handled (reported where it can be seen): ``import engine.x`` without ``as`` (the statement is
rewritten, attribute paths through it are not; there are none today); prose naming a module without
``engine.`` / ``engine/`` or backticks ("see sync.py"); a module-level variable of the same name as a
renamed module in a file that imports that module.

After it runs, ``git add -u`` and commit: moves and the new ``__init__.py`` files are staged already.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# -- the mapping ---------------------------------------------------------------------------------------------
# old flat module of engine/ → its new dotted name under engine. Settings, clock, errors and context stay at
# engine/ itself: tiny, imported by every package, importing (almost) nothing of the engine.
PACKAGES = {
    "store": "Storage: the database and its sessions, the core tables, Alembic migrations, row writes, the audit "
             "chain and case tallies.",
    "org": "Who may act where: the org tree, users and roles, sign-in and its throttling, who sees a case and "
           "works on a task, the working-day calendar.",
    "definitions": "Process definitions: parse, validate and lint them, their forms and what a submission may "
                   "carry, deploy versions, lay out diagrams; the helpers scripts may call.",
    "cases": "The read side: a case as staff read it, lists and search, summaries for the API, personal data "
             "masked, attachments, exports.",
    "runtime": "The write side: start and complete instances, project each step, task operations, messages, "
               "timers and schedules, deadlines, notifications, administration.",
}

MAPPING = {
    # store/: the database, tables, migrations, row writes, history
    "db": "store.db",
    "models": "store.models",
    "tables": "store.tables",
    "rows": "store.rows",
    "tally_triggers": "store.tally_triggers",
    "tallies": "store.tallies",
    "schema": "store.schema",
    "audit": "store.audit",
    "migrations": "store.migrations",  # a folder (Alembic's script_location is found from schema.py)
    # org/: who may act where
    "orgs": "org.orgs",
    "auth": "org.auth",
    "lockout": "org.lockout",
    "visibility": "org.visibility",
    "demo": "org.demo",
    "calendar": "org.calendar",
    # definitions/: what a process is
    "definitions": "definitions.deployment",
    "lint": "definitions.lint",
    "forms": "definitions.forms",
    "form_fields": "definitions.form_fields",
    "form_conditions": "definitions.form_conditions",
    "form_contract": "definitions.form_contract",
    "declared_data": "definitions.declared_data",
    "bpmn_layout": "definitions.bpmn_layout",
    "scripting": "definitions.scripting",
    # cases/: the read side
    "cases": "cases.case_file",
    "case_lists": "cases.case_lists",
    "queries": "cases.queries",
    "summaries": "cases.summaries",
    "exports": "cases.exports",
    "personal_data": "cases.personal_data",
    "task_data": "cases.task_data",
    "attachments": "cases.attachments",
    # runtime/: the write side
    "runtime": "runtime.lifecycle",
    "sync": "runtime.sync",
    "tasks": "runtime.tasks",
    "messages": "runtime.messages",
    "timers": "runtime.timers",
    "timer_loop": "runtime.timer_loop",
    "timer_batch": "runtime.timer_batch",  # coming on main (a batch of plain cases' timer firings)
    "schedules": "runtime.schedules",
    "deadlines": "runtime.deadlines",
    "drafts": "runtime.drafts",
    "notifications": "runtime.notifications",
    "idempotency": "runtime.idempotency",
    "admin": "runtime.admin",
}
ENGINE_DOC_WAS = '''"""Pingan's workflow engine: definitions, runtime, persistence, timers and calendar."""\n'''
ENGINE_DOC = ('"""Pingan\'s workflow engine, one subpackage per concern: store, org, definitions, cases (the '
              'read side),\nruntime (the write side), spiff, and the capabilities board, signing, studio, seed '
              '(docs/architecture.md,\n"Layers").\n"""\n')
STAYS_FLAT = {"__init__", "settings", "clock", "errors", "context"}
FOLDERS = {"migrations"}  # mapped names that are folders, not modules

PY_DIRS = ("engine", "web", "worker", "bench", "tests", "scripts")
TEXT_SUFFIXES = {".py", ".md", ".html", ".toml", ".ini", ".cfg", ".sh", ".txt", ".yaml", ".yml", ".js"}
SELF = Path(__file__).resolve()
LINE = 120


def new_dotted(name: str) -> str:
    return "engine." + MAPPING[name]


def new_path(name: str) -> str:
    return "engine/" + MAPPING[name].replace(".", "/") + ("" if name in FOLDERS else ".py")


def old_path(name: str) -> str:
    return f"engine/{name}" + ("" if name in FOLDERS else ".py")


# -- the tree as it is now -----------------------------------------------------------------------------------
def module_name(rel: Path) -> tuple[str, bool]:
    parts = list(rel.with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts.pop()
    return ".".join(parts), is_pkg


def current_modules() -> set[str]:
    out = set()
    for path in (ROOT / "engine").rglob("*.py"):
        out.add(module_name(path.relative_to(ROOT))[0])
    return out


def pending_moves() -> dict[str, str]:
    """Return {old path: new path} for every mapped module still at its old place."""
    moves = {}
    for name in MAPPING:
        old, new = ROOT / old_path(name), ROOT / new_path(name)
        if name in FOLDERS and old.is_dir() and not any(old.rglob("*.py")):
            continue  # only caches left behind
        if old.exists() and (name in FOLDERS or not new.exists()):
            if new.exists() and name in FOLDERS:
                sys.exit(f"both {old_path(name)} and {new_path(name)} exist: resolve by hand")
            moves[old_path(name)] = new_path(name)
        elif old.exists() and new.exists():
            sys.exit(f"both {old_path(name)} and {new_path(name)} exist: resolve by hand")
    return moves


def future_rel(rel: str, moves: dict[str, str]) -> str:
    for old, new in moves.items():
        if rel == old:
            return new
        if rel.startswith(old + "/"):
            return new + rel[len(old):]
    return rel


# -- translating dotted names ----------------------------------------------------------------------------------
class Translator:
    def __init__(self, modules: set[str]):
        self.modules = modules

    def __call__(self, dotted: str) -> str | None:
        """Return the new dotted name of a module reference in the old layout, or None when it needs none."""
        parts = dotted.split(".")
        if len(parts) < 2 or parts[0] != "engine" or parts[1] not in MAPPING:
            return None
        if len(parts) == 2:  # ``engine.x`` itself: a moved module; the new packages' __init__ export nothing
            return new_dotted(parts[1])
        if dotted in self.modules:  # already the new layout (engine.runtime.sync)
            return None
        if parts[1] in PACKAGES and ".".join(parts[:3]) in self.modules:
            return None
        return new_dotted(parts[1]) + "." + ".".join(parts[2:])

    def is_module(self, dotted: str) -> bool:
        if dotted in self.modules:
            return True
        parts = dotted.split(".")
        return len(parts) == 2 and parts[0] == "engine" and parts[1] in MAPPING and parts[1] not in FOLDERS


# -- rewriting one Python file's imports -----------------------------------------------------------------------
def _resolve_base(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _relative(from_pkg: str, target: str) -> str:
    a, b = from_pkg.split("."), target.split(".")
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return "." * (len(a) - k + 1) + ".".join(b[k:])


def _name_order(item: tuple[str, str | None]) -> tuple[int, str]:
    """isort's order within one statement: CONSTANTS, then Classes, then functions and modules."""
    name = item[0]
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name.lower())


def _render_from(module: str, names: list[tuple[str, str | None]], indent: str) -> str:
    listed = [n if a is None else f"{n} as {a}" for n, a in names]
    one = f"{indent}from {module} import {', '.join(listed)}"
    if len(one) <= LINE:
        return one[len(indent):]
    lines, line = [], indent + "    "
    for n in listed:
        piece = n + ","
        if len(line) + len(piece) + 1 > LINE and line.strip():
            lines.append(line.rstrip())
            line = indent + "    "
        line += piece + " "
    lines.append(line.rstrip())
    return f"from {module} import (\n" + "\n".join(lines) + f"\n{indent})"


def _bound_names(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.alias):
            out.add((node.asname or node.name).split(".")[0])
    return out


def _locals(fn: ast.AST, moved: set[int]) -> set[str]:
    """Return the names a function, lambda or comprehension binds for itself (not its nested scopes').

    An import of a module being renamed (``moved``, by ``id`` of its alias) binds the module, not a local.
    """
    out = set()
    args = getattr(fn, "args", None)
    if args is not None:
        for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
            if a is not None:
                out.add(a.arg)
    if isinstance(fn, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        for gen in fn.generators:
            out |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
        return out
    body = fn.body if isinstance(fn.body, list) else [fn.body]
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, ast.alias) and id(node) not in moved:
            out.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.Global):
            out -= set(node.names)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _uses_to_rename(tree: ast.Module, old: str, moved: set[int]) -> list[ast.Name]:
    """Return the Name nodes that read the module-level binding ``old``."""
    found = []

    def visit(node: ast.AST, shadowed: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ListComp, ast.SetComp,
                             ast.GeneratorExp, ast.DictComp)):
            # decorators, defaults and annotations are read in the enclosing scope
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for d in node.decorator_list:
                    visit(d, shadowed)
                for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                    visit(d, shadowed)
                for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs + [node.args.vararg,
                                                                                          node.args.kwarg]:
                    if a is not None and a.annotation is not None:
                        visit(a.annotation, shadowed)
                if node.returns is not None:
                    visit(node.returns, shadowed)
                inner = shadowed or old in _locals(node, moved)
                for child in node.body:
                    visit(child, inner)
                return
            inner = shadowed or old in _locals(node, moved)
            for child in ast.iter_child_nodes(node):
                if isinstance(node, ast.Lambda) and child is node.args:
                    continue
                visit(child, inner)
            return
        if isinstance(node, ast.Name) and node.id == old and not shadowed:
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child, shadowed)

    for stmt in tree.body:
        visit(stmt, False)
    return found


class Source:
    """A file's bytes with (line, column) → offset; columns in ast are UTF-8 byte offsets."""

    def __init__(self, text: str):
        self.data = text.encode("utf-8")
        self.starts = [0]
        for i, b in enumerate(self.data):
            if b == 10:
                self.starts.append(i + 1)

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.starts[node.lineno - 1] + node.col_offset, self.starts[node.end_lineno - 1] + node.end_col_offset)

    def indent(self, node: ast.AST) -> str | None:
        start = self.starts[node.lineno - 1]
        prefix = self.data[start:start + node.col_offset].decode()
        return prefix if prefix.strip() == "" else None


def rewrite_imports(rel: str, future: str, text: str, tr: Translator, log: list[str]) -> str:
    tree = ast.parse(text)
    module, is_pkg = module_name(Path(rel))
    fmodule, fis_pkg = module_name(Path(future))
    fpkg = fmodule if fis_pkg else fmodule.rpartition(".")[0]
    src = Source(text)
    edits: list[tuple[int, int, bytes]] = []
    renames: dict[str, str] = {}
    moved: set[int] = set()  # the aliases of renamed module imports
    bound = _bound_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(tr(a.name) for a in node.names):
                items = [(tr(a.name) or a.name, a.asname) for a in node.names]
                for a in node.names:
                    if tr(a.name) and a.asname is None:
                        log.append(f"  ! {rel}:{node.lineno}: 'import {a.name}': attribute paths through it are "
                                   f"not rewritten")
                ind = src.indent(node)
                new = ("\n" + (ind or "")).join(f"import {m}" + (f" as {a}" if a else "") for m, a in items)
                edits.append((*src.span(node), new.encode()))
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        base = _resolve_base(module, is_pkg, node)
        if not base.startswith("engine") or (base != "engine" and not base.startswith("engine.")):
            continue
        out: list[tuple[str, str, str | None]] = []  # (module, name, asname)
        changed = False
        for a in node.names:
            sub = f"{base}.{a.name}"
            if a.name != "*" and tr.is_module(sub):
                target = tr(sub)
                if target is None:  # a module already in its place
                    out.append((base, a.name, a.asname))
                    continue
                parent, _, last = target.rpartition(".")
                asname = a.asname
                if asname is None and last != a.name:
                    if last in bound:
                        asname = a.name
                        log.append(f"  ! {rel}:{node.lineno}: '{last}' is already a name here; kept "
                                   f"'import {last} as {a.name}'")
                    else:
                        renames[a.name] = last
                        moved.add(id(a))
                elif asname == last:
                    asname = None
                out.append((parent, last, asname))
                changed = True
            else:
                target = tr(base)
                out.append((target or base, a.name, a.asname))
                changed = changed or target is not None
        relative = node.level > 0
        if not changed and not (relative and rel != future):
            continue

        def spell(m: str) -> str:
            return _relative(fpkg, m) if relative and m.startswith("engine") else m

        modules_in_order = list(dict.fromkeys(m for m, _, _ in out))
        simple = (len(modules_in_order) == 1 and all(n == a.name and (s == a.asname)
                                                      for (_, n, s), a in zip(out, node.names)))
        start, end = src.span(node)
        seg = src.data[start:end].decode()
        if simple:
            new = re.sub(r"^from\s+[.\w]+", "from " + spell(modules_in_order[0]), seg, count=1)
        else:
            ind = src.indent(node)
            if ind is None:
                log.append(f"  ! {rel}:{node.lineno}: an import sharing its line; left as it was")
                continue
            new = ("\n" + ind).join(_render_from(spell(m), sorted(((n, s) for mm, n, s in out if mm == m),
                                                                  key=_name_order), ind)
                                    for m in sorted(modules_in_order, key=lambda m: spell(m).lower()))
        if new != seg:
            edits.append((start, end, new.encode()))
    for old, new_name in sorted(renames.items()):
        nodes = _uses_to_rename(tree, old, moved)
        for n in nodes:
            s, e = src.span(n)
            edits.append((s, e, new_name.encode()))
        log.append(f"  {rel}: {old}.… → {new_name}.… ({len(nodes)} uses)")
    if not edits:
        return text
    data = src.data
    for s, e, new in sorted(edits, reverse=True):
        data = data[:s] + new + data[e:]
    return sort_import_runs(data.decode("utf-8"))


def sort_import_runs(text: str) -> str:
    """Sort each run of adjacent engine-internal ``from`` imports (``..`` before ``.``, then by module)."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)

    def internal(node: ast.stmt) -> tuple | None:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                return (0, -node.level, (node.module or "").lower())
            if node.module and (node.module == "engine" or node.module.startswith("engine.")):
                return (1, 0, node.module.lower())
        return None

    runs = []
    for parent in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(parent, field, None)
            if not isinstance(block, list):
                continue
            run: list[ast.stmt] = []
            for node in block + [None]:
                key = internal(node) if node is not None else None
                if key is not None and run and internal(run[-1])[0] == key[0] and (
                        run[-1].end_lineno + 1 == node.lineno):
                    run.append(node)
                    continue
                if len(run) > 1:
                    runs.append(run)
                run = [node] if key is not None else []
    for run in sorted(runs, key=lambda r: r[0].lineno, reverse=True):
        ordered = sorted(run, key=internal)
        if ordered == run:
            continue
        first, last = run[0].lineno - 1, run[-1].end_lineno
        lines[first:last] = ["".join(lines[n.lineno - 1:n.end_lineno]) for n in ordered]
    return "".join(lines)


# -- rewriting references in text ------------------------------------------------------------------------------
_NAMES = "|".join(sorted(MAPPING, key=len, reverse=True))
DOTTED = re.compile(r"(?<![\w.])engine\.(" + _NAMES + r")\b((?:\.\w+)*)")
PATH = re.compile(r"(?<![\w/.-])engine/(" + _NAMES + r")(\.py\b|(?=[/\s`'\")\],:;]|$))")
JOINED = re.compile(r'"engine" / "(' + _NAMES + r')(\.py)?"')
# A renamed module named in prose the way docstrings and docs name a function: ``runtime.save``, `cases.timeline`
RENAMED = {name: new.rpartition(".")[2] for name, new in MAPPING.items() if new.rpartition(".")[2] != name}
PROSE = re.compile(r"(?<=`)(" + "|".join(sorted(RENAMED)) + r")\.(\w+)")


def rewrite_text(text: str, tr: Translator, skip: list[tuple[int, int]] | None = None) -> str:
    def dotted(m: re.Match) -> str:
        new = tr(m.group(0))
        if new is None:
            return m.group(0)
        # only the part that is a module path; the rest (attributes) follows unchanged
        return new

    def path(m: re.Match) -> str:
        name, suffix = m.group(1), m.group(2)
        if name in FOLDERS and suffix == "":
            return new_path(name)
        if name not in FOLDERS and suffix == ".py":
            return new_path(name)
        return m.group(0)

    def joined(m: re.Match) -> str:
        name, suffix = m.group(1), m.group(2) or ""
        if (name in FOLDERS) != (suffix == ""):
            return m.group(0)
        return " / ".join(f'"{p}"' for p in new_path(name).split("/"))

    def prose(m: re.Match) -> str:
        if tr(f"engine.{m.group(1)}.{m.group(2)}") is None:  # a module of the new package: runtime.sync
            return m.group(0)
        return f"{RENAMED[m.group(1)]}.{m.group(2)}"

    def apply(chunk: str) -> str:
        chunk = PROSE.sub(prose, chunk)
        chunk = DOTTED.sub(dotted, chunk)
        chunk = PATH.sub(path, chunk)
        return JOINED.sub(joined, chunk)

    if not skip:
        return apply(text)
    out, at = [], 0
    for s, e in skip:
        out.append(apply(text[at:s]))
        out.append(text[s:e])
        at = e
    out.append(apply(text[at:]))
    return "".join(out)


def import_spans(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) character offsets of every import statement in ``text``."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def off(line: int, col: int) -> int:  # ast columns count UTF-8 bytes
        return starts[line - 1] + len(lines[line - 1].encode("utf-8")[:col].decode("utf-8", "ignore"))

    return sorted((off(n.lineno, n.col_offset), off(n.end_lineno, n.end_col_offset))
                  for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)))


# -- files --------------------------------------------------------------------------------------------------
def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout.split("\n")
    return sorted({f for f in out if f and (ROOT / f).is_file()})


def in_scope(rel: str) -> bool:
    path = ROOT / rel
    if path.resolve() == SELF:
        return False
    if rel.startswith(("node_modules/", "web/static/dist/", ".venv/")) or "/fixtures/" in rel:
        return False
    if "/migrations/versions/" in rel:  # landed Alembic revisions are never edited, not even a comment
        return False
    if path.suffix == ".py":
        return rel.split("/")[0] in PY_DIRS
    return path.suffix in TEXT_SUFFIXES or path.name in {"Makefile", "README.md"}


def git(*args: str) -> None:
    subprocess.run(["git", *args], cwd=ROOT, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    args = parser.parse_args(argv)
    log: list[str] = []

    moves = pending_moves()
    tr = Translator(current_modules())
    flat = sorted(p.stem for p in (ROOT / "engine").glob("*.py"))
    unmapped = [m for m in flat if m not in MAPPING and m not in STAYS_FLAT]
    plan = plan_templates()

    # 1 + 2: contents, each file read at its place now and written for its place after the moves
    changed_files = []
    for rel in tracked_files():
        if not in_scope(rel):
            continue
        path = ROOT / rel
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = text
        if path.suffix == ".py":
            try:
                new = rewrite_imports(rel, future_rel(rel, moves), text, tr, log)
                new = rewrite_text(new, tr, import_spans(new))
            except SyntaxError as e:
                log.append(f"  ! {rel}: not Python ({e}); only text references rewritten")
                new = rewrite_text(text, tr)
        else:
            new = rewrite_text(text, tr)
        if new != text:
            changed_files.append(rel)
            if not args.dry_run:
                path.write_text(new, encoding="utf-8")

    # 3: the moves
    for old, new in moves.items():
        if not args.dry_run:
            (ROOT / new).parent.mkdir(parents=True, exist_ok=True)
            if subprocess.run(["git", "ls-files", "--error-unmatch", old], cwd=ROOT, capture_output=True).returncode:
                (ROOT / old).rename(ROOT / new)  # not tracked yet: a plain move
                log.append(f"  ! {old} is not tracked by git: moved without git mv")
            else:
                git("mv", old, new)
    created = []
    for pkg, doc in PACKAGES.items():
        init = ROOT / "engine" / pkg / "__init__.py"
        if (ROOT / "engine" / pkg).is_dir() or any(new.startswith(f"engine/{pkg}/") for new in moves.values()):
            if not init.exists():
                created.append(str(init.relative_to(ROOT)))
                if not args.dry_run:
                    init.parent.mkdir(parents=True, exist_ok=True)
                    init.write_text(f'"""{wrap_doc(doc)}"""\n', encoding="utf-8")
                    git("add", str(init.relative_to(ROOT)))

    init = ROOT / "engine/__init__.py"
    if init.read_text(encoding="utf-8") == ENGINE_DOC_WAS:
        created.append("engine/__init__.py (docstring)")
        if not args.dry_run:
            init.write_text(ENGINE_DOC, encoding="utf-8")

    # 4: the import-graph test and the architecture document for the new layout
    templates = [v for v in plan.values() if v.startswith("!")] if args.dry_run else write_templates(plan)

    print("restructure_engine: " + ("DRY RUN, nothing changed; this is what a run would do" if args.dry_run
                                    else "done"))
    print(f"moved {len(moves)}:" if moves else "moved nothing: every mapped module is in its package already")
    for old, new in moves.items():
        print(f"  git mv {old} {new}")
    if created:
        print("wrote: " + ", ".join(created))
    print(f"rewrote references in {len(changed_files)} files" + (":" if changed_files else ""))
    for rel in changed_files:
        print("  " + rel)
    for line in templates:
        print(line)
    if log:
        print("notes:")
        for line in log:
            print(line)
    if unmapped:
        print("NOT MAPPED (left at engine/, imports rewritten; add them to MAPPING and run again): "
              + ", ".join(f"engine/{m}.py" for m in unmapped))
    return 0


def wrap_doc(doc: str) -> str:
    words, lines, line = doc.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > LINE - 8 and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "\n".join(lines) + ("\n" if len(lines) > 1 else "")


# -- templates ----------------------------------------------------------------------------------------------
TEST_FILE = "tests/engine/test_import_graph.py"
DOC_FILE = "docs/architecture.md"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _layers(text: str) -> tuple[int, int]:
    return text.find("## Layers\n"), text.find("## Tables\n")


def plan_templates() -> dict[str, str]:
    """Decide, on the files as they are before any rewriting, which templates to write; say why not."""
    plan = {}
    test = (ROOT / TEST_FILE).read_text(encoding="utf-8")
    if test == IMPORT_GRAPH_TEST:
        plan[TEST_FILE] = "same"
    elif _sha(test) in IMPORT_GRAPH_TEST_WAS:
        plan[TEST_FILE] = "write"
    else:
        plan[TEST_FILE] = (f"! {TEST_FILE} changed since this script was written: not replaced; merge "
                           f"IMPORT_GRAPH_TEST from scripts/restructure_engine.py by hand")
    doc = (ROOT / DOC_FILE).read_text(encoding="utf-8")
    start, end = _layers(doc)
    if start < 0 or end < 0:
        plan[DOC_FILE] = f"! {DOC_FILE} has no '## Layers' … '## Tables': sections not replaced"
    elif doc[start:end] == ARCHITECTURE_LAYERS:
        plan[DOC_FILE] = "same"
    elif _sha(doc[start:end]) in ARCHITECTURE_LAYERS_WAS:
        plan[DOC_FILE] = "write"
    else:
        plan[DOC_FILE] = (f"! {DOC_FILE}'s 'Layers' and 'Dependency direction' changed since this script was "
                          f"written: not replaced; merge ARCHITECTURE_LAYERS from scripts/restructure_engine.py")
    return plan


def write_templates(plan: dict[str, str]) -> list[str]:
    out = []
    if plan[TEST_FILE] == "write":
        (ROOT / TEST_FILE).write_text(IMPORT_GRAPH_TEST, encoding="utf-8")
        out.append(f"wrote {TEST_FILE} for the new layout")
    if plan[DOC_FILE] == "write":
        doc = (ROOT / DOC_FILE).read_text(encoding="utf-8")
        start, end = _layers(doc)
        (ROOT / DOC_FILE).write_text(doc[:start] + ARCHITECTURE_LAYERS + doc[end:], encoding="utf-8")
        out.append(f"wrote {DOC_FILE}'s 'Layers' and 'Dependency direction' for the new layout")
    return out + [v for v in plan.values() if v.startswith("!")]


# sha256 of the texts these templates replace (as they were on main before the move; add a line when main's
# version changes before the move is run)
IMPORT_GRAPH_TEST_WAS = {
    "fd3bec52a83592178fa592a4338c68e93a4c98611414cc48433c01147437e5db",  # b091ee1
}
ARCHITECTURE_LAYERS_WAS = {
    "e8c213a99f3309372112d32d4120468af2f90c15dc0715c2a814ef8f3bae88a6",  # b091ee1
}

# tests/engine/test_import_graph.py for the new layout
IMPORT_GRAPH_TEST = r'''"""engine/ shows its architecture: subpackages by concern, imports one way, no cycles, no hidden imports.

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
    ("engine.spiff.timers", "engine.org.calendar"): "timer expressions count working days",
    ("engine.store.audit", "engine.org.lockout"):
        "rekeying is a security event; SecurityEventKind belongs beside SecurityEvent in store.models",
    ("engine.definitions.form_contract", "engine.cases.case_lists"):
        "a form's people and org pickers; the choices belong in org/",
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
'''

# docs/architecture.md from "## Layers" up to "## Tables" for the new layout
ARCHITECTURE_LAYERS = r'''## Layers

```
  browser / 12345 hotline / provincial platform         pingan CLI            Celery beat
              │ HTTP (pages + /api/v1)                       │                     │
        ┌─────▼──────────────────────┐        ┌──────────────▼───┐     ┌───────────▼────────┐
        │ web/  Flask app factory,   │        │ web/cli.py       │     │ worker/  Celery    │
        │ one blueprint per area     │        │ (click group)    │     │ tasks: ids only    │
        └─────┬──────────────────────┘        └────────┬─────────┘     └───────────┬────────┘
              │  one engine function per request / command / task; the caller commits
        ┌─────▼────────────────────────────────────────────────────────────────────▼───────┐
        │ engine/studio/ · board/ · signing/ · seed/    capabilities on top of the core    │
        │ engine/runtime/      the write side: lifecycle (start, complete, cancel, retry), │
        │                      sync, tasks, messages, timers, schedules, deadlines, drafts,│
        │                      notifications, idempotency, admin                           │
        │ engine/cases/        the read side: case_file, queries, summaries, case_lists,   │
        │                      personal_data, attachments, task_data, exports              │
        │ engine/definitions/  deployment, lint, forms, form_fields, form_conditions,      │
        │                      form_contract, declared_data, scripting, bpmn_layout        │
        │ engine/org/          orgs, auth, lockout, visibility, calendar, demo             │
        │ engine/store/        db, models, tables, rows, audit, tallies, schema,           │
        │                      migrations/ (Alembic)                                       │
        │ engine/spiff/        the ONLY code that imports SpiffWorkflow: parser, workflow  │
        │                      adapter (Runner), sandboxed script engine, compaction       │
        │ engine/ itself:      settings · clock · errors · context, read by every layer    │
        └─────┬────────────────────────────────────────────────────────────────────────────┘
              │ SQLAlchemy 2 (typed models), Alembic migrations in engine/store/migrations
        ┌─────▼───────────────┐
        │ SQLite (embedded) or │
        │ PostgreSQL (scaled)  │
        └──────────────────────┘
```

* `engine/` is subpackages by concern, each answering one question, one module per question:
  `engine/store/` how data is kept (the database and its sessions, the core tables, Alembic
  migrations, row writes, the audit chain, case tallies); `engine/org/` who may act where (the org
  tree, users and roles, sign-in and its throttling, who sees a case and works on a task, the
  working-day calendar); `engine/definitions/` what a process is (parse, validate and lint,
  forms and what a submission may carry, deploy versions, diagram layout, the helpers scripts
  call); `engine/cases/` the read side (a case as staff read it in `case_file.py`, lists and
  search, API summaries, personal data masked, attachments, exports); `engine/runtime/` the write
  side (`lifecycle.py` starts, completes, cancels and retries instances under the instance lock;
  `sync.py` projects each step; task operations, messages, timers and schedules, deadlines,
  notifications, administration). Only `settings.py`, `clock.py`, `errors.py` and `context.py`
  stay at `engine/` itself: small, cross-cutting, read by every layer. Each package's
  `__init__.py` holds only its docstring; code imports the module it means.
* Capabilities added since live in subpackages of their own, each with its own pages and API
  module in `web/`:
  * `engine/studio/` — the designer studio (流程设计): `drafts.py`/`workspace.py`/`models.py`
    (drafts saved server-side, one revision per save, a stale save refused with 409),
    `validation.py` (the same checks as `pingan validate`), `diff.py`, `versions.py` (deploy with a
    note, rollback), `export.py`, `scenarios.py`/`player.py`/`sandbox.py`/`playground.py` (scenario
    tests and recording on a throwaway SQLite database with a thread-local simulated clock,
    `clock.using`), `migration.py` (dry run and background job moving running cases between
    versions; the SpiffWorkflow part is `engine/spiff/migration.py`), `imports.py` and `import_*.py`
    (Camunda Modeler / bpmn.io models converted to Pingan's settings), `access.py` (designers and
    admins only). Web side: `web/pages/studio.py` with the bpmn-js/dmn-js bundle built by esbuild
    from `web/static/studio/` into the ignored `web/static/dist/`; `web/api/drafts.py`,
    `studio_tests.py`, `migrations.py`.
  * `engine/board/` — leaders and inspectors: `ledger.py` (督办台账; `urging.py`, `notice.py`),
    `figures.py` (the board's counts and series, each with the list filters behind it),
    `indicators.py` (rates with the cases behind them, also read by the assessment's
    `platform_indicators` script helper), `warnings.py` with `warning_rules.py` (DMN rules deployed
    and versioned like processes) and `warning_facts.py` (the facts each rule decides on),
    evaluated by the timer loop or Celery beat. Web side: `web/pages/ledger.py`, `board.py`,
    `warnings.py`; `web/api/supervision.py`, `board.py`, `warnings.py`.
  * `engine/signing/` — 加签 / 减签: the signer queue of a task (`models.py`), passing a task along
    it (`queue.py`, the one part the runtime imports: a completion is held while after-signers
    sign) and the operations (`operations.py`).
  * `engine/seed/` — `pingan demo seed`: a history of demo cases played through the engine's own
    functions on a moved clock.
  Sign-in throttling and the security log are `engine/org/lockout.py`; what a submission may carry is
  `engine/definitions/form_contract.py` with `form_conditions.py` and `declared_data.py`.
* `engine/` never imports Flask or `web/`. Engine functions take a `Session` and keyword-only
  arguments, `flush()` but never `commit()`: the request, the CLI command or the Celery task owns
  the transaction.
* Settings come from `PINGAN_*` environment variables (`engine/settings.py`), read when a front door
  builds its `Services` (`engine/context.py`), never at import time. The session carries the
  `EngineContext` (settings + sandboxed script engine) in `session.info`, so engine functions need no
  global state.
* SpiffWorkflow types never leave `engine/spiff/`. The runtime sees `Runner`, `ReadyUserTask`,
  `WaitingEvent` and `StepError`; a library upgrade touches `engine/spiff/` only, and its private
  parts only through `engine/spiff/internals.py` (see "Dependency direction").

## Dependency direction

Imports run one way, from the front doors down to the database, and never back:

```
web/ (Flask)   worker/ (Celery)   web/cli.py          front doors: parse, call one engine function, commit
      │               │               │
      ▼               ▼               ▼
engine/studio/  engine/board/  engine/signing/  engine/seed/     capabilities on top of the core
      │  (they import the core; the core imports of them only what a step needs: signing.queue and
      │   signing.models (a completion held for after-signers, a case page showing signers),
      │   board.platform_figures (read by scripts), board.warning_rules (deployed with the
      │   definitions); the timer sweep also runs board.warnings and board.aggregates, and the timer
      │   loop takes up studio's migration jobs)
      ▼
engine/runtime/      tasks · messages · admin · drafts · schedules → timers      the write side:
                     lifecycle → sync; deadlines, notifications, idempotency     restore, run, project
engine/cases/        case_file · summaries → queries · personal_data ·           the read side: who sees,
                     attachments · task_data; case_lists; exports                what is masked
engine/definitions/  deployment → lint · forms → form_fields; form_contract;     what a process is
                     declared_data; scripting; bpmn_layout
engine/org/          auth → lockout; orgs; visibility; calendar; demo            who may act where
engine/store/        models → db, tally_triggers; audit; rows; tallies;          how data is kept
                     tables, schema → migrations/
engine/ itself       context → calendar · scripting · db · settings              services a session carries;
                     clock · errors · settings                                   read by every layer
      │
      ▼
engine/spiff/*  (workflow, parser, sandbox, compaction, ...) → engine/spiff/internals.py → SpiffWorkflow
```

* `engine/` never imports `web/`, `worker/`, Flask or Celery. Inside it there are no import cycles
  and no imports hidden in a function to get round one: `tests/engine/test_import_graph.py` reads
  every import of `engine/` with `ast` (module and function level, relative imports resolved, a
  package's `__init__` as a module of its own, `if TYPE_CHECKING:` blocks left out) and fails
  naming the loop and the line of each import in it. The same test holds the layout: no module at
  `engine/` but the four cross-cutting ones, and each subpackage importing only the layers below
  it (spiff, store, org, definitions, cases, runtime, then the capabilities), bar the crossings it
  names with a reason each (`KNOWN_CROSSINGS`: the signing and board parts a step needs, as above;
  the working-day calendar that timer expressions count in; the audit chain's security event kind,
  still in `engine/org/lockout.py`; a form's people and org pickers, still in
  `engine/cases/case_lists.py`). `engine/context.py`, which wires a session's services, and
  `engine/store/tables.py`, which gathers every table, sit above what they import. When two
  modules need each other, the code that both need moves to where it belongs: personal data
  (which fields, who reads them in full, masking) is `engine/cases/personal_data.py`, read by case
  pages, lists and notifications alike; the form-field catalogue lives with the definition's forms
  (`deployment.field_catalogue`); who may act on a task is `visibility.may_act`, beside who may see
  a case; the tally triggers are plain DDL in `engine/store/tally_triggers.py`, which the models
  attach to `create_all`.
* Tables: `engine/store/models.py` holds the core tables and imports no capability; each capability
  keeps its tables in its own module, importing the core models it refers to.
  `engine/store/tables.py` gathers every table (one line per module) for Alembic, `create_all` and
  the tests, and nothing else imports it.
* SpiffWorkflow's private parts (task-tree links, removing a task, forcing a state, internal data,
  `_update` after a catch, the serializer converters Pingan replaces) are named once in
  `engine/spiff/internals.py`; `tests/engine/test_spiff_internals.py` checks each against the
  installed library, with a fingerprint of the library code Pingan copies or wraps, so an upgrade
  that changes one fails there by name. Stored states of shipped cases mid-way
  (`tests/fixtures/states/<date>_serializer-<version>/`) are restored and played to their end by
  `tests/engine/test_state_fixtures.py`; `python -m tests.state_fixtures` saves a new set when the
  state format changes, and old sets stay.

'''

if __name__ == "__main__":
    sys.exit(main())
