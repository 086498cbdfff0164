"""Run BPMN scripts and expressions inside a RestrictedPython sandbox with time and size limits.

Three layers: RestrictedPython's policy plus our AST rewrites (size-checked operators and
f-strings, a budget tick in every loop, comprehension and function, re-raise of violations in
every except/finally), guard functions passed in as globals, and whitelisted builtins and
modules. print() is accepted and discarded. Each run's namespace is cleared afterwards, so a
lambda or generator left in task data cannot run again without a budget. Not covered: catastrophic regex backtracking in
`re` (C code that cannot be interrupted), and CPU spent inside trusted helpers.
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

try:
    import resource
except ImportError:  # no getrusage on Windows: only the time limit applies there
    resource = None

MAX_SIZE = 1_000_000      # longest str/bytes/list/tuple/range one operation or conversion may build
MAX_DATA_SIZE = 4_000_000  # task data a script leaves behind, as text; the serializer must not blow up
MAX_INT_BITS = 10_000     # about 3,000 digits, inside Python's 4,300-digit str() limit
MAX_DECIMAL_EXP = 3_000   # int(Decimal('1e999999')) takes 26 s of uninterruptible C
MAX_WIDTH = 1_000         # widest field a format spec may ask for
MEMORY_LIMIT_MB = 256     # growth of the process's peak RSS one run may cause
_MEMORY_CHECK_EVERY = 0.01  # getrusage costs ~1 µs, so not on every tick
_FILENAME = "<string>"    # PythonScriptEngine looks for this name to report the failing line


class SandboxViolation(Exception):
    """A script broke a sandbox rule; str() is the Chinese message, then English in parentheses."""

    def __init__(self, message: str, message_en: str = ""):
        super().__init__(f"{message} ({message_en})" if message_en else message)
        self.message, self.message_en = message, message_en


class ScriptTimeout(SandboxViolation):
    """A script ran past its time limit."""


def _limit(size, limit):
    if size > limit:
        raise SandboxViolation(f"脚本试图生成过大的值（{int(size):,} 超过上限 {limit:,}）",
                               f"script tried to build a value of size {int(size):,}, the limit is {limit:,}")


def _attr_refusal(name: str) -> tuple[str, str]:
    if name.startswith("_"):
        return (f"脚本不允许访问以下划线开头的属性 '{name}'", f"access to underscore attribute '{name}' is not allowed")
    if name in ("format", "format_map"):  # "{0.__class__}".format(x) walks attributes unguarded
        return f"脚本不允许调用 {name}()，请改用 f-string", f"{name}() is not allowed, use an f-string"
    return f"脚本不允许访问属性 '{name}'", f"access to attribute '{name}' is not allowed"


# Frames, code and globals lead out of the sandbox even without an underscore; mro() to object.
_DENIED_ATTRS = INSPECT_ATTRIBUTES | {"func_globals", "func_code", "mro", "format", "format_map"}
_SEQUENCES = (str, bytes, bytearray, list, tuple)
_TEXT = (str, bytes)
# Methods whose result size is set by an argument, so one call could allocate gigabytes.
_SIZED = {name: _TEXT for name in ("ljust", "rjust", "center", "zfill", "expandtabs", "replace", "join")}
_SIZED.update(translate=str, to_bytes=int, sub=re.Pattern, subn=re.Pattern, expand=re.Match)


def _size(obj, limit: int) -> int:
    """Estimate the length of obj as text, giving up once the estimate passes limit."""
    total, pending = 0, [obj]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, dict):
            total += len(item) + 2
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += len(item) + 2
            pending.extend(item)
        else:
            total += len(repr(item)) if isinstance(item, (float, decimal.Decimal)) else 32
    return total


def _check_operands(op: str, a, b) -> None:
    """Refuse an operation whose result would be too large, before Python allocates it."""
    ints = isinstance(a, int) and isinstance(b, int)
    if op == "*":
        if ints:
            _limit(a.bit_length() + b.bit_length(), MAX_INT_BITS)
        elif isinstance(a, _SEQUENCES) and isinstance(b, int):
            _limit(len(a) * b, MAX_SIZE)
        elif isinstance(b, _SEQUENCES) and isinstance(a, int):
            _limit(len(b) * a, MAX_SIZE)
    elif op == "**" and ints and b > 0 and abs(a) > 1:
        _limit(b if b > MAX_INT_BITS else b * math.log2(abs(a)), MAX_INT_BITS)
    elif op == "<<" and ints and b > 0:
        _limit(a.bit_length() + b, MAX_INT_BITS)
    elif op == "+" and isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _limit(len(a) + len(b), MAX_SIZE)
    elif op == "%" and isinstance(a, _TEXT):
        for spec in _PRINTF_SPEC.findall(a.decode("latin-1") if isinstance(a, bytes) else a):
            if "*" in spec:
                raise SandboxViolation("脚本不允许在 % 格式中使用 *", "'*' is not allowed in % formatting")
            _check_widths(spec)
        _limit(_size(b, MAX_SIZE), MAX_SIZE)


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?([-#0 +]*[\d*]*(?:\.[\d*]*)?)")
_BINARY = {"+": operator.add, "*": operator.mul, "**": operator.pow, "<<": operator.lshift, "%": operator.mod}
_INPLACE = {f"{sym}=": getattr(operator, f"i{name}") for sym, name in (
    ("+", "add"), ("-", "sub"), ("*", "mul"), ("/", "truediv"), ("//", "floordiv"), ("%", "mod"),
    ("**", "pow"), ("<<", "lshift"), (">>", "rshift"), ("|", "or"), ("&", "and"), ("^", "xor"), ("@", "matmul"))}
_CONVERSIONS = {115: str, 114: repr, 97: ascii}


def _check_widths(spec: str) -> None:
    for digits in re.findall(r"\d+", spec):
        _limit(int(digits) if len(digits) < 10 else 10**10, MAX_WIDTH)


def _binop(op, a, b):
    _check_operands(op, a, b)
    return _BINARY[op](a, b)


def _inplacevar(op, a, b):
    _check_operands(op[:-1], a, b)
    return _INPLACE[op](a, b)


def _format(value, conversion, spec):
    _limit(_size(value, MAX_SIZE), MAX_SIZE)
    _check_widths(spec)
    return format(_CONVERSIONS[conversion](value) if conversion in _CONVERSIONS else value, spec)


def _sized_result(obj, name: str, args: tuple, kwargs: dict) -> int:
    """Predict the length of what a str, bytes, int or re method is about to build."""
    if name in ("ljust", "rjust", "center", "zfill", "to_bytes"):
        return args[0] if args else kwargs.get("length", 1)
    if name == "expandtabs":
        return len(obj) * max(args[0] if args else kwargs.get("tabsize", 8), 1)
    if name == "replace":
        old, new, count = args[0], args[1], args[2] if len(args) > 2 else -1
        hits = obj.count(old) if old else len(obj) + 1
        return len(obj) + (hits if count < 0 else min(hits, count)) * (len(new) - len(old))
    if name == "translate":
        table = args[0]
        values = table.values() if isinstance(table, dict) else table if isinstance(table, (list, tuple)) else ()
        return len(obj) * max([len(v) for v in values if isinstance(v, str)] + [1])
    if name == "expand":
        return len(args[0]) * (len(obj.string) + 1)
    repl = args[0] if args else kwargs.get("repl", "")  # Pattern.sub/subn: each \1 copies one match
    string = args[1] if len(args) > 1 else kwargs.get("string", "")
    return len(string) + 2 * (len(string) + 1) * (len(repl) if isinstance(repl, _TEXT) else 1)


def _sized(obj, name: str, method):
    if name == "join":
        def join(iterable):
            items = list(iterable)
            try:
                _limit(sum(map(len, items)) + len(obj) * len(items), MAX_SIZE)
            except TypeError:  # non-strings: let join() raise its own clearer error
                pass
            return method(items)
        return join

    def call(*args, **kwargs):
        _limit(_sized_result(obj, name, args, kwargs), MAX_SIZE)
        return method(*args, **kwargs)
    return call


def _getattr(obj, name: str):
    if name.startswith("_") or name in _DENIED_ATTRS:
        raise SandboxViolation(*_attr_refusal(name))
    value = getattr(obj, name)
    kinds = _SIZED.get(name)
    if kinds is not None:
        if isinstance(obj, type) and issubclass(obj, kinds):  # str.join(sep, xs) would skip the check
            raise SandboxViolation(f"请直接在值上调用 {name}()，不要通过类调用", f"call {name}() on a value, not its class")
        if isinstance(obj, kinds):
            return _sized(obj, name, value)
    return value


def _checked_type(real: type, check) -> type:
    """Subclass a builtin type so calls go through check() while isinstance() accepts any real instance."""
    meta = type(f"Checked{real.__name__}", (type,), {
        "__call__": lambda cls, *args, **kwargs: check(real, *args, **kwargs),
        "__instancecheck__": lambda cls, obj: isinstance(obj, real),
        "__subclasscheck__": lambda cls, sub: issubclass(sub, real),
    })
    return meta(real.__name__, (real,), {})


def _make_decimal(real, value="0", context=None):
    number = real(value)  # no context: scripts must not pick their own precision
    if number.is_finite() and max(abs(number.adjusted()), abs(number.as_tuple().exponent)) > MAX_DECIMAL_EXP:
        raise SandboxViolation(f"Decimal 的指数超过 {MAX_DECIMAL_EXP}", f"Decimal exponent beyond {MAX_DECIMAL_EXP}")
    return number


def _make_text(real, *args, **kwargs):
    if len(args) == 1 and not kwargs:  # str(x) of a list holding one big string a million times
        _limit(_size(args[0], MAX_SIZE), MAX_SIZE)
    return real(*args, **kwargs)


def _range(*args):
    numbers = range(*args)
    try:
        _limit(len(numbers), MAX_SIZE)  # list(range(10**9)) would allocate in one C call
    except OverflowError:
        _limit(sys.maxsize, MAX_SIZE)
    return numbers


def _sum(iterable, /, start=0):
    if isinstance(start, _SEQUENCES):  # sum(lists, []) concatenates in C, quadratically
        raise SandboxViolation("sum() 只能用于数字", "sum() only adds numbers")
    return sum(iterable, start)


def _pow(base, exp, mod=None):
    if mod is None:
        _check_operands("**", base, exp)
    return pow(base, exp, mod)


def _refuse(name: str):
    def refuse(*args, **kwargs):
        raise SandboxViolation(f"脚本不允许调用 {name}()", f"calling {name}() is not allowed")
    return refuse


_Decimal = _checked_type(decimal.Decimal, _make_decimal)
_DECIMAL_CONTEXT = decimal.Context(Emax=MAX_DECIMAL_EXP, Emin=-MAX_DECIMAL_EXP)


def _namespace(module, names: str, **extra) -> types.SimpleNamespace:
    """Expose only listed names: modules carry their own imports (re.enum.sys.modules['os'])."""
    return types.SimpleNamespace(**{n: getattr(module, n) for n in names.split() if hasattr(module, n)}, **extra)


_MODULES = {
    "datetime": _namespace(_datetime, "date datetime time timedelta timezone tzinfo MINYEAR MAXYEAR UTC"),
    "decimal": _namespace(decimal, "InvalidOperation DivisionByZero Overflow " + " ".join(
        n for n in dir(decimal) if n.startswith("ROUND_")), Decimal=_Decimal),
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
_BUILTINS.update({name: _refuse(name) for name in (
    "type getattr setattr delattr hasattr vars dir globals locals open compile eval exec input memoryview "
    "object help exit quit super classmethod staticmethod property iter bytearray bytes breakpoint").split()})
_BUILTINS.update(
    len=len, min=min, max=max, sorted=sorted, enumerate=enumerate, zip=zip, any=any, all=all, next=next,
    list=list, dict=dict, set=set, frozenset=frozenset, tuple=tuple, map=map, filter=filter, reversed=reversed,
    sum=_sum, range=_range, pow=_pow, __import__=_import, str=_checked_type(str, _make_text),
    repr=lambda obj: _make_text(repr, obj), ascii=lambda obj: _make_text(ascii, obj),
)
_NO_PRINT = types.SimpleNamespace(_call_print=lambda *args, **kwargs: None)
_GUARDS = {
    "__builtins__": _BUILTINS, "_getattr_": _getattr, "_getitem_": operator.getitem, "_getiter_": iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence, "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard, "_inplacevar_": _inplacevar, "_apply_": lambda f, *a, **kw: f(*a, **kw),
    "_print_": lambda _getattr_=None: _NO_PRINT, "_binop_": _binop, "_format_": _format,
}
_CONVENIENCE = {"datetime": _datetime.datetime, "date": _datetime.date, "timedelta": _datetime.timedelta,
                "Decimal": _Decimal}
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
            raise ScriptTimeout(f"脚本运行超过 {self.limit} 秒的时间限制", f"script exceeded the {self.limit} s time limit")
        if now > self.next_memory_check:
            self.next_memory_check = now + _MEMORY_CHECK_EVERY
            # Peak RSS is process-wide, so the ceiling is "no higher than before plus the allowance".
            if _peak_kb() - self.start_peak > MEMORY_LIMIT_MB * 1024:
                raise SandboxViolation(f"脚本占用内存超过 {MEMORY_LIMIT_MB} MB 的限制",
                                       f"script exceeded the {MEMORY_LIMIT_MB} MB memory limit")
        return True

    def guard_exc(self) -> None:
        pending = sys.exception()
        if isinstance(pending, SandboxViolation) and pending is not self.outer:
            raise pending
        self.tick()


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that runs every expression and script in the sandbox."""

    def __init__(self, helpers: dict[str, object] | None = None, time_limit: float = 2.0):
        super().__init__({**_CONVENIENCE, **(helpers or {})})
        self.time_limit = time_limit

    def evaluate(self, expression, context, external_context=None):
        """Return the value of an expression over the task data, leaving the data unchanged."""
        code = _code(expression, "eval")
        names = self._names(context, external_context)
        try:
            result = self._run(code, names)
            _limit(_size(result, MAX_DATA_SIZE), MAX_DATA_SIZE)
            return result
        finally:
            names.clear()  # lambdas or generators the script returned can no longer reach the guards

    def execute(self, script, context, external_context=None):
        """Run a script and copy the variables it leaves behind into the task data; return True."""
        code = _code(script, "exec")
        external = external_context or {}
        names = self._names(context, external)
        try:
            self._run(code, names)
            results = {k: v for k, v in names.items() if not (
                k.startswith("_") or callable(v) or isinstance(v, types.SimpleNamespace) or k in external
                or k in self.globals and self.globals[k] is v)}
            _limit(_size(list(results.values()), MAX_DATA_SIZE), MAX_DATA_SIZE)
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
        names = dict(self.globals)
        names.update(external_context or {})
        names.update(context)
        names.update(_GUARDS)  # last, so task data cannot replace a guard
        return names

    def _run(self, code, names):
        budget = _Budget(self.time_limit)
        names["_tick_"], names["_guard_exc_"] = budget.tick, budget.guard_exc
        previous = decimal.getcontext()
        decimal.setcontext(_DECIMAL_CONTEXT.copy())  # bounded exponents keep int(Decimal) cheap
        try:
            return eval(code, names)
        except Exception as exc:
            if not isinstance(exc, SandboxViolation) and _size(exc.args, MAX_SIZE) > MAX_SIZE:  # hosts log str(exc)
                raise SandboxViolation("脚本抛出的异常信息过大", "the script raised an oversized exception") from None
            raise
        finally:
            decimal.setcontext(previous)


def make_script_engine(helpers: dict[str, object] | None = None, time_limit: float = 2.0) -> PythonScriptEngine:
    """Build the PythonScriptEngine that runs every Pingan script in the sandbox."""
    return PythonScriptEngine(environment=SandboxEnvironment(helpers, time_limit))
