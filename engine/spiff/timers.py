"""Timers behind Pingan's small types: fire the due ones, note which fired, plan timer start events.

SpiffWorkflow decides whether a timer has fired by comparing its due time with ``datetime.now``
(routed to Pingan's clock and time zone by ``timer_clock.py``). This module adds two things the library
does not offer: a way to fire "everything due at this moment" (its test is ``due < now``,
strictly), and a record of every timer that fired, on whatever path, so the history can say so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState

from .. import clock
from .timer_clock import seeing as _seeing
from .timer_clock import TimerClock, calendar_var, seen_override
from .workflow import Runner, StepError, _step_error

__all__ = ["FiredTimerEvent", "StartTimerEvent", "fire_due_timers", "fire_start_event",
           "take_fired_timers", "start_timer_events", "plan_start_timer"]

_TICK = timedelta(microseconds=1)
# A cycle far behind fires once per round; a bound keeps a zero-length cycle from spinning.
_MAX_ROUNDS = 1000


@dataclass(frozen=True)
class FiredTimerEvent:
    """One timer that fired: which, when it was due, when it fired, and what it hangs on."""

    task_id: str
    element_id: str
    name: str
    due_at: datetime | None
    fired_at: datetime
    properties: dict = field(default_factory=dict)
    attached_task_id: str | None = None  # the task a boundary timer is attached to
    attached_element_id: str | None = None


def _parse(value) -> datetime | None:
    if not value:
        return None
    try:
        moment = TimerEventDefinition.get_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return _plain(moment)


def _plain(moment: datetime) -> datetime:
    # The library builds instances of the patched class; hand out ordinary UTC datetimes.
    moment = moment.astimezone(timezone.utc)
    return datetime.combine(moment.date(), moment.timetz())


def _log_firing(task, due: datetime | None) -> None:
    spec = task.task_spec
    attached_task = attached_element = None
    if isinstance(spec, BoundaryEvent) and task.parent is not None:
        for sibling in task.parent.children:
            if not isinstance(sibling.task_spec, BoundaryEvent):
                attached_task, attached_element = str(sibling.id), sibling.task_spec.bpmn_id
    override = seen_override()
    fired_at = override[0] if override and override[1] else clock.now()
    event = FiredTimerEvent(
        task_id=str(task.id), element_id=spec.bpmn_id or spec.name, name=spec.event_definition.name or "",
        due_at=due, fired_at=max(fired_at, clock.now()),
        properties=dict((getattr(spec, "extensions", None) or {}).get("properties", {})),
        attached_task_id=attached_task, attached_element_id=attached_element)
    # Kept on the workflow object, which is never serialized from its __dict__.
    task.workflow.top_workflow.__dict__.setdefault("_pingan_fired", []).append(event)


def _record_has_fired(cls) -> None:
    original = cls.has_fired
    if getattr(original, "_pingan", False):
        return

    def has_fired(self, my_task):
        was = my_task._get_internal_data("event_fired", False)
        fired = original(self, my_task)
        if fired and not was:
            _log_firing(my_task, _parse(my_task._get_internal_data("event_value")))
        return fired

    has_fired._pingan = True
    cls.has_fired = has_fired


def _record_cycles() -> None:
    original = CycleTimerEventDefinition.cycle_complete
    if getattr(original, "_pingan", False):
        return

    def cycle_complete(self, my_task):
        before = my_task._get_internal_data("event_value")
        if before is None:
            before = _workday_cycle_value(my_task.workflow.script_engine.evaluate(my_task, self.expression))
            if before is not None:
                my_task._set_internal_data(event_value=before)
        if isinstance(before, dict) and before.get("workdays"):
            return _workday_cycle_complete(my_task, before)
        due = before.get("next") if isinstance(before, dict) else None
        ready = original(self, my_task)
        if ready:
            if due is None:  # evaluated for the first time in this very call
                after = my_task._get_internal_data("event_value")
                due = (datetime.fromisoformat(after["next"]) - timedelta(seconds=after["duration"])).isoformat()
            _log_firing(my_task, _parse(due))
        return ready

    cycle_complete._pingan = True
    CycleTimerEventDefinition.cycle_complete = cycle_complete


# R[n]/<first firing>/P<k>WD: what scripting's workday_cycle() returns, k counted in working days.
_WORKDAY_CYCLE = re.compile(r"^R(\d*)/([^/]+)/P(\d+)WD$")


def _workday_cycle_value(expression) -> dict | None:
    """The timer's state for a working-day cycle expression, or None for any other cycle."""
    match = _WORKDAY_CYCLE.match(str(expression).strip())
    if match is None:
        return None
    first = _parse(match[2])
    if first is None:
        raise ValueError(f"工作日周期的首次时间无效：{match[2]} (invalid first firing of a working-day cycle)")
    return {"cycles": int(match[1]) if match[1] else -1, "next": first.isoformat(), "workdays": int(match[3]),
            "duration": 0}


