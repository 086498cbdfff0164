"""Working-day calendar: 工作日 and 工作时 under the State Council's yearly arrangement (调休).

A year's rows in ``calendar_days`` define that whole year; otherwise chinese_calendar's shipped
data applies, and for a year neither knows, Monday–Friday count."""
from __future__ import annotations

import contextlib
import functools
import math
import re
import threading
import weakref
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from time import monotonic as _monotonic
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
import yaml
from sqlalchemy import String, delete, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..errors import EngineError, Problem
from ..store.db import Base

DEFAULT_WORK_HOURS = "08:30-12:00,14:00-17:30"
DEFAULT_TZ = "Asia/Shanghai"
CACHE_MAX_AGE = 60.0
ONE_DAY = timedelta(days=1)
_SHIPPED_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
# chinese_calendar abbreviates some names; the State Council's notices use the full ones.
_FULL_NAMES = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}


class DayKind(StrEnum):
    """What an imported date is: a day off, or a weekend day worked."""

    HOLIDAY = "holiday"
    WORKDAY = "workday"  # a weekend day moved into work (调休上班)


class CalendarDay(Base):
    """One date of an imported yearly arrangement; a year's rows replace the shipped data."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[DayKind] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16), default="import")


def parse_work_hours(spec: str) -> list[tuple[time, time]]:
    """Parse "HH:MM-HH:MM,..." into sorted, non-overlapping working periods."""
    problems: list[Problem] = []

    def bad(zh: str, en: str) -> None:
        problems.append(Problem(zh, message_en=en, field="work_hours"))

    periods: list[tuple[time, time, str]] = []
    parts = [p.strip() for p in spec.split(",")] if isinstance(spec, str) and spec.strip() else []
    if not parts:
        bad("工作时间为空", "work hours are empty")
    for part in parts:
        m = re.fullmatch(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})", part)
        h1, m1, h2, m2 = map(int, m.groups()) if m else (0, 0, 0, 0)
        if not m:
            bad(f"工作时间段“{part}”格式应为 HH:MM-HH:MM", f"period {part!r} must be HH:MM-HH:MM")
        elif max(h1, h2) > 23 or max(m1, m2) > 59:
            bad(f"工作时间段“{part}”中的时刻无效", f"period {part!r} has an invalid time of day")
        elif (h2, m2) <= (h1, m1):
            bad(f"工作时间段“{part}”的结束时间须晚于开始时间", f"period {part!r} ends before it starts")
        else:
            periods.append((time(h1, m1), time(h2, m2), part))
    periods.sort()
    for (_, end1, part1), (start2, _, part2) in zip(periods, periods[1:]):
        if start2 < end1:
            bad(f"工作时间段“{part1}”与“{part2}”重叠", f"periods {part1!r} and {part2!r} overlap")
    if problems:
        raise EngineError("工作时间设置无效：" + "；".join(p.message for p in problems),
                          message_en="invalid work hours", details=problems)
    return [(start, end) for start, end, _ in periods]


def _amount(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise EngineError(f"{what}必须是非负数，收到 {value!r}", message_en="expected a non-negative number")
    return value


def _shipped_name(english: str) -> str:
    chinese = chinese_calendar.Holiday(english).chinese
    return _FULL_NAMES.get(chinese, chinese)


class WorkCalendar:
    """Decide working days and add 工作日/工作时 to aware datetimes, without a database."""

    def __init__(self, *, overrides: dict[date, tuple[DayKind, str]] | None = None,
                 work_hours: str = DEFAULT_WORK_HOURS, tz: str = DEFAULT_TZ):
        self.periods = parse_work_hours(work_hours)
        try:
            self.tz = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise EngineError(f"未知时区：{tz!r}", message_en=f"unknown time zone {tz!r}") from exc
        self._overrides = {d: (DayKind(kind), name) for d, (kind, name) in (overrides or {}).items()}
        self._override_years = frozenset(d.year for d in self._overrides)
        # Deadlines ask about the same few hundred dates again and again.
        self._workday = functools.lru_cache(maxsize=None)(self._compute_workday)

    def known_years(self) -> dict[int, str]:
        """Map each year that has an official arrangement to "override" (imported) or "shipped"."""
        years = {y: "shipped" for y in _SHIPPED_YEARS} | {y: "override" for y in self._override_years}
        return dict(sorted(years.items()))

    def has_arrangement(self, year: int) -> bool:
        """Tell whether ``year`` has holiday data; without it only Monday–Friday count."""
        return year in self._override_years or year in _SHIPPED_YEARS

    def is_workday(self, d: date) -> bool:
        """Tell whether ``d`` (a date, or an aware datetime taken in local time) is a working day."""
        return self._workday(self._local(d).date() if isinstance(d, datetime) else d)

    def _compute_workday(self, d: date) -> bool:
        if d.year in self._override_years:
            entry = self._overrides.get(d)
            return d.weekday() < 5 if entry is None else entry[0] == DayKind.WORKDAY
        if d.year in _SHIPPED_YEARS:  # chinese_calendar raises NotImplementedError outside them
            return chinese_calendar.is_workday(d)
        return d.weekday() < 5

    def holiday_name(self, d: date) -> str | None:
        """Return the holiday's name if ``d`` is a day off for a public holiday, else None."""
        d = self._local(d).date() if isinstance(d, datetime) else d
        if d.year in self._override_years:
            entry = self._overrides.get(d)
            return entry[1] if entry and entry[0] == DayKind.HOLIDAY else None
        if d.year in _SHIPPED_YEARS:
            is_holiday, english = chinese_calendar.get_holiday_detail(d)
            return _shipped_name(english) if is_holiday and english else None
        return None

    def arrangement(self, year: int) -> tuple[list[tuple[date, str]], list[tuple[date, str]]]:
        """Return ``year``'s holidays and adjusted working days, each sorted by date."""
        if year in self._override_years:
            items = sorted((d, kind, name) for d, (kind, name) in self._overrides.items() if d.year == year)
            return ([(d, n) for d, k, n in items if k == DayKind.HOLIDAY],
                    [(d, n) for d, k, n in items if k == DayKind.WORKDAY])
        days = chinese_calendar.get_dates(date(year, 1, 1), date(year, 12, 31))
        details = [(d, *chinese_calendar.get_holiday_detail(d)) for d in days if d.year in _SHIPPED_YEARS]
        return ([(d, _shipped_name(en)) for d, off, en in details if en and off],
                [(d, _shipped_name(en) + "调休") for d, off, en in details if en and not off])

    def add_workdays(self, start: datetime, n: int) -> datetime:
        """Return the end of working hours on the n-th working day after ``start``'s local date."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise EngineError(f"工作日数必须是非负整数，收到 {n!r}", message_en="n must be a non-negative integer")
        day = self._local(start).date()
        if n == 0:
            while not self.is_workday(day):
                day += ONE_DAY
        while n:
            day += ONE_DAY
            n -= self.is_workday(day)
        return self._utc(datetime.combine(day, self.periods[-1][1]))

    def next_workday_at(self, after: datetime, at: time) -> datetime:
        """Return the first moment after ``after`` that is ``at`` (local wall time) on a working day."""
        local = self._local(after).replace(tzinfo=None)
        day = local.date()
        while not (self.is_workday(day) and datetime.combine(day, at) > local):
            day += ONE_DAY
        return self._utc(datetime.combine(day, at))

    def workdays_later_at(self, previous: datetime, n: int, at: time) -> datetime:
        """Return ``at`` (local wall time) on the n-th working day after ``previous``'s local date."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise EngineError(f"工作日间隔必须是正整数，收到 {n!r}", message_en="the interval must be a positive integer")
        day = self._local(previous).date()
        while n:
            day += ONE_DAY
            n -= self.is_workday(day)
        return self._utc(datetime.combine(day, at))

    def add_workhours(self, start: datetime, hours: float) -> datetime:
        """Return the moment ``hours`` of working time after ``start``, counting only working periods."""
        remaining = timedelta(hours=_amount(hours, "工作时数"))
        cursor = self._local(start).replace(tzinfo=None)
        day = cursor.date()
        while True:
            if self.is_workday(day):
                for begin, end in self.periods:
                    period_end = datetime.combine(day, end)
                    if cursor >= period_end:
                        continue
                    cursor = max(cursor, datetime.combine(day, begin))
                    if remaining <= period_end - cursor:
                        return self._utc(cursor + remaining)
                    remaining -= period_end - cursor
                    cursor = period_end
            day += ONE_DAY

    def add_urgent_hours(self, start: datetime, hours: float) -> datetime:
        """Return ``start`` plus ``hours`` of clock time (紧急工作时: every hour counts)."""
        return self._local(start).astimezone(timezone.utc) + timedelta(hours=_amount(hours, "紧急工作时数"))

    def workdays_between(self, a: datetime, b: datetime) -> int:
        """Count working days after ``a``'s local date up to and including ``b``'s; negative if b < a."""
        first, last = self._local(a).date(), self._local(b).date()
        if last < first:
            return -self.workdays_between(b, a)
        return sum(self.is_workday(first + timedelta(days=i)) for i in range(1, (last - first).days + 1))

    def _local(self, moment: datetime) -> datetime:
        if not isinstance(moment, datetime) or moment.utcoffset() is None:
            raise EngineError(f"时间必须带时区（例如 2025-10-01T09:00:00+08:00），收到 {moment!r}",
                              message_en="an aware datetime is required")
        return moment.astimezone(self.tz)

    def _utc(self, local_wall: datetime) -> datetime:
        return local_wall.replace(tzinfo=self.tz).astimezone(timezone.utc)


