"""Run BPMN scripts and expressions inside a RestrictedPython sandbox with time and size limits.

Three layers: RestrictedPython's policy plus our AST rewrites (size-checked operators and
f-strings, a budget tick in every loop, comprehension and function, re-raise of violations in
every except/finally), guard functions passed in as globals (the size guards are in
size_guards.py), and whitelisted builtins and modules. print() is accepted and discarded. Each
run's namespace is cleared afterwards, so a lambda or generator left in task data cannot run
again without a budget. Helpers and guards are put into the namespace after the task data, so
a data field named like a helper (`workdays`) cannot replace it.

The budget tick only runs between Python operations; a loop inside C code
(`sum(map(sum, map(range, [10**6]*300)))`, `list(map(list, ...))`, a backtracking regex) never
returns to it. So where the OS can help (`resource` exists), a script runs here only when
`bounded.runs_in_process` proves from its syntax that it cannot run long or allocate much
(straight-line code calling an allow-list of builtins, methods and helpers, no `re`); everything
else runs in a pre-started worker process (`worker_pool.py`, `script_worker.py`) under
RLIMIT_AS / RLIMIT_CPU, which the calling thread kills on the wall-clock limit. We chose routing
`re` to the worker over a linear-time engine such as RE2: no new C dependency, Python's regex
syntax (look-arounds, back-references) keeps working, and the worker exists anyway for C loops.
Proven-cheap expressions (gateway conditions, due dates, DMN cells) stay a few microseconds.
"""
from __future__ import annotations

