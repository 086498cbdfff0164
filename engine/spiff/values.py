"""Every value a script can leave in task data, stored: exactly in the state, readably in JSON.

The sandbox lets scripts build dates, times, durations, decimals, sets, tuples, bytes and dicts
with non-text keys; none of these is JSON. Two forms are kept:

* the workflow state (``Runner.dump``) keeps the Python type, as a tagged dict the serializer's
  registry restores (``{"typename": "pingan.decimal", "value": "1.10"}``), so a script that runs
  after a save and restore sees the same ``Decimal`` (or tuple, or ``date``) it left;
* the case-data snapshot (``Runner.data``: ``instances.data``, case fields, summaries) holds a
  JSON-friendly form: ISO 8601 text for dates, times and durations, text for decimals, lists for
  sets and tuples, text keys.

A value of any other type (a compiled pattern, an iterator) cannot be stored; ``check``
names it so the script that made it fails with a message, instead of every save failing later.

A workflow kept in memory between requests (engine/spiff/cache.py) must be the workflow a restore
would give, so data is put in its restored form where it comes out of a script (``check``, via
``normalise``): subclasses become their base type (an ``OrderedDict`` a dict, a named tuple a
tuple), functions a script defined are dropped, and every list, dict and set is a new one, shared
with no other task's data (a restore shares none either).
"""
from __future__ import annotations

import base64
import math
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from types import ModuleType, SimpleNamespace
from zoneinfo import ZoneInfo

from .internals import register_restorer

__all__ = ["UnstorableValue", "check", "detach", "encode", "jsonable", "normalise", "register_restorers"]

_JSON_SCALARS = (str, bool, int, type(None))  # bool before int does not matter: both pass as-is
_TAG = "typename"


class UnstorableValue(Exception):
    """A value in task data has a type that cannot be saved."""

    def __init__(self, path: str, value):
        kind = type(value).__name__
        super().__init__(
            f"脚本在数据中留下了无法保存的值：{path}（类型 {kind}）；请只使用文本、数字、日期、时间、"
            f"Decimal、列表、元组、集合和字典 (the script left a value of type {kind} at {path}, which cannot be saved)")
        self.path, self.kind = path, kind


def _skipped(value) -> bool:
    # What SpiffWorkflow's registry.clean drops from task data: functions and modules.
    return callable(value) or isinstance(value, (ModuleType, SimpleNamespace))