def load_calendar(session: Session, *, work_hours: str, tz: str) -> WorkCalendar:
    """Build a WorkCalendar from every imported CalendarDay row."""
    overrides = {row.day: (DayKind(row.kind), row.name) for row in session.scalars(select(CalendarDay))}
    return WorkCalendar(overrides=overrides, work_hours=work_hours, tz=tz)


def import_year(session: Session, *, year: int, holidays: list[tuple[date, str]],
                workdays: list[tuple[date, str]], source: str = "import") -> int:
    """Replace ``year``'s arrangement with these holidays and adjusted working days; return rows written."""
    problems = _check_year(year, holidays, workdays, source)
    if problems:
        raise EngineError(f"{year} 年节假日安排有 {len(problems)} 处错误，未做任何修改",
                          message_en=f"{year}: {len(problems)} error(s), nothing changed", details=problems)
    session.execute(delete(CalendarDay).where(CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31))))
    rows = [CalendarDay(day=d, kind=DayKind.HOLIDAY, name=n.strip(), source=source) for d, n in holidays]
    rows += [CalendarDay(day=d, kind=DayKind.WORKDAY, name=n.strip(), source=source) for d, n in workdays]
    session.add_all(rows)
    session.flush()
    _bump()
    # Bump again when the transaction ends: meanwhile another session may have cached the old
    # committed rows, or this one the uncommitted rows that a rollback then discards.
    event.listen(session, "after_commit", _bump, once=True)
    event.listen(session, "after_rollback", _bump, once=True)
    return len(rows)


