"""The helpers every script, condition, DMN cell and timer expression may call."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, time, timedelta, timezone
from typing import Callable, Iterator

from .. import clock
from ..spiff.sandbox import SandboxViolation, make_script_engine
from ..spiff.timer_clock import calendar_var

# The calendar helpers walk day by day in the web process, so a script must not ask for a
# million days; ten-odd years is far beyond any procedure's time limit.
MAX_WORKDAYS = 3650
MAX_WORKHOURS = MAX_WORKDAYS * 7

# The calendar scripts see: set by the runtime around each engine step, so helpers never open
# a database session of their own (on SQLite that would wait on the step's own write lock).
# calendar_var (the calendar the running step uses) lives with the timers' context (spiff.timer_clock),
# so working-day timer cycles read it too.


@contextmanager
def use_calendar(calendar) -> Iterator[None]:
    """Make ``calendar`` the one helpers use while the block runs."""
    token = calendar_var.set(calendar)
    try:
        yield
    finally:
        calendar_var.reset(token)


# What ``platform_indicators`` reads through: set by the runtime around each engine step (to a
# function of the step's own session), so this module needs nothing of the board or the database.
platform_reader_var: ContextVar = ContextVar("pingan_platform_reader", default=None)


@contextmanager
def use_platform_reader(reader) -> Iterator[None]:
    """Make ``reader(org, start, end)`` answer scripts' ``platform_indicators`` while the block runs."""
    token = platform_reader_var.set(reader)
    try:
        yield
    finally:
        platform_reader_var.reset(token)


# The helpers make_helpers() provides: the linter accepts them, and forms must not shadow them.
HELPER_NAMES = frozenset({
    "now", "today", "workdays", "workhours", "urgent_hours", "days", "hours", "minutes",
    "date", "datetime", "timedelta", "Decimal", "platform_indicators", "workday_cycle",
})


def make_helpers(calendar: Callable[[], object] | None = None) -> dict[str, Callable]:
    """Build the helper functions; ``calendar`` returns the working-day calendar when asked."""

    def now() -> str:
        """Current time as an ISO 8601 string (timers and due dates take strings)."""
        return clock.now().isoformat()

    def today() -> str:
        return clock.now().astimezone(_local_tz(calendar)).date().isoformat()

    def days(n: float) -> str:
        return (clock.now() + timedelta(days=n)).isoformat()

    def hours(n: float) -> str:
        return (clock.now() + timedelta(hours=n)).isoformat()

    def minutes(n: float) -> str:
        return (clock.now() + timedelta(minutes=n)).isoformat()

    def urgent_hours(n: float) -> str:
        """Every hour counts (紧急工作时)."""
        return (clock.now() + timedelta(hours=n)).isoformat()

    def workdays(n: int) -> str:
        """End of the n-th working day after today (工作日)."""
        return _need(calendar).add_workdays(clock.now(), _capped(int(n), MAX_WORKDAYS, "工作日数")).isoformat()

    def workhours(n: float) -> str:
        """n hours counted inside working hours on working days (工作时)."""
        return _need(calendar).add_workhours(clock.now(), _capped(float(n), MAX_WORKHOURS, "工作时数")).isoformat()

    def workday_cycle(at: str = "09:00", every: int = 1, times: int | None = None) -> str:
        """A timer cycle counted in working days (工作日周期): at ``at`` local time on every
        ``every``-th working day, ``times`` times (None: for as long as the timer waits).
        Returns ``R[times]/<first>/P<every>WD``, which only the timeCycle of a boundary or
        intermediate timer understands."""
        try:
            moment = time.fromisoformat(str(at))
        except ValueError:
            raise SandboxViolation(f"workday_cycle 的时刻应写作 '09:00'，收到 {at!r}",
                                   f"workday_cycle's time must look like '09:00', got {at!r}") from None
        step = _capped(int(every), MAX_WORKDAYS, "工作日间隔")
        if step < 1 or (times is not None and int(times) < 1):
            raise SandboxViolation("workday_cycle 的间隔和次数必须是正整数", "every and times must be positive")
        first = _need(calendar).next_workday_at(clock.now(), moment)
        return f"R{'' if times is None else int(times)}/{first.isoformat()}/P{step}WD"

    def platform_indicators(org: str, start, end) -> list:
        """The platform's indicators of one org (code) for the days start..end: rows with values and case numbers."""
        reader = platform_reader_var.get()
        if reader is None:
            raise SandboxViolation("平台指标只能在案件运行时读取", "platform_indicators is only available while a case runs")
        return reader(org, start, end)

    return {"now": now, "today": today, "days": days, "hours": hours, "minutes": minutes,
            "urgent_hours": urgent_hours, "workdays": workdays, "workhours": workhours,
            "platform_indicators": platform_indicators, "workday_cycle": workday_cycle}


def _capped(n, limit, what: str):
    if n > limit:
        raise SandboxViolation(f"{what}不能超过 {limit}，收到 {n}", f"at most {limit} allowed, got {n}")
    return n


def _need(calendar):
    cal = calendar() if calendar is not None else None
    if cal is None:
        raise RuntimeError("工作日历不可用 (no working-day calendar configured)")
    return cal


def _local_tz(calendar):
    try:
        cal = calendar() if calendar else None
    except LookupError:
        cal = None
    return getattr(cal, "tzinfo", None) or timezone(timedelta(hours=8))


def build_script_engine(*, calendar: Callable[[], object] | None = None, time_limit: float = 2.0):
    """Return a sandboxed script engine with Pingan's helpers."""
    return make_script_engine(helpers=make_helpers(calendar), time_limit=time_limit)


def parse_moment(value) -> datetime | None:
    """Turn a helper's result (ISO string or datetime) into an aware UTC datetime."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"时间 '{value}' 缺少时区 (time '{value}' has no timezone)")
    return moment.astimezone(timezone.utc)
