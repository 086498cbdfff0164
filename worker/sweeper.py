"""The sweeper: Celery beat's scheduler, which also sleeps until the next timer falls due.

Beat's own entries (the periodic full sweep, the warning rules) run as usual. Between them the
scheduler looks at ``event_waits`` and ``timer_schedules``: it sleeps until the earliest due
time it knows of (never longer than ``POLL`` seconds, so a timer written meanwhile by a request is
seen within ``POLL``), then sends ``pingan.fire_timers`` tasks, one per ``CLAIM`` due timers up to
``FANOUT``, so a burst is shared by as many worker processes as there are. Each task claims its
timers in SKIP LOCKED batches; the sweeper only says when. It remembers the moment of its last
dispatch and asks next only for timers due after it: a task still in the queue is not sent twice.
Due timers left unclaimed (a lost task, a task that ran out of its budget) are sent again when a
look every ``RECHECK`` seconds finds that their number did not go down; the periodic sweep
(``SWEEP_EVERY``) claims anything due as well.

``celery -A worker.app beat`` uses it (``beat_scheduler`` in worker/app.py); run exactly one.
"""
from __future__ import annotations

import logging
import math
import time
from datetime import datetime

from celery.beat import PersistentScheduler

from engine import clock
from engine.runtime.timers import CLAIM, count_due, first_due_after

from .tasks import services_for

log = logging.getLogger(__name__)

POLL = 0.2          # seconds: the longest a timer written elsewhere goes unseen
FANOUT = 8          # fire_timers tasks sent at most for one moment; more workers than this idle
FIRE_EXPIRES = 10.0  # seconds: a fire task still queued this long is dropped (the periodic sweep covers)
ERROR_PAUSE = 1.0   # seconds after a failed look (database down): do not spin
RECHECK = 2.0       # seconds between looks at due timers nobody claimed


class TimerDispatcher:
    """Send fire tasks when timers fall due; ``tick`` returns how long to sleep."""

    def __init__(self, app, *, send=None, poll: float = POLL, fanout: int = FANOUT, recheck: float = RECHECK):
        self.app, self.poll, self.fanout, self.recheck = app, poll, fanout, recheck
        self._send = send or self._send_tasks
        self.dispatched_until: datetime | None = None  # timers due up to here have had their tasks
        self.sent = 0  # tasks sent, for tests and logs
        self._backlog, self._rechecked = 0, time.monotonic()
        self._quiet_until = 0.0  # after a failed look, not before this (monotonic)

    def tick(self) -> float:
        """Dispatch what is due now; return the seconds until the next look."""
        pause = self._quiet_until - time.monotonic()
        if pause > 0:
            return pause
        try:
            services = services_for(self.app)
            with services.session(read_only=True) as s:
                due = first_due_after(s, after=self.dispatched_until)
                now = clock.now()
                if due is None or due > now:
                    if not self._stalled(s, now):
                        return self.poll if due is None else min(max((due - now).total_seconds(), 0.0), self.poll)
                    count = self._backlog
                else:
                    count = count_due(s, now=now, after=self.dispatched_until, cap=CLAIM * self.fanout)
        except Exception:  # beat must outlive a broken database connection
            log.exception("looking for due timers failed")
            self._quiet_until = time.monotonic() + ERROR_PAUSE
            return ERROR_PAUSE
        tasks = min(max(math.ceil(count / CLAIM), 1), self.fanout)
        self._send(tasks, now)
        self.dispatched_until, self.sent = now, self.sent + tasks
        return 0.0  # look again at once: the next timer may be due already

    def _stalled(self, session, now: datetime) -> bool:
        # Due timers already dispatched but still unclaimed, and no fewer than at the last look.
        if time.monotonic() - self._rechecked < self.recheck:
            return False
        self._rechecked = time.monotonic()
        backlog = count_due(session, now=now, after=None, cap=CLAIM * self.fanout)
        stalled = backlog > 0 and backlog >= self._backlog
        self._backlog = backlog
        return stalled

    def _send_tasks(self, tasks: int, now: datetime) -> None:
        task = self.app.tasks["pingan.fire_timers"]
        for _ in range(tasks):
            task.apply_async(expires=FIRE_EXPIRES)


class TimerScheduler(PersistentScheduler):
    """Beat's persistent scheduler, woken by the next timer instead of a fixed tick."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timers = TimerDispatcher(self.app)

    def tick(self, *args, **kwargs) -> float:
        wait = super().tick(*args, **kwargs)
        started = time.monotonic()
        timer_wait = self.timers.tick()
        return max(min(wait, timer_wait) - (time.monotonic() - started), 0.0)
