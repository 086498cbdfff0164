"""Size guards of the script sandbox: refuse a value too large to build before Python allocates it.

One C call (`"x" * 10**10`, `str(big_list)`, `"{:>1000000000}".format(...)`) can take gigabytes
or minutes without ever returning to the sandbox's time budget, so the operators, conversions,
builtins and methods that can build large values are checked against their predicted size first.
`engine/spiff/sandbox.py` wires these functions into the compiled scripts and their builtins.
"""
from __future__ import annotations

import decimal
import math
import operator
import re
import sys

MAX_SIZE = 1_000_000      # longest str/bytes/list/tuple/range one operation or conversion may build
MAX_DATA_SIZE = 4_000_000  # task data a script leaves behind, as text; the serializer must not blow up
MAX_INT_BITS = 10_000     # about 3,000 digits, inside Python's 4,300-digit str() limit
MAX_DECIMAL_EXP = 3_000   # int(Decimal('1e999999')) takes 26 s of uninterruptible C
MAX_WIDTH = 1_000         # widest field a format spec may ask for


class SandboxViolation(Exception):
    """A script broke a sandbox rule; str() is the Chinese message, then English in parentheses."""

    def __init__(self, message: str, message_en: str = ""):
        super().__init__(f"{message} ({message_en})" if message_en else message)
        self.message, self.message_en = message, message_en


class ScriptTimeout(SandboxViolation):
    """A script ran past its time limit."""

    @classmethod
    def after(cls, limit: float) -> "ScriptTimeout":
        return cls(f"脚本运行超过 {limit} 秒的时间限制", f"script exceeded the {limit} s time limit")


def memory_exceeded(limit_mb: int) -> SandboxViolation:
    """Return the error a script gets for using more than ``limit_mb`` MB."""
    return SandboxViolation(f"脚本占用内存超过 {limit_mb} MB 的限制", f"script exceeded the {limit_mb} MB memory limit")


def check_size(size, limit) -> None:
    """Refuse a value of ``size`` (length, digits or bits) above ``limit``."""
    if size > limit:
        raise SandboxViolation(f"脚本试图生成过大的值（{int(size):,} 超过上限 {limit:,}）",
                               f"script tried to build a value of size {int(size):,}, the limit is {limit:,}")


_SEQUENCES = (str, bytes, bytearray, list, tuple)
_TEXT = (str, bytes)
# Methods whose result size is set by an argument, so one call could allocate gigabytes.
_SIZED = {name: _TEXT for name in ("ljust", "rjust", "center", "zfill", "expandtabs", "replace", "join")}
_SIZED.update(translate=str, to_bytes=int, sub=re.Pattern, subn=re.Pattern, expand=re.Match)


def size_of(obj, limit: int) -> int:
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


def check_operands(op: str, a, b) -> None:
    """Refuse an operation whose result would be too large, before Python allocates it."""
    ints = isinstance(a, int) and isinstance(b, int)
    if op == "*":
        if ints:
            check_size(a.bit_length() + b.bit_length(), MAX_INT_BITS)
        elif isinstance(a, _SEQUENCES) and isinstance(b, int):
            check_size(len(a) * b, MAX_SIZE)
        elif isinstance(b, _SEQUENCES) and isinstance(a, int):
            check_size(len(b) * a, MAX_SIZE)
    elif op == "**" and ints and b > 0 and abs(a) > 1:
        check_size(b if b > MAX_INT_BITS else b * math.log2(abs(a)), MAX_INT_BITS)
    elif op == "<<" and ints and b > 0:
        check_size(a.bit_length() + b, MAX_INT_BITS)
    elif op == "+" and isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        check_size(len(a) + len(b), MAX_SIZE)
    elif op == "%" and isinstance(a, _TEXT):
        for spec in _PRINTF_SPEC.findall(a.decode("latin-1") if isinstance(a, bytes) else a):
            if "*" in spec:
                raise SandboxViolation("脚本不允许在 % 格式中使用 *", "'*' is not allowed in % formatting")
            _check_widths(spec)
        check_size(size_of(b, MAX_SIZE), MAX_SIZE)


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?([-#0 +]*[\d*]*(?:\.[\d*]*)?)")
_BINARY = {"+": operator.add, "*": operator.mul, "**": operator.pow, "<<": operator.lshift, "%": operator.mod}
_INPLACE = {f"{sym}=": getattr(operator, f"i{name}") for sym, name in (
    ("+", "add"), ("-", "sub"), ("*", "mul"), ("/", "truediv"), ("//", "floordiv"), ("%", "mod"),
    ("**", "pow"), ("<<", "lshift"), (">>", "rshift"), ("|", "or"), ("&", "and"), ("^", "xor"), ("@", "matmul"))}
_CONVERSIONS = {115: str, 114: repr, 97: ascii}


def _check_widths(spec: str) -> None:
    for digits in re.findall(r"\d+", spec):
        check_size(int(digits) if len(digits) < 10 else 10**10, MAX_WIDTH)


def binop(op, a, b):
    """Apply a binary operator (``+ * ** << %``) once its result is known to be small enough."""
    check_operands(op, a, b)
    return _BINARY[op](a, b)


def inplacevar(op, a, b):
    """Apply an augmented assignment (``x += y``) once its result is known to be small enough."""
    check_operands(op[:-1], a, b)
    return _INPLACE[op](a, b)


def format_value(value, conversion, spec):
    """Format one f-string field after checking the value and the width it asks for."""
    check_size(size_of(value, MAX_SIZE), MAX_SIZE)
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
                check_size(sum(map(len, items)) + len(obj) * len(items), MAX_SIZE)
            except TypeError:  # non-strings: let join() raise its own clearer error
                pass
            return method(items)
        return join

    def call(*args, **kwargs):
        check_size(_sized_result(obj, name, args, kwargs), MAX_SIZE)
        return method(*args, **kwargs)
    return call


def sized_attribute(obj, name: str, value):
    """Return attribute ``name`` of ``obj`` (``value``), wrapped in a size check if it is a sizing method."""
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
        check_size(size_of(args[0], MAX_SIZE), MAX_SIZE)
    return real(*args, **kwargs)


def _range(*args):
    numbers = range(*args)
    try:
        check_size(len(numbers), MAX_SIZE)  # list(range(10**9)) would allocate in one C call
    except OverflowError:
        check_size(sys.maxsize, MAX_SIZE)
    return numbers


def _sum(iterable, /, start=0):
    if isinstance(start, _SEQUENCES):  # sum(lists, []) concatenates in C, quadratically
        raise SandboxViolation("sum() 只能用于数字", "sum() only adds numbers")
    return sum(iterable, start)


def _pow(base, exp, mod=None):
    if mod is None:
        check_operands("**", base, exp)
    return pow(base, exp, mod)


# Decimal as scripts see it: isinstance() works on any Decimal, construction checks the exponent.
CheckedDecimal = _checked_type(decimal.Decimal, _make_decimal)
# The decimal context a script runs under: bounded exponents keep int(Decimal) cheap.
DECIMAL_CONTEXT = decimal.Context(Emax=MAX_DECIMAL_EXP, Emin=-MAX_DECIMAL_EXP)
# Builtins replaced by size-checked versions.
SIZED_BUILTINS = {
    "sum": _sum, "range": _range, "pow": _pow, "str": _checked_type(str, _make_text),
    "repr": lambda obj: _make_text(repr, obj), "ascii": lambda obj: _make_text(ascii, obj),
}