def _duration(value: timedelta) -> str:
    sign, value = ("-", -value) if value < timedelta(0) else ("", value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    if seconds or value.microseconds:
        clock += f"{seconds}.{value.microseconds:06d}S".replace(".000000S", "S")
    days = f"{value.days}D" if value.days else ""
    return f"{sign}P{days}" + (f"T{clock}" if clock else ("" if days else "T0S"))


def encode(value, path: str = "data"):
    """Return ``value`` as JSON for the workflow state, with a tag on every non-JSON value."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is dict:
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: encode(v, f"{path}.{k}") for k, v in value.items() if not _skipped(v)}
        return {_TAG: "pingan.dict", "items": [[encode(k, f"{path} 的键"), encode(v, f"{path}[{k!r}]")]
                                               for k, v in value.items() if not _skipped(v)]}
    if kind is list:
        return [encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind is float:
        return value if math.isfinite(value) else {_TAG: "pingan.float", "value": repr(value)}
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Decimal):
        return {_TAG: "pingan.decimal", "value": str(value)}
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {_TAG: "pingan.datetime", "value": value.isoformat(), **_zone_of(value.tzinfo)}
    if isinstance(value, date):
        return {_TAG: "pingan.date", "value": value.isoformat()}
    if isinstance(value, time):
        return {_TAG: "pingan.time", "value": value.isoformat()}
    if isinstance(value, timedelta):
        return {_TAG: "pingan.timedelta", "days": value.days, "seconds": value.seconds,
                "microseconds": value.microseconds}
    if isinstance(value, timezone):
        offset = value.utcoffset(None)
        return {_TAG: "pingan.timezone", "seconds": offset.total_seconds(), "name": value.tzname(None)}
    if isinstance(value, tuple):
        return {_TAG: "pingan.tuple", "items": [encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, (set, frozenset)):
        items = [encode(v, f"{path} 的元素") for v in _ordered(value)]
        return {_TAG: "pingan.frozenset" if isinstance(value, frozenset) else "pingan.set", "items": items}
    if isinstance(value, (bytes, bytearray)):
        return {_TAG: f"pingan.{type(value).__name__}", "value": base64.b64encode(value).decode("ascii")}
    if isinstance(value, complex):
        return {_TAG: "pingan.complex", "real": encode(value.real), "imag": encode(value.imag)}
    if isinstance(value, (range, slice)):
        return {_TAG: f"pingan.{type(value).__name__}", "start": encode(value.start), "stop": encode(value.stop),
                "step": encode(value.step)}
    if isinstance(value, ZoneInfo):
        return {_TAG: "pingan.zoneinfo", "key": value.key}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return encode(dict(value), path)
    if isinstance(value, list):
        return encode(list(value), path)
    raise UnstorableValue(path, value)


def _zone_of(tzinfo) -> dict:
    if isinstance(tzinfo, ZoneInfo):
        return {"zone": tzinfo.key}
    if isinstance(tzinfo, timezone) and tzinfo is not timezone.utc:
        # A name given to a fixed offset (timezone(timedelta(hours=8), "CST")) is not in the ISO text.
        offset = tzinfo.utcoffset(None)
        if tzinfo != timezone(offset) or tzinfo.tzname(None) != timezone(offset).tzname(None):
            return {"offset_name": tzinfo.tzname(None)}
    return {}


def check(data: dict) -> None:
    """Raise UnstorableValue if ``data`` holds a value that cannot be stored; else put it in its restored form.

    Called on a task's data after each script (engine/spiff/steps.py), so what a script leaves is
    at once what a restore of the saved state would give (see ``normalise``).
    """
    detach(data)


def detach(data: dict) -> None:
    """Replace ``data``'s values in place by their restored form (``normalise``), sharing nothing."""
    fresh = normalise(data)
    data.clear()
    data.update(fresh)


def normalise(value, path: str = "data"):
    """Return ``value`` as restoring its stored form (``encode``) gives it back, in new containers.

    The same as ``restore(encode(value))`` without the JSON in between: a dict, list or set
    subclass becomes a plain one, a tuple subclass a tuple, ``str``, ``int`` and ``float``
    subclasses their base, functions and modules in dicts are dropped. Raises UnstorableValue
    where ``encode`` would.
    """
    kind = type(value)
    if kind in _JSON_SCALARS or kind is float:
        return value
    if kind is dict or isinstance(value, dict):
        return {normalise(k, f"{path} 的键"): normalise(v, f"{path}[{k!r}]")
                for k, v in value.items() if not _skipped(v)}
    if kind is list or isinstance(value, list):
        return [normalise(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, tuple):
        return tuple(normalise(v, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(value, (set, frozenset)):
        items = (normalise(v, f"{path} 的元素") for v in value)
        return frozenset(items) if isinstance(value, frozenset) else set(items)
    if isinstance(value, bytearray):
        return bytearray(value)
    if isinstance(value, bytes):
        return bytes(value)
    if type(value) in _IMMUTABLE_STORED:
        return value
    # Anything else goes the whole way (a subclass of datetime or Decimal comes back as its base).
    return _restore_tagged(encode(value, path))


def _ordered(items) -> list:
    # A stable order keeps equal sets equal as JSON (case fields compare stored rows).
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def jsonable(value):
    """Return ``value`` in the JSON-friendly form the case-data snapshot stores."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is dict:
        return {(k if type(k) is str else _key(k)): jsonable(v) for k, v in value.items() if not _skipped(v)}
    if kind is list or isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if kind is float:
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (bool, int)):
        return int(value) if not isinstance(value, bool) else bool(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _duration(value)
    if isinstance(value, timezone):
        return value.tzname(None)
    if isinstance(value, (set, frozenset)):
        return [jsonable(v) for v in _ordered(value)]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (complex, range, slice)):
        return str(value)
    if isinstance(value, ZoneInfo):
        return value.key
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return jsonable(dict(value))
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    raise UnstorableValue("data", value)


def _key(key) -> str:
    value = jsonable(key)
    return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _restore_datetime(dct) -> datetime:
    moment = datetime.fromisoformat(dct["value"])
    if dct.get("zone"):
        return moment.astimezone(ZoneInfo(dct["zone"]))
    if dct.get("offset_name"):
        return moment.replace(tzinfo=timezone(moment.utcoffset(), dct["offset_name"]))
    return moment


# Stored and restored as they are: immutable, and exactly these types (not subclasses).
_IMMUTABLE_STORED = frozenset({Decimal, datetime, date, time, timedelta, timezone, complex, range, slice, ZoneInfo})
_RESTORERS: dict = {}


def _restore_tagged(value):
    """Restore what ``encode`` made, without the serializer's registry (for ``normalise``)."""
    if isinstance(value, list):
        return [_restore_tagged(v) for v in value]
    if not isinstance(value, dict):
        return value
    build = _RESTORERS.get(value.get(_TAG))
    if build is not None:
        return build(value, _restore_tagged)
    return {k: _restore_tagged(v) for k, v in value.items()}


def _builders() -> dict:
    """Each tag's builder, given the tagged dict and the function restoring the values inside it."""

    def items(d, restore):
        return [restore(v) for v in d["items"]]

    return {
        "pingan.dict": lambda d, restore: {restore(k): restore(v) for k, v in d["items"]},
        "pingan.float": lambda d, restore: float(d["value"]),
        "pingan.decimal": lambda d, restore: Decimal(d["value"]),
        "pingan.datetime": lambda d, restore: _restore_datetime(d),
        "pingan.date": lambda d, restore: date.fromisoformat(d["value"]),
        "pingan.time": lambda d, restore: time.fromisoformat(d["value"]),
        "pingan.timedelta": lambda d, restore: timedelta(days=d["days"], seconds=d["seconds"],
                                                         microseconds=d["microseconds"]),
        "pingan.timezone": lambda d, restore: (timezone.utc if not d["seconds"]
                                               else timezone(timedelta(seconds=d["seconds"]), d["name"])),
        "pingan.tuple": lambda d, restore: tuple(items(d, restore)),
        "pingan.set": lambda d, restore: set(items(d, restore)),
        "pingan.frozenset": lambda d, restore: frozenset(items(d, restore)),
        "pingan.bytes": lambda d, restore: base64.b64decode(d["value"]),
        "pingan.bytearray": lambda d, restore: bytearray(base64.b64decode(d["value"])),
        "pingan.complex": lambda d, restore: complex(restore(d["real"]), restore(d["imag"])),
        "pingan.range": lambda d, restore: range(d["start"], d["stop"], d["step"]),
        "pingan.slice": lambda d, restore: slice(restore(d["start"]), restore(d["stop"]), restore(d["step"])),
        "pingan.zoneinfo": lambda d, restore: ZoneInfo(d["key"]),
    }


_RESTORERS.update(_builders())


def register_restorers(registry) -> None:
    """Teach the serializer's registry to restore the tagged values ``encode`` writes."""
    restore = registry.restore
    for name, build in _RESTORERS.items():
        # Restore only: converting stays with ``encode``, so the registry's handling of spec
        # and internal data (which SpiffWorkflow owns) is unchanged.
        register_restorer(registry, name, lambda d, build=build: build(d, restore))
