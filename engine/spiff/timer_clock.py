"""The one place that patches SpiffWorkflow's timer module: Pingan's clock, Pingan's time zone.

The library asks ``datetime.now`` whether a timer is due and reads a timer date written without
an offset (``2026-03-05T09:00``) in the zone the *server* had when the library was imported
(``LOCALTZ``). A county's deadlines are in its own zone whatever the server's ``TZ`` says, so
both go through here: now is ``engine.clock`` (or the moment a sweep or a plan asks to see), and
a date without an offset is in ``PINGAN_TIMEZONE`` (``use_zone``, called when services are built).
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Iterator
from zoneinfo import ZoneInfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .. import clock

__all__ = ["TimerClock", "calendar_var", "seeing", "seen_override", "timer_zone", "use_zone"]

DEFAULT_ZONE = "Asia/Shanghai"  # Settings.timezone's default
_TICK = timedelta(microseconds=1)
_zone: tzinfo = ZoneInfo(DEFAULT_ZONE)
# (moment, at_least): while a sweep fires timers, "now" is at least the sweep's moment; while
# planning a start timer, "now" is exactly the deployment time the schedule is anchored at.
_now_override: ContextVar[tuple[datetime, bool] | None] = ContextVar("pingan_timer_now", default=None)
# The working-day calendar of the engine step running now (an ``org.calendar.WorkCalendar``): set by
# the runtime around each step (scripting's ``use_calendar``), read by script helpers and by
# working-day timer cycles, which open no session. It lives here, with the timers' other context,
# so that this layer reads the calendar it is given and imports nothing above it.
calendar_var: ContextVar = ContextVar("pingan_calendar", default=None)


def use_zone(name: str) -> None:
    """Read timer dates written without an offset in zone ``name`` (an IANA name)."""
    global _zone
    _zone = timezone.utc if name.upper() == "UTC" else ZoneInfo(name)


def timer_zone() -> tzinfo:
    """Return the zone timer dates without an offset are read in."""
    return _zone


def seen_override() -> tuple[datetime, bool] | None:
    """Return the moment a sweep or plan asked timers to see, if any."""
    return _now_override.get()


@contextmanager
def seeing(moment: datetime, *, at_least: bool) -> Iterator[None]:
    """Let timers see ``moment`` (or, with ``at_least``, no earlier than it) as now."""
    token = _now_override.set((moment, at_least))
    try:
        yield
    finally:
        _now_override.reset(token)


class TimerClock(datetime):
    """``datetime`` as SpiffWorkflow's timer module sees it."""

    @classmethod
    def now(cls, tz=None):
        moment = clock.now()
        override = _now_override.get()
        if override is not None:
            seen, at_least = override
            # One microsecond past the moment: a timer due exactly then is due, not "not yet".
            moment = max(moment, seen + _TICK) if at_least else seen
        # Without tz Python means local time; Pingan's local time is its zone, not the server's.
        return moment.astimezone(tz) if tz else moment.astimezone(_zone).replace(tzinfo=None)


def _get_datetime(expression: str) -> datetime:
    # A TimerClock, as the library's own would be: it tests isinstance against its patched name.
    moment = TimerClock.fromisoformat(expression)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone)
    return moment.astimezone(timezone.utc)


spiff_timer.datetime = TimerClock
TimerEventDefinition.get_datetime = staticmethod(_get_datetime)
