"""Play one seeded case through the engine's public functions, moving the seed's clock as it goes.

A path (``paths_<process>.py``) is the story of one case: who starts it with what data, who does
which step with what data, when time passes, which message arrives. Dates in a path are relative
to the moment a step is done (``@date+3`` is three days after), so a case played on any day of
the seeded history carries dates that agree with its own audit trail.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from random import Random

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import FrozenClock
from ..context import context_of
from ..errors import EngineError
from ..org.orgs import SYSTEM, Actor, actor_for
from ..runtime import lifecycle
from ..runtime.messages import send_message
from ..runtime.tasks import claim_task, return_task, urge_task
from ..runtime.timers import fire_due
from ..store.models import HumanTask, Instance, InstanceStatus, TaskStatus

BEIJING = timezone(timedelta(hours=8))
_TOKEN = re.compile(r"^@(date|time)([+-]\d+)$")
_COURT_NO = re.compile(r"\(\d{4}\)平0101民特\d+号")
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


class SeedFailed(EngineError):
    """The seed's own data or plan did not fit the shipped processes (a bug in the seed)."""

    code = "seed_failed"
    status = 500


def duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration of weeks, days, hours, minutes and seconds."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"not a duration: {text}")
    w, d, h, mi, s = (int(x or 0) for x in m.groups())
    return timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)


def resolve(value, *, now: datetime, serial: int):
    """Turn a path's relative dates and case numbers into values for a step done at ``now``."""
    if isinstance(value, dict):
        return {k: resolve(v, now=now, serial=serial) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, now=now, serial=serial) for v in value]
    if not isinstance(value, str):
        return value
    local = now.astimezone(BEIJING)
    m = _TOKEN.match(value)
    if m and m.group(1) == "date":
        return (local + timedelta(days=int(m.group(2)))).date().isoformat()
    if m:
        return (local + timedelta(minutes=int(m.group(2)))).replace(microsecond=0).isoformat()
    if value == "@period":  # a monthly report is for the month before the one it is filed in
        first = local.replace(day=1) - timedelta(days=1)
        return f"{first:%Y-%m}"
    # Court numbers correlate messages: each case needs its own, or one ruling finds two cases.
    return _COURT_NO.sub(f"({local:%Y})平0101民特{serial}号", value)


@dataclass
class CasePlan:
    """One case to seed: which path, how far to play it, from when, and what happens to it then."""

    process: str
    path: dict
    start_at: datetime
    cut: int | None = None          # play this many steps (None: all)
    cancel: bool = False
    urge: bool = False              # someone reminds the holder of the step it waits at
    start_data: dict = field(default_factory=dict)   # overrides of the path's start data
    serial: int = 0

    @property
    def steps(self) -> list[dict]:
        return self.path["steps"] if self.cut is None else self.path["steps"][: self.cut]