def _check_year(year, holidays, workdays, source) -> list[Problem]:
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2100:
        return [Problem(f"年份无效：{year!r}", message_en=f"invalid year {year!r}", field="year")]
    problems: list[Problem] = []

    def bad(where: str, zh: str, en: str) -> None:
        problems.append(Problem(zh, message_en=en, field=where))

    if source not in ("import", "admin"):
        bad("source", f"来源应为 import 或 admin，收到 {source!r}", "source must be import or admin")
    if not holidays:
        # An imported year replaces the shipped data wholesale, so an empty list would erase it.
        bad("holidays", f"{year} 年没有任何放假日期", f"{year} lists no holidays")
    seen: dict[date, str] = {}
    for label, entries in (("holidays", holidays), ("workdays", workdays)):
        for i, entry in enumerate(entries):
            at = f"{label}[{i}]"
            d, name = entry if isinstance(entry, (tuple, list)) and len(entry) == 2 else (None, None)
            if isinstance(d, datetime) or not isinstance(d, date):
                bad(at, f"{at}：{entry!r} 应为（日期, 名称）", f"{at}: {entry!r} is not a (date, name) pair")
                continue
            if not isinstance(name, str) or not name.strip() or len(name) > 100:
                bad(at, f"{d} 的名称应为 1–100 个字符", f"{d} needs a name of 1-100 characters")
            if d.year != year:
                bad(at, f"{d} 不在 {year} 年内", f"{d} is outside {year}")
            if label == "workdays" and d.weekday() < 5:
                bad(at, f"{d}（星期{'一二三四五六日'[d.weekday()]}）不是周末，调休上班日必须是周六或周日",
                    f"{d} is a weekday; an adjusted working day must be a Saturday or Sunday")
            if d in seen:
                twice = seen[d].startswith(label)
                bad(at, f"{d} {'重复列出' if twice else '既是放假日又是调休上班日'}（{seen[d]} 与 {at}）",
                    f"{d} is {'listed twice' if twice else 'a holiday and a workday'} ({seen[d]}, {at})")
            seen.setdefault(d, at)
    return problems


