"""Decide from the source alone whether a script is cheap enough to run inside the web process.

The sandbox's time budget is checked between Python operations, so one call into C code
(`sum(map(sum, map(range, [10**6]*300)))`, a backtracking regex) can run for as long as it likes,
and only the OS can stop it. Running every evaluation in another process would cost a round trip
on the hot path (several evaluations per engine step), so we prove the common cheap cases safe
and send everything else to the worker (`engine/spiff/worker_pool.py`).

An in-process script is straight-line code: no loops, comprehensions, lambdas, function
definitions or `re`; its calls go only to the builtins, helpers and methods listed below, none
of which takes a function or manufactures a large value from a small one; no function value is
passed as an argument; and it has at most MAX_NODES syntax nodes, of which at most
MAX_PRODUCERS may build a new sequence. Each operation then touches values no larger than the
task data or the size guards' MAX_SIZE (1e6 elements, a few milliseconds of C each), and runs at
most once, so the whole evaluation is bounded by a few hundred milliseconds and by
MAX_PRODUCERS copies of the task data or of an 8 MB guarded value. Everything else is not necessarily slow, only not proven
fast, and goes to the worker.
"""
from __future__ import annotations

import ast
import builtins
import math
from functools import lru_cache

MAX_NODES = 300
MAX_PRODUCERS = 8  # × a copy of the task data or 1e6 references (8 MB) each, under the 256 MB memory limit

# Builtins whose cost is linear in their arguments and which never call back into a function.
_CHEAP_BUILTINS = frozenset(
    "len abs round min max sum any all int float bool str isinstance list tuple dict set frozenset "
    "Decimal date datetime timedelta divmod hash chr ord".split())
# Builtins that allocate in proportion to their argument: counted against MAX_PRODUCERS.
_PRODUCING_BUILTINS = frozenset("str list tuple dict set frozenset".split())
# Methods of task data values (str, list, dict, date, datetime, Decimal) and of `math`.
_CHEAP_METHODS = frozenset((
    "get keys values copy append insert pop remove index count clear update setdefault "
    "strip lstrip rstrip upper lower title capitalize casefold swapcase partition "
    "rpartition startswith endswith find rfind isdigit isdecimal isnumeric isalpha isalnum isspace isupper "
    "islower encode decode removeprefix removesuffix replace join ljust rjust center zfill "
    "isoformat fromisoformat strftime date time timetz replace astimezone weekday isoweekday isocalendar "
    "timestamp total_seconds toordinal fromordinal utcoffset tzname combine today "
    "quantize normalize to_integral_value is_nan is_zero is_signed adjusted as_integer_ratio "
    "is_integer bit_length conjugate").split()) | frozenset(
    n for n in dir(math) if not n.startswith("_") and n not in ("factorial", "comb", "perm", "prod", "lcm"))
# Left out on purpose: extend (x.extend(x) doubles, unguarded), split (a million small strings),
# items (a million new tuples), sort. Methods that build a value as large as their input or the
# size guards' MAX_SIZE count against MAX_PRODUCERS.
_PRODUCING_METHODS = frozenset("replace join ljust rjust center zfill encode decode copy strftime".split())
_SAFE_MODULES = frozenset({"datetime", "decimal", "math"})

_LEAVES = (ast.Constant, ast.Name, ast.Load, ast.Store, ast.Del, ast.operator, ast.boolop, ast.unaryop,
           ast.cmpop, ast.expr_context)
_COMPOUND = (ast.Expression, ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.If, ast.Pass, ast.Delete,
             ast.Attribute, ast.Subscript, ast.Slice, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.BoolOp,
             ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call, ast.keyword, ast.JoinedStr,
             ast.FormattedValue, ast.Try, ast.ExceptHandler, ast.Raise, ast.Assert, ast.Import, ast.ImportFrom,
             ast.alias)


@lru_cache(maxsize=4096)
def runs_in_process(source: str, mode: str, helpers: frozenset[str] = frozenset()) -> bool:
    """Tell whether ``source`` is proven cheap enough to run without a worker process.

    ``helpers`` are the trusted functions scripts may call (their arguments are capped where
    they loop, as `engine/definitions/scripting.py` does for working days)."""
    try:
        tree = ast.parse(source, "<string>", mode)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True  # the sandbox's own compile step reports it, with no code run
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        return False
    producers = 0
    for node in nodes:
        if not isinstance(node, _LEAVES + _COMPOUND):
            return False  # loops, comprehensions, lambdas, def, with, walrus, starred ...
        if isinstance(node, ast.Import) and any(a.name not in _SAFE_MODULES for a in node.names):
            return False
        if isinstance(node, ast.ImportFrom) and node.module not in _SAFE_MODULES:
            return False
        if isinstance(node, ast.Name) and node.id == "re":
            return False
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and not _small_factor(node.left, node.right):
            return False  # seq * n builds up to 1e6 elements; n * seq * n ... would compound
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Mult) and not _small_factor(node.value):
            return False
        if isinstance(node, (ast.BinOp, ast.AugAssign)):
            producers += isinstance(node.op, (ast.Add, ast.Mult, ast.Mod))
        producers += isinstance(node, (ast.JoinedStr, ast.Slice))
        if isinstance(node, ast.Call):
            cost = _call_cost(node, helpers)
            if cost is None:
                return False
            producers += cost
    return producers <= MAX_PRODUCERS


def _small_factor(*sides) -> bool:
    return any(isinstance(side, ast.Constant) and isinstance(side.value, (int, float))
               and not isinstance(side.value, bool) and abs(side.value) <= 1000 for side in sides)


def _call_cost(node: ast.Call, helpers: frozenset[str]) -> int | None:
    """Return 1 if the call may build a new sequence, 0 if not, None if it is not proven cheap."""
    func = node.func
    if isinstance(func, ast.Name):
        name, known = func.id, _CHEAP_BUILTINS
        producing = name in _PRODUCING_BUILTINS
    elif isinstance(func, ast.Attribute):
        name, known = func.attr, _CHEAP_METHODS
        producing = name in _PRODUCING_METHODS
    else:
        return None
    if name not in known and not (isinstance(func, ast.Name) and name in helpers):
        return None
    # A function value as argument (max(xs, key=workdays), min(xs, key=len)) multiplies costs.
    for arg in list(node.args) + [k.value for k in node.keywords]:
        if isinstance(arg, ast.Starred) or _names_a_callable(arg, helpers):
            return None
    if any(k.arg is None for k in node.keywords):
        return None
    return int(producing)


def _names_a_callable(arg, helpers: frozenset[str]) -> bool:
    if isinstance(arg, ast.Name):
        return arg.id in helpers or arg.id in _ALL_BUILTINS
    return isinstance(arg, ast.Attribute) and arg.attr in _CHEAP_METHODS


_ALL_BUILTINS = frozenset(dir(builtins)) | {"Decimal", "date", "datetime", "timedelta"}