class CasePlayer:
    """Play planned cases in one session, on a clock the caller installed."""

    def __init__(self, session: Session, clock: FrozenClock, rng: Random):
        self.session, self.clock, self.rng = session, clock, rng
        self._actors: dict[str, Actor] = {}

    def actor(self, username: str) -> Actor:
        """Return the demo user's Actor (looked up once)."""
        if username not in self._actors:
            self._actors[username] = actor_for(self.session, username=username)
        return self._actors[username]

    def pause(self, low: int = 2, high: int = 20) -> None:
        """Let a few minutes pass between two things people do, and fire what fell due meanwhile."""
        self.clock.advance(timedelta(minutes=self.rng.randint(low, high)))
        fire_due(self.session)

    def play(self, plan: CasePlan) -> Instance:
        """Start the planned case at its start time and play its steps; return the instance."""
        self.clock.set(plan.start_at)
        fire_due(self.session)
        start = plan.path["start"]
        data = resolve({**(start.get("data") or {}), **plan.start_data}, now=self.clock.now(), serial=plan.serial)
        starter = self.actor(start["as"])
        instance = lifecycle.start_instance(self.session, process_key=plan.process, data=data, actor=starter,
                                          org_code=start.get("org"))
        for i, step in enumerate(plan.steps, 1):
            try:
                self.step(instance, step, plan.serial)
            except EngineError as exc:
                details = "; ".join(f"{d.field}: {d.message}" for d in exc.details or [])
                raise SeedFailed(f"示范数据与流程不符：{plan.process}/{plan.path['name']} 第 {i} 步：{exc} {details}",
                                 message_en=f"seed data does not fit {plan.process}/{plan.path['name']} "
                                            f"step {i}: {exc.message_en or exc} {details}") from exc
            if instance.status == InstanceStatus.ERROR:
                raise SeedFailed(f"示范案件出错：{plan.process}/{plan.path['name']} 第 {i} 步：{instance.error}",
                                 message_en=f"seeded case went into error at step {i}")
        if plan.urge and instance.status == InstanceStatus.RUNNING:
            self.urge(instance, starter)
        if plan.cancel and instance.status == InstanceStatus.RUNNING:
            self.pause(60, 24 * 60)
            lifecycle.cancel_instance(self.session, instance_id=instance.id, actor=starter,
                                    reason=self.rng.choice(["重复登记，已并案处理", "当事人撤回申请", "登记有误，撤销"]))
        return instance

    def step(self, instance: Instance, step: dict, serial: int) -> None:
        """Do one step of a path: let time pass, deliver a message, send a task back, or do a task."""
        if "advance" in step:
            self.clock.advance(duration(step["advance"]))
            fire_due(self.session)
        elif "advance_workdays" in step:
            calendar = context_of(self.session).calendar(self.session)
            target = calendar.add_workdays(self.clock.now(), int(step["advance_workdays"])) + timedelta(minutes=1)
            self.clock.set(target)
            fire_due(self.session)
        elif "message" in step:
            self.pause()
            msg = resolve(step["message"], now=self.clock.now(), serial=serial)
            send_message(self.session, name=msg["name"], correlation=msg.get("correlation") or {},
                         payload=msg.get("payload") or {}, actor=SYSTEM)
        elif "return_to" in step:
            self.pause()
            spec = step["return_to"]
            task = self.find_task(instance, spec["task"], spec["as"], None)
            return_task(self.session, task_id=task.id, actor=self.actor(spec["as"]), to_element=spec["to"],
                        opinion=spec.get("opinion") or "退回")
        else:
            self.pause()
            actor = self.actor(step["as"])
            task = self.find_task(instance, step["task"], step["as"], step.get("org"))
            if task.assignee_id is None and self.rng.random() < 0.4:
                claim_task(self.session, task_id=task.id, actor=actor)  # 签收, then work on it a while
                self.pause(5, 30)
            data = resolve(step.get("data") or {}, now=self.clock.now(), serial=serial)
            lifecycle.complete_task(self.session, task_id=task.id, data=data, actor=actor, opinion=step.get("opinion"))
        self.session.refresh(instance)

    def find_task(self, instance: Instance, element: str, username: str, org: str | None) -> HumanTask:
        """Return the open step ``element`` that ``username`` may do (in ``org`` for parallel copies)."""
        actor = self.actor(username)
        for task in self.open_tasks(instance):
            if task.element_id == element and (org is None or task.candidate_org.code == org) \
                    and lifecycle.may_act(task, actor):
                return task
        open_now = [t.element_id for t in self.open_tasks(instance)]
        raise SeedFailed(f"{username} 没有可办理的“{element}”任务（当前待办：{open_now}）",
                         message_en=f"{username} has no open task {element}; open: {open_now}")

    def open_tasks(self, instance: Instance) -> list[HumanTask]:
        """Return the case's open tasks, oldest first, as stored now."""
        return list(self.session.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN)
            .order_by(HumanTask.created_at, HumanTask.id).execution_options(populate_existing=True)))

    def urge(self, instance: Instance, starter: Actor) -> None:
        """Have the case's initiator remind whoever holds its first open step (催办)."""
        tasks = self.open_tasks(instance)
        if not tasks:
            return
        self.pause(60, 8 * 60)
        try:
            urge_task(self.session, task_id=tasks[0].id, actor=starter, opinion="请抓紧办理")
        except EngineError:
            pass  # reminded by a timer a moment ago, or nobody holds it: a person would not urge either