def parse_calendar_file(path_or_text: str | Path) -> tuple[int, list, list]:
    """Parse an arrangement file into (year, holidays, workdays), expanding from/to ranges.

    A ``Path``, or a one-line string naming an existing file, is read; other strings are YAML.
    """
    file = None
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and Path(path_or_text).is_file()):
        file, path_or_text = str(path_or_text), Path(path_or_text).read_text(encoding="utf-8")
    problems: list[Problem] = []

    def bad(node, zh: str, en: str) -> None:
        line = node.start_mark.line + 1 if node else None
        problems.append(Problem(zh, message_en=en, file=file, line=line))

    try:
        # compose() keeps scalars as strings with their lines, so a bad date is reported, not crashed on.
        root = yaml.compose(path_or_text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise EngineError("日历文件不是有效的 YAML", message_en="the calendar file is not valid YAML", details=[
            Problem(str(exc), file=file, line=mark.line + 1 if mark else None)]) from exc
    top = _fields(root, {"year", "holidays", "workdays"}, bad) if isinstance(root, yaml.MappingNode) else {}
    year = top.get("year")
    if year is None:
        bad(None, "缺少 year（年份），文件应以 year: 2027 这样的行开头", "missing year")
    elif not (isinstance(year, yaml.ScalarNode) and re.fullmatch(r"\d{4}", year.value)):
        bad(year, "year 应为四位数年份，例如 2027", "year must be a four-digit year")
    holidays, workdays = (_entries(top.get(label), bad) for label in ("holidays", "workdays"))
    if problems:
        raise EngineError(f"日历文件有 {len(problems)} 处错误：" + "；".join(p.message for p in problems),
                          message_en="the calendar file has errors", details=problems)
    return int(year.value), holidays, workdays


def _fields(node, allowed: set[str], bad) -> dict[str, yaml.Node]:
    fields = {}
    for key, value in node.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else "?"
        if name in allowed:
            fields[name] = value
        else:
            bad(key, f"未知的键 {name!r}，可用：{'、'.join(sorted(allowed))}", f"unknown key {name!r}")
    return fields


def _entries(node, bad) -> list[tuple[date, str]]:
    if not isinstance(node, yaml.SequenceNode):
        if node is not None and not node.tag.endswith(":null"):
            bad(node, "应为列表", "must be a list")
        return []
    out: list[tuple[date, str]] = []
    for item in node.value:
        if not isinstance(item, yaml.MappingNode):
            bad(item, "每一项应形如 {date: …, name: …} 或 {from: …, to: …, name: …}", "bad entry")
            continue
        fields = _fields(item, {"date", "from", "to", "name"}, bad)
        name = fields.get("name")
        if not isinstance(name, yaml.ScalarNode) or not name.value.strip():
            bad(item, "缺少 name（名称）", "missing name")
            continue
        if "date" in fields and ("from" in fields or "to" in fields):
            bad(item, "date 与 from/to 不能同时使用", "use either date or from/to")
        elif "date" in fields:
            if (d := _date(fields["date"], bad)) is not None:
                out.append((d, name.value.strip()))
        elif "from" in fields and "to" in fields:
            first, last = _date(fields["from"], bad), _date(fields["to"], bad)
            if first and last and first > last:
                bad(item, f"from {first} 晚于 to {last}", f"from {first} is after to {last}")
            elif first and last and first.year != last.year:
                bad(item, f"{first} 至 {last} 跨年，请按年分开填写", "a range must stay within one year")
            elif first and last:
                out += [(first + timedelta(i), name.value.strip()) for i in range((last - first).days + 1)]
        else:
            bad(item, "需要 date，或同时需要 from 和 to", "needs date, or both from and to")
    return out


def _date(node, bad) -> date | None:
    text = node.value if isinstance(node, yaml.ScalarNode) else ""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(text)
    bad(node, f"日期无效：{text!r}（应为 YYYY-MM-DD）", f"invalid date {text!r} (expected YYYY-MM-DD)")
    return None


def export_year(session: Session, *, cal: WorkCalendar | None = None, year: int) -> dict:
    """Return ``year``'s arrangement in the import file's structure, ready to edit and re-import."""
    cal = cal or load_calendar(session, work_hours=DEFAULT_WORK_HOURS, tz=DEFAULT_TZ)
    holidays, workdays = cal.arrangement(year)
    return {"year": year, "holidays": _runs(holidays), "workdays": _runs(workdays)}


def _runs(entries: list[tuple[date, str]]) -> list[dict]:
    out: list[dict] = []
    for d, name in entries:
        prev = out[-1] if out else None
        if prev and prev["name"] == name and prev.get("to", prev.get("date")) + ONE_DAY == d:
            out[-1] = {"from": prev.get("from", prev.get("date")), "to": d, "name": name}
        else:
            out.append({"date": d, "name": name})
    return out


# Per-process cache. An import here bumps the generation; other processes re-read after
# CACHE_MAX_AGE seconds, so their deadlines follow an import within a minute.
_generation = 0
_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bump(*_args) -> None:
    global _generation
    with _lock:
        _generation += 1


def get_calendar(session: Session, *, work_hours: str, tz: str) -> WorkCalendar:
    """Return this process's cached calendar, re-read after a local import or after 60 s."""
    engine = session.get_bind().engine
    key, now = (work_hours, tz), _monotonic()
    with _lock:
        per_engine = _cache.setdefault(engine, {})
        generation, hit = _generation, per_engine.get(key)
    if hit and hit[0] == generation and now - hit[1] < CACHE_MAX_AGE:
        return hit[2]
    cal = load_calendar(session, work_hours=work_hours, tz=tz)
    with _lock:
        per_engine[key] = (generation, now, cal)
    return cal