import ast
import datetime as _datetime
import decimal
import math
import operator
import re
import sys
import time
import types
from functools import lru_cache

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import (
    FORBIDDEN_FUNC_NAMES, INSPECT_ATTRIBUTES, RestrictingNodeTransformer, copy_locations,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from . import worker_pool
from .bounded import runs_in_process
from .size_guards import (
    DECIMAL_CONTEXT, MAX_DATA_SIZE, MAX_SIZE, SIZED_BUILTINS, CheckedDecimal, SandboxViolation, ScriptTimeout,
    binop, check_size, format_value, inplacevar, memory_exceeded, size_of, sized_attribute,
)

try:
    import resource
except ImportError:  # no getrusage on Windows: only the time limit applies there
    resource = None

# SandboxViolation is defined with the size guards and is part of this module's interface too.
__all__ = ["REFUSED_NAMES", "SANDBOX_NAMES", "SandboxEnvironment", "SandboxViolation", "ScriptTimeout",
           "check_source", "make_script_engine"]

MEMORY_LIMIT_MB = 256     # what one run may add: peak RSS here, address space in the worker (RLIMIT_AS)
_MEMORY_CHECK_EVERY = 0.01  # getrusage costs ~1 µs, so not on every tick
_FILENAME = "<string>"    # PythonScriptEngine looks for this name to report the failing line


def _attr_refusal(name: str) -> tuple[str, str]:
    if name.startswith("_"):
        return (f"脚本不允许访问以下划线开头的属性 '{name}'", f"access to underscore attribute '{name}' is not allowed")
    if name in ("format", "format_map"):  # "{0.__class__}".format(x) walks attributes unguarded
        return f"脚本不允许调用 {name}()，请改用 f-string", f"{name}() is not allowed, use an f-string"
    return f"脚本不允许访问属性 '{name}'", f"access to attribute '{name}' is not allowed"


# Frames, code and globals lead out of the sandbox even without an underscore; mro() to object.
_DENIED_ATTRS = INSPECT_ATTRIBUTES | {"func_globals", "func_code", "mro", "format", "format_map"}


def _getattr(obj, name: str):
    if name.startswith("_") or name in _DENIED_ATTRS:
        raise SandboxViolation(*_attr_refusal(name))
    return sized_attribute(obj, name, getattr(obj, name))


def _refuse(name: str):
    def refuse(*args, **kwargs):
        raise SandboxViolation(f"脚本不允许调用 {name}()", f"calling {name}() is not allowed")
    return refuse


def _namespace(module, names: str, **extra) -> types.SimpleNamespace:
    """Expose only listed names: modules carry their own imports (re.enum.sys.modules['os'])."""
    return types.SimpleNamespace(**{n: getattr(module, n) for n in names.split() if hasattr(module, n)}, **extra)


_MODULES = {
    "datetime": _namespace(_datetime, "date datetime time timedelta timezone tzinfo MINYEAR MAXYEAR UTC"),
    "decimal": _namespace(decimal, "InvalidOperation DivisionByZero Overflow " + " ".join(
        n for n in dir(decimal) if n.startswith("ROUND_")), Decimal=CheckedDecimal),
    # factorial, comb, perm, prod and lcm are left out: huge results computed in C, uninterruptible.
    "math": _namespace(math, "ceil floor trunc fabs sqrt isqrt exp log log2 log10 pow sin cos tan asin acos "
                             "atan atan2 hypot degrees radians copysign fmod modf isclose isfinite isinf isnan "
                             "gcd fsum pi e tau inf nan"),
    "re": _namespace(re, "compile search match fullmatch findall finditer split escape error "
                         "I IGNORECASE M MULTILINE S DOTALL X VERBOSE A ASCII",
                     sub=lambda pattern, repl, string, count=0, flags=0:
                         _getattr(re.compile(pattern, flags), "sub")(repl, string, count),
                     subn=lambda pattern, repl, string, count=0, flags=0:
                         _getattr(re.compile(pattern, flags), "subn")(repl, string, count)),
}


def _import_refusal(name: str) -> tuple[str, str]:
    allowed = ", ".join(_MODULES)
    return f"脚本不允许导入模块 '{name}'（只允许 {allowed}）", f"importing '{name}' is not allowed; allowed: {allowed}"


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if level != 0 or name not in _MODULES:
        raise SandboxViolation(*_import_refusal(name))
    return _MODULES[name]


_HIDDEN = {"__build_class__", "_getattr_", "BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit"}
_BUILTINS = {k: v for k, v in safe_builtins.items() if k not in _HIDDEN}
# Names a script may not use although Python has them; validation refuses them (engine/definitions/lint.py).
REFUSED_NAMES = frozenset((
    "type getattr setattr delattr hasattr vars dir globals locals open compile eval exec input memoryview "
    "object help exit quit super classmethod staticmethod property iter bytearray bytes breakpoint").split())
_BUILTINS.update({name: _refuse(name) for name in REFUSED_NAMES})
_BUILTINS.update(
    len=len, min=min, max=max, sorted=sorted, enumerate=enumerate, zip=zip, any=any, all=all, next=next,
    list=list, dict=dict, set=set, frozenset=frozenset, tuple=tuple, map=map, filter=filter, reversed=reversed,
    __import__=_import, **SIZED_BUILTINS,
)
_NO_PRINT = types.SimpleNamespace(_call_print=lambda *args, **kwargs: None)
_GUARDS = {
    "__builtins__": _BUILTINS, "_getattr_": _getattr, "_getitem_": operator.getitem, "_getiter_": iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence, "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard, "_inplacevar_": inplacevar, "_apply_": lambda f, *a, **kw: f(*a, **kw),
    "_print_": lambda _getattr_=None: _NO_PRINT, "_binop_": binop, "_format_": format_value,
}
_CONVENIENCE = {"datetime": _datetime.datetime, "date": _datetime.date, "timedelta": _datetime.timedelta,
                "Decimal": CheckedDecimal}
# Every name a script finds without assigning or importing it, task data aside.
SANDBOX_NAMES = frozenset(k for k in _BUILTINS if not k.startswith("_") and k not in REFUSED_NAMES) | set(_CONVENIENCE)
_GUARDED_OPS = {ast.Add: "+", ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%"}
_RP_MESSAGES = (("Exec calls", "脚本不允许调用 exec()"), ("Eval calls", "脚本不允许调用 eval()"),
                ("Augmented assignment", "下标或属性不能使用 +=，请写成 d[k] = d[k] + 1"))


class _SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus size guards, budget ticks, import checks and Chinese messages."""

    def error(self, node, info, zh=None):
        zh = zh or next((z for key, z in _RP_MESSAGES if key in info), "脚本包含沙箱不允许的写法")
        self.errors.append((getattr(node, "lineno", None), zh, info))

    def check_name(self, node, name, allow_magic_methods=False):
        if name and name.startswith("_") and name != "_":
            self.error(node, f"name '{name}' starting with an underscore is not allowed",
                       zh=f"脚本不允许使用以下划线开头的名称 '{name}'")
        elif name in FORBIDDEN_FUNC_NAMES:
            self.error(node, f"'{name}' is a reserved name", zh=f"脚本不允许使用保留名称 '{name}'")
        else:
            super().check_name(node, name, allow_magic_methods)

    def visit_Attribute(self, node):
        if node.attr.startswith("_") or node.attr in _DENIED_ATTRS:
            zh, en = _attr_refusal(node.attr)
            self.error(node, en, zh=zh)
            return self.node_contents_visit(node)
        return super().visit_Attribute(node)

    def visit_BinOp(self, node):
        node = self.node_contents_visit(node)
        symbol = _GUARDED_OPS.get(type(node.op))
        return node if symbol is None else self._call("_binop_", node, ast.Constant(symbol), node.left, node.right)

    def visit_FormattedValue(self, node):
        node = self.node_contents_visit(node)
        spec = node.format_spec or ast.Constant("")
        new = ast.FormattedValue(self._call("_format_", node, node.value, ast.Constant(node.conversion), spec), -1)
        copy_locations(new, node)
        return new

    # Loops and calls are the only ways to run long. A tick there replaces sys.settrace: on 3.11
    # `while True: pass` is one self-jump that emits no line events, so a tracer never fires.
    def visit_While(self, node):
        return self._prepend("_tick_", super().visit_While(node))

    def visit_For(self, node):
        return self._prepend("_tick_", super().visit_For(node))

    def visit_FunctionDef(self, node):
        return self._prepend("_tick_", super().visit_FunctionDef(node))

    def visit_comprehension(self, node):
        node = super().visit_comprehension(node)
        node.ifs.insert(0, self._call("_tick_", node.iter))
        return node

    def visit_Lambda(self, node):
        node = super().visit_Lambda(node)
        node.body = ast.BoolOp(ast.And(), [self._call("_tick_", node.body), node.body])
        copy_locations(node.body, node.body.values[1])
        return node

    # Violations must end the script: handlers and finally blocks re-raise them first.
    def visit_ExceptHandler(self, node):
        return self._prepend("_guard_exc_", super().visit_ExceptHandler(node))

    def visit_Try(self, node):
        node = super().visit_Try(node)
        return self._prepend("_guard_exc_", node, "finalbody") if node.finalbody else node

    def visit_ClassDef(self, node):
        self.error(node, "class definitions are not allowed", zh="脚本不允许定义类")
        return node

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name not in _MODULES:
                self.error(node, *reversed(_import_refusal(alias.name)))
        return super().visit_Import(node)

    def visit_ImportFrom(self, node):
        module = _MODULES.get(node.module) if node.level == 0 else None
        if module is None:
            self.error(node, *reversed(_import_refusal("." * node.level + (node.module or ""))))
        for alias in node.names if module else ():
            if alias.name != "*" and alias.name not in vars(module):
                self.error(node, f"cannot import '{alias.name}' from '{node.module}'",
                           zh=f"不能从模块 '{node.module}' 导入 '{alias.name}'")
        return super().visit_ImportFrom(node)

    def _call(self, name, where, *args):
        call = ast.Call(ast.Name(name, ast.Load()), list(args), [])
        copy_locations(call, where)
        return call

    def _prepend(self, name, node, field="body"):
        body = getattr(node, field)
        statement = ast.Expr(self._call(name, body[0]))
        copy_locations(statement, body[0])
        body.insert(0, statement)
        return node


@lru_cache(maxsize=4096)
def _compile(source: str, mode: str):
    try:
        tree = ast.parse(source, _FILENAME, mode)
        # compile_restricted's mode-specific twins: same policy hook, but errors come back as data
        # (our (line, zh, en) tuples) instead of a SyntaxError plus printed warnings.
        compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
        result = compiler(tree, _FILENAME, policy=_SandboxPolicy)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        message = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        return None, ((getattr(exc, "lineno", None), f"语法错误：{message}", f"syntax error: {message}"),)
    return result.code, tuple(result.errors)


def check_source(source: str, mode: str = "exec") -> list[str]:
    """Compile under the sandbox without running; return error messages (empty list when fine)."""
    return [f"第 {line} 行：{zh} (line {line}: {en})" if line else f"{zh} ({en})"
            for line, zh, en in _compile(source, mode)[1]]


def _code(source: str, mode: str) -> types.CodeType:
    code, problems = _compile(source, mode)
    if code is None:
        raise SandboxViolation("；".join(f"第 {line} 行：{zh}" if line else zh for line, zh, _ in problems),
                               "; ".join(f"line {line}: {en}" if line else en for line, _, en in problems))
    return code


def _peak_kb() -> int:
    if resource is None:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS reports bytes, Linux KiB


class _Budget:
    """Time and memory allowance of one run; the script calls tick() each loop turn and function call."""

    __slots__ = ("limit", "deadline", "next_memory_check", "start_peak", "outer")

    def __init__(self, limit: float):
        now = time.monotonic()
        self.limit, self.deadline, self.next_memory_check = limit, now + limit, now + _MEMORY_CHECK_EVERY
        # A violation the host is already handling (we may be called from its except block) is not the script's.
        self.start_peak, self.outer = _peak_kb(), sys.exception()

    def tick(self) -> bool:
        now = time.monotonic()
        if now > self.deadline:
            raise ScriptTimeout.after(self.limit)
        if now > self.next_memory_check:
            self.next_memory_check = now + _MEMORY_CHECK_EVERY
            # Peak RSS is process-wide, so the ceiling is "no higher than before plus the allowance".
            if _peak_kb() - self.start_peak > MEMORY_LIMIT_MB * 1024:
                raise memory_exceeded(MEMORY_LIMIT_MB)
        return True

    def guard_exc(self) -> None:
        pending = sys.exception()
        if isinstance(pending, SandboxViolation) and pending is not self.outer:
            raise pending
        self.tick()


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that runs every expression and script in the sandbox.

    ``isolated=False`` runs everything in this process (the worker itself does; so may tools
    where the OS offers no limits)."""

    def __init__(self, helpers: dict[str, object] | None = None, time_limit: float = 2.0, *, isolated: bool = True):
        super().__init__({**_CONVENIENCE, **(helpers or {})})
        self.time_limit = time_limit
        self.isolated = isolated and resource is not None
        self._helpers = {k: v for k, v in (helpers or {}).items()}
        self._trusted = frozenset(k for k, v in self._helpers.items() if callable(v))
        if self.isolated:
            worker_pool.pool().prestart()

    def evaluate(self, expression, context, external_context=None):
        """Return the value of an expression over the task data, leaving the data unchanged."""
        code = _code(expression, "eval")
        if self.isolated and not runs_in_process(expression, "eval", self._trusted):
            return worker_pool.pool().run("eval", expression, context, external_context or {}, self._helpers,
                                          self.time_limit)
        names = self._names(context, external_context)
        try:
            result = self._run(code, names)
            check_size(size_of(result, MAX_DATA_SIZE), MAX_DATA_SIZE)
            return result
        finally:
            names.clear()  # lambdas or generators the script returned can no longer reach the guards

    def execute(self, script, context, external_context=None):
        """Run a script and copy the variables it leaves behind into the task data; return True."""
        code = _code(script, "exec")
        external = external_context or {}
        if self.isolated and not runs_in_process(script, "exec", self._trusted):
            variables = worker_pool.pool().run("exec", script, context, external, self._helpers, self.time_limit)
            context.clear()
            context.update(variables)
            return True
        names = self._names(context, external)
        try:
            self._run(code, names)
            results = {k: v for k, v in names.items() if not (
                k.startswith("_") or callable(v) or isinstance(v, types.SimpleNamespace) or k in external
                or k in self.globals and self.globals[k] is v)}
            check_size(size_of(list(results.values()), MAX_DATA_SIZE), MAX_DATA_SIZE)
            for key in [k for k in context if k not in names]:
                del context[key]
            context.update(results)
        finally:
            names.clear()
        return True

    def call_service(self, context, **kwargs):
        """Refuse service calls: the sandbox has no way out to other services."""
        raise SandboxViolation("沙箱中不支持调用服务", "service calls are not supported in the sandbox")

    def _names(self, context, external_context):
        names = dict(external_context or {})
        names.update(context)
        names.update(self.globals)  # after the data: a field named `workdays` cannot replace the helper
        names.update(_GUARDS)  # last, so neither task data nor a helper can replace a guard
        return names

    def _run(self, code, names):
        budget = _Budget(self.time_limit)
        names["_tick_"], names["_guard_exc_"] = budget.tick, budget.guard_exc
        previous = decimal.getcontext()
        decimal.setcontext(DECIMAL_CONTEXT.copy())  # bounded exponents keep int(Decimal) cheap
        try:
            return eval(code, names)
        except Exception as exc:
            if not isinstance(exc, SandboxViolation) and size_of(exc.args, MAX_SIZE) > MAX_SIZE:  # hosts log str(exc)
                raise SandboxViolation("脚本抛出的异常信息过大", "the script raised an oversized exception") from None
            raise
        finally:
            decimal.setcontext(previous)


def make_script_engine(helpers: dict[str, object] | None = None, time_limit: float = 2.0) -> PythonScriptEngine:
    """Build the PythonScriptEngine that runs every Pingan script in the sandbox."""
    return PythonScriptEngine(environment=SandboxEnvironment(helpers, time_limit))
