"""The embedded timer loop: a daemon thread of `pingan run` that sweeps when something falls due.

It sleeps until the next due time it knows of, but never longer than a second, so a timer that
another process (or a request of this one) writes is seen within a second. Commits of this
process's own sessions that touch ``event_waits`` wake it at once, so a short timer set by a
request is not up to a second late either. A failing sweep is logged and retried; the loop never
dies of it.
"""
from __future__ import annotations

import logging
import threading

from sqlalchemy import event

from .. import clock
from ..context import Services
from ..store.models import EventWait
from ..studio.migration import run_in_thread, take_up_stalled_jobs
from .timers import next_due, sweep

log = logging.getLogger(__name__)

MAX_SLEEP = 1.0     # seconds: the longest a timer written elsewhere can go unseen
ERROR_PAUSE = 1.0   # seconds after a failed sweep (database down): do not spin


class TimerLoop(threading.Thread):
    """Sweep due timers in a background thread until stopped."""

    def __init__(self, services: Services, *, limit: int = 500, max_sleep: float = MAX_SLEEP):
        super().__init__(name="pingan-timers", daemon=True)
        self.services, self.limit, self.max_sleep = services, limit, max_sleep
        self._stop_event, self._wake = threading.Event(), threading.Event()
        self._done = threading.Condition()
        self.sweeps = 0  # completed sweeps, for tests and health pages
        self.last_error: str | None = None

    def run(self) -> None:
        self._listen(True)
        try:
            while not self._stop_event.is_set():
                self._wake.clear()
                delay = self._sweep_once()
                if delay > 0:
                    self._wake.wait(delay)
        finally:
            self._listen(False)

    def _sweep_once(self) -> float:
        try:
            report = sweep(self.services, limit=self.limit)
            self.last_error = None
            delay = 0.0 if report.more else self._until_next()
        except Exception as exc:  # the loop must outlive a broken database connection
            log.exception("timer sweep failed")
            self.last_error, delay = str(exc), ERROR_PAUSE
        try:  # a case migration whose thread died with the last process goes on by itself
            factory = self.services.session_factory
            take_up_stalled_jobs(factory, run=lambda job_id: run_in_thread(factory, job_id))
        except Exception:
            log.exception("taking up stalled migration jobs failed")
        with self._done:
            self.sweeps += 1
            self._done.notify_all()
        return delay

    def _until_next(self) -> float:
        with self.services.session() as s:
            due = next_due(s)
        if due is None:
            return self.max_sleep
        return min(max((due - clock.now()).total_seconds(), 0.0), self.max_sleep)

    def wake(self) -> None:
        """Sweep now instead of at the next planned wake-up."""
        self._wake.set()

    def sweep_now(self, timeout: float = 10.0) -> bool:
        """Wake the loop and wait until a sweep that began after this call has finished."""
        with self._done:
            target = self.sweeps + 2  # the sweep running now may have started before the call
            self.wake()
            return self._done.wait_for(lambda: self.sweeps >= target or not self.is_alive(), timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to finish its current sweep and end; wait for it."""
        self._stop_event.set()
        self._wake.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    # Wake on commits that wrote timer rows: a timer due in 200 ms should not wait a second.
    def _listen(self, on: bool) -> None:
        factory = self.services.session_factory
        for name, fn in (("after_flush", self._note_flush), ("after_commit", self._note_commit)):
            if on:
                event.listen(factory, name, fn)
            elif event.contains(factory, name, fn):
                event.remove(factory, name, fn)

    @staticmethod
    def _note_flush(session, _flush_context) -> None:
        if any(isinstance(o, EventWait) for o in (*session.new, *session.dirty)):
            session.info["pingan_timers_changed"] = True

    def _note_commit(self, session) -> None:
        if session.info.pop("pingan_timers_changed", False) and threading.current_thread() is not self:
            self._wake.set()


def start_timer_loop(services: Services, *, limit: int = 500) -> TimerLoop:
    """Start the embedded timer loop for ``services`` and return it (call ``stop()`` to end it)."""
    loop = TimerLoop(services, limit=limit)
    loop.start()
    return loop