def _workday_cycle_complete(my_task, value: dict) -> bool:
    """SpiffWorkflow's cycle step, with the next firing on the k-th working day at the same local time."""
    ready = False
    if value["cycles"] != 0:
        due = datetime.fromisoformat(value["next"])
        if due < TimerClock.now(timezone.utc):
            calendar = calendar_var.get()
            if calendar is None:
                raise RuntimeError("工作日历不可用 (no working-day calendar configured)")
            at = due.astimezone(calendar.tz).time()
            value = dict(value, next=calendar.workdays_later_at(due, value["workdays"], at).isoformat(),
                         cycles=value["cycles"] - 1)
            ready = True
            _log_firing(my_task, _plain(due))
    else:
        my_task.internal_data["event_fired"] = True
    my_task._set_internal_data(event_value=value)
    return ready


_record_has_fired(TimeDateEventDefinition)
_record_has_fired(DurationTimerEventDefinition)
_record_cycles()


def take_fired_timers(runner: Runner) -> list[FiredTimerEvent]:
    """Return the timers that fired in this workflow since the last call, oldest first."""
    return runner.wf.__dict__.pop("_pingan_fired", [])


def _due_timers(runner: Runner, at: datetime) -> list[tuple[str, datetime]]:
    return sorted((w.task_id, w.due_at) for w in runner.waiting_events()
                  if w.kind == "timer" and w.due_at is not None and w.due_at <= at)


def fire_due_timers(runner: Runner, at: datetime) -> StepError | None:
    """Fire every timer due at ``at`` (a cycle as often as it fell due), advancing after each round."""
    seen = None
    for _ in range(_MAX_ROUNDS):
        due = _due_timers(runner, at)
        if not due or due == seen:  # nothing due, or nothing moved: stop rather than spin
            return None
        seen = due
        try:
            with _seeing(at, at_least=True):
                runner.wf.refresh_timers()
        except Exception as exc:  # a timer expression evaluated late may raise anything
            return _step_error(exc, None)
        error = runner.run_engine_steps()
        if error is not None:
            return error
    return None


def fire_start_event(runner: Runner, element_id: str) -> StepError | None:
    """Fire a new case's timer start event now, once: its schedule decided that it is time."""
    now = clock.now()
    for task in runner.wf.get_tasks(state=TaskState.WAITING):
        spec = task.task_spec
        if (task.workflow is not runner.wf or not isinstance(spec, StartEvent)
                or spec.bpmn_id != element_id or not isinstance(spec.event_definition, TimerEventDefinition)):
            continue
        if isinstance(spec.event_definition, CycleTimerEventDefinition):
            # One cycle, already due: the case runs its body once; later cycles are new cases.
            value = task._get_internal_data("event_value") or {}
            task._set_internal_data(event_value={"cycles": 1, "next": (now - _TICK).isoformat(),
                                                 "duration": value.get("duration", 0)})
        else:
            task._set_internal_data(event_fired=True)
    try:
        runner.wf.refresh_timers()
    except Exception as exc:
        return _step_error(exc, None)
    error = runner.run_engine_steps()
    # The schedule writes the history entry for this firing, with the schedule's due time.
    fired = take_fired_timers(runner)
    runner.wf.__dict__["_pingan_fired"] = [f for f in fired if f.element_id != element_id]
    return error


@dataclass(frozen=True)
class StartTimerEvent:
    """A timer start event of a process: ``kind`` is date, duration or cycle."""

    element_id: str
    kind: str
    expression: str


def start_timer_events(spec) -> list[StartTimerEvent]:
    """Return the timer start events of a process spec (not of its subprocesses)."""
    out = []
    for task_spec in spec.task_specs.values():
        event_def = getattr(task_spec, "event_definition", None)
        if isinstance(task_spec, StartEvent) and isinstance(event_def, TimerEventDefinition):
            kind = ("cycle" if isinstance(event_def, CycleTimerEventDefinition)
                    else "duration" if isinstance(event_def, DurationTimerEventDefinition) else "date")
            out.append(StartTimerEvent(task_spec.bpmn_id, kind, event_def.expression))
    return sorted(out, key=lambda e: e.element_id)


def plan_start_timer(kind: str, value: str, *, anchor: datetime) -> tuple[datetime, float | None, int]:
    """Return (first due, period in seconds or None, occurrences, -1 for ever) of a start timer's value.

    Durations and cycles without a start date count from ``anchor``, the deployment.
    """
    value = str(value).strip()
    with _seeing(anchor, at_least=False):
        if kind == "cycle":
            cycles, start, period = TimerEventDefinition.parse_iso_recurring_interval(value)
            if period.total_seconds() <= 0:
                raise ValueError(f"循环周期必须大于 0：{value} (the cycle's period must be positive)")
            return _plain(start), period.total_seconds(), cycles
        if kind == "duration":
            parsed = TimerEventDefinition.parse_iso_duration(value)
            return _plain(anchor + TimerEventDefinition.get_timedelta_from_start(parsed, anchor)), None, 1
        return _plain(TimerEventDefinition.get_datetime(value)), None, 1
