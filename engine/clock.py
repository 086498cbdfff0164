"""The engine's notion of now: real time in production, a movable clock in tests."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Iterator


class Clock:
    """Real UTC time."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FrozenClock(Clock):
    """A clock that moves only when told to."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = start.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> datetime:
        self._now = moment.astimezone(timezone.utc)
        return self._now


_current: Clock = Clock()
# A clock for the current thread or task only: a studio scenario run or play session simulates
# time on its throwaway database while the requests beside it keep the real clock.
_local: ContextVar[Clock | None] = ContextVar("pingan_clock", default=None)


def now() -> datetime:
    """Return the current UTC time from the installed clock."""
    return (_local.get() or _current).now()


@contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Let ``clock`` be the clock of the current thread (or task) inside the block."""
    token = _local.set(clock)
    try:
        yield clock
    finally:
        _local.reset(token)


def install(clock: Clock) -> Clock:
    """Install ``clock`` process-wide and return the previous one."""
    global _current
    previous, _current = _current, clock
    return previous


def current() -> Clock:
    return _local.get() or _current
