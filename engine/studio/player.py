"""Play one case step by step the way a scenario file tells it, and check what must hold.

Used by the scenario runner (``scenarios.py``) and by play sessions (``playground.py``), so a
recorded play replays through exactly the code that recorded it. The player works in whatever
session it is given and never commits; the caller owns the transaction. Failures are
``StepFailed`` with a Chinese message (and an English one) naming what was expected and found.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import errors
from ..cases.case_file import step_names
from ..clock import FrozenClock
from ..context import context_of
from ..org.orgs import ROLES, SYSTEM, Actor, actor_for
from ..runtime import lifecycle
from ..runtime.messages import send_message
from ..runtime.tasks import return_task
from ..runtime.timers import fire_due
from ..spiff.parser import NS, parse_xml
from ..store.audit import EntryKind
from ..store.models import AuditEntry, HumanTask, Instance, InstanceStatus, TaskStatus

# One jump of the simulated clock at most: a typo such as P3000D would fire years of cycles.
MAX_ADVANCE = timedelta(days=3 * 366)
MAX_WORKDAYS = 750
_STATUS_ZH = {"running": "办理中", "completed": "已办结", "cancelled": "已撤销", "error": "出错"}
# Audit entries that say an element was passed through (the workflow may have pruned old tasks).
_PASSED = (EntryKind.COMPLETED, EntryKind.TIMER, EntryKind.MESSAGE, EntryKind.FINISHED)


class StepFailed(Exception):
    """A step could not be done, or what it expected does not hold."""

    def __init__(self, message: str, message_en: str = ""):
        super().__init__(message)
        self.message, self.message_en = message, message_en


class Player:
    """One case of a scenario: start it, play steps on it, check expectations, trace its path."""

    def __init__(self, session: Session, clock: FrozenClock, *, instance_id: int | None = None,
                 path: list[str] | None = None, flows: list[str] | None = None):
        self.session, self.clock = session, clock
        self.instance_id = instance_id
        self._path: dict[str, None] = dict.fromkeys(path or [])
        self._flows: dict[str, None] = dict.fromkeys(flows or [])
        self._names: dict[str, str] | None = None

    @property
    def names(self) -> dict[str, str]:
        """id → name of the case's steps and events, for messages a designer reads."""
        if self._names is None:
            self._names = step_names(self.instance.definition) if self.instance_id is not None else {}
        return self._names

    # -- playing -------------------------------------------------------------------------------
    def start(self, start: dict, *, process: str) -> Instance:
        """Start the case as ``start['as']`` with the start form data ``start['data']``."""
        actor = self._actor(start.get("as"))
        try:
            instance = lifecycle.start_instance(self.session, process_key=process, data=start.get("data") or {},
                                              actor=actor, org_code=start.get("org"))
        except errors.EngineError as exc:
            raise StepFailed(f"{actor.username} 无法发起案件：{_explain(exc)}",
                             f"{actor.username} could not start the case: {exc.message_en or exc.message}") from exc
        self.instance_id = instance.id
        self.fail_on_error("发起后", "after the start")
        return instance

    @property
    def instance(self) -> Instance:
        return self.session.get(Instance, self.instance_id, populate_existing=True)

    def run_step(self, step: dict) -> None:
        """Do one step: a task, a clock move, a message or a send-back."""
        if "task" in step:
            self.do_task(step)
        elif "advance" in step:
            self.move_clock(duration(step["advance"]))
        elif "advance_workdays" in step:
            days = int(step["advance_workdays"])
            if not 0 < days <= MAX_WORKDAYS:
                raise StepFailed(f"推进的工作日数应在 1 到 {MAX_WORKDAYS} 之间，而不是 {days}",
                                 f"advance_workdays must be between 1 and {MAX_WORKDAYS}, not {days}")
            calendar = context_of(self.session).calendar(self.session)
            target = calendar.add_workdays(self.clock.now(), days) + timedelta(minutes=1)
            self.move_clock(target - self.clock.now())
        elif "message" in step:
            msg = step["message"]
            try:
                send_message(self.session, name=msg["name"], correlation=msg.get("correlation") or {},
                             payload=msg.get("payload") or {}, actor=SYSTEM)
            except errors.EngineError as exc:
                raise StepFailed(f"消息 {msg['name']} 未能投递：{_explain(exc)}",
                                 f"message {msg['name']} was not delivered: {exc.message_en or exc.message}") from exc
            self.fail_on_error("消息投递后", "after the message")
        elif "return_to" in step:
            spec = step["return_to"]
            task = self.find_task(spec["task"], spec["as"], None)
            try:
                return_task(self.session, task_id=task.id, actor=self._actor(spec["as"]), to_element=spec["to"],
                            opinion=spec.get("opinion") or "退回")
            except errors.EngineError as exc:
                raise StepFailed(f"{spec['as']} 无法将 {spec['task']} 退回到 {spec['to']}：{_explain(exc)}",
                                 f"{spec['as']} could not return {spec['task']} to {spec['to']}: "
                                 f"{exc.message_en or exc.message}") from exc
        self.note_path()

    def do_task(self, step: dict) -> None:
        actor = self._actor(step["as"])
        refused = step.get("refused")
        try:
            task = self.find_task(step["task"], step["as"], step.get("org"), any_pool=bool(refused))
            lifecycle.complete_task(self.session, task_id=task.id, data=step.get("data") or {}, actor=actor,
                                  opinion=step.get("opinion"))
        except errors.EngineError as exc:
            if refused and type(exc).__name__ == refused:
                return  # the engine changes nothing when it refuses
            raise StepFailed(f"{actor.username} 办理 {step['task']} 被拒绝：{type(exc).__name__}：{_explain(exc)}",
                             f"{actor.username} doing {step['task']} was refused: {type(exc).__name__}: "
                             f"{exc.message_en or exc.message}") from exc
        if refused:
            raise StepFailed(f"预期引擎以 {refused} 拒绝 {actor.username} 办理 {step['task']}，但办理成功了",
                             f"expected the engine to refuse with {refused}, but it accepted")
        self.fail_on_error("办理后", "after the task")

    def find_task(self, element: str, username: str, org: str | None, *, any_pool: bool = False) -> HumanTask:
        """Return the open task ``element`` that ``username`` may do (in ``org`` for multi-instance steps)."""
        actor = self._actor(username)
        rows = self.open_tasks()
        matching = [t for t in rows if t.element_id == element and (org is None or t.candidate_org.code == org)]
        mine = [t for t in matching if lifecycle.may_act(t, actor)]
        if mine:
            return mine[0]
        if any_pool and matching:
            return matching[0]
        pools = "、".join(f"{_named([t.element_id], self.names)}：{ROLES.get(t.candidate_role, t.candidate_role or '-')}@"
                          f"{t.candidate_org.name if t.candidate_org else '-'}"
                          f"{'，' + t.assignee.username if t.assignee_id else ''}" for t in rows) or "无"
        instance = self.instance
        where = f"（{org}）" if org else ""
        raise StepFailed(
            f"{username} 没有可办理的任务 {element}{where}；当前待办：{pools}；案件状态：{_STATUS_ZH.get(instance.status, instance.status)}"
            + (f"，{(instance.error or {}).get('message')}" if instance.status == InstanceStatus.ERROR else ""),
            f"{username} has no open task '{element}'{' in ' + org if org else ''}; open: {pools}; case {instance.status}")

    def move_clock(self, delta: timedelta) -> None:
        """Move the simulated clock and fire every timer, schedule and deadline notice now due."""
        if delta <= timedelta(0) or delta > MAX_ADVANCE:
            raise StepFailed(f"时间推进量应大于零且不超过 {MAX_ADVANCE.days} 天",
                             f"the clock moves by more than zero and at most {MAX_ADVANCE.days} days")
        self.clock.advance(delta)
        fire_due(self.session)
        self.fail_on_error("定时器触发后", "after the timers fired")

    def _actor(self, username: str | None) -> Actor:
        if not username:
            raise StepFailed("缺少办理人（as）", "missing who acts (as)")
        try:
            return actor_for(self.session, username=str(username))
        except errors.EngineError as exc:
            raise StepFailed(f"用户 {username} 不存在（场景只能使用示范县的用户）",
                             f"no user {username} (scenarios use the demo county's users)") from exc

    def fail_on_error(self, when_zh: str, when_en: str) -> None:
        """Raise StepFailed if the case has gone into error."""
        instance = self.instance
        if instance.status == InstanceStatus.ERROR:
            error = instance.error or {}
            element = f"（{error.get('element_id')}）" if error.get("element_id") else ""
            raise StepFailed(f"{when_zh}案件出错{element}：{error.get('message')}",
                             f"{when_en} the case went into error: {error.get('message')}")

    # -- reading -------------------------------------------------------------------------------
    def open_tasks(self) -> list[HumanTask]:
        return list(self.session.scalars(select(HumanTask).where(
            HumanTask.instance_id == self.instance_id, HumanTask.status == TaskStatus.OPEN)
            .order_by(HumanTask.created_at, HumanTask.element_id).execution_options(populate_existing=True)))

    def history(self, kind: str) -> list[AuditEntry]:
        return list(self.session.scalars(select(AuditEntry).where(
            AuditEntry.instance_id == self.instance_id, AuditEntry.kind == kind).order_by(AuditEntry.seq)))

    def reached_end_events(self) -> list[str]:
        # The engine records only the final end event; side branches' ends are read from the workflow.
        loaded = lifecycle.load(self.session, instance_id=self.instance_id)
        lifecycle.give_back(self.session, loaded)  # only looked at
        return loaded.runner.end_events_reached()

    def note_path(self) -> None:
        """Add the elements the case has passed since the last look to its path."""
        if self.instance_id is None:
            return
        passed = self.session.scalars(select(AuditEntry.element_id).where(
            AuditEntry.instance_id == self.instance_id, AuditEntry.kind.in_(_PASSED),
            AuditEntry.element_id.is_not(None)).order_by(AuditEntry.seq))
        loaded = lifecycle.load(self.session, instance_id=self.instance_id)
        lifecycle.give_back(self.session, loaded)  # only looked at
        flows = _sequence_flows(loaded.definition)
        for element, completed, source in loaded.runner.reached_steps():
            if completed:
                self._path.setdefault(element)
            flow = flows.get((source, element)) if source is not None else None
            if flow:
                self._flows.setdefault(flow)
        for element in passed:
            self._path.setdefault(element)

    @property
    def path(self) -> list[str]:
        """Return the BPMN element ids the case went through, in the order first reached."""
        return list(self._path)

    @property
    def flows(self) -> list[str]:
        """Return the ids of the sequence flows the case took (into passed and open elements)."""
        return list(self._flows)

    # -- checking ------------------------------------------------------------------------------
    def check(self, expect: dict) -> None:
        """Raise StepFailed unless every expectation holds now."""
        instance = self.instance
        if "status" in expect and instance.status != expect["status"]:
            tasks = [t.element_id for t in self.open_tasks()]
            raise StepFailed(
                f"案件状态为 {instance.status}（{_STATUS_ZH.get(instance.status, '')}），预期 {expect['status']}"
                f"（{_STATUS_ZH.get(expect['status'], '')}）；当前待办：{_named(tasks, self.names)}"
                + (f"；错误：{(instance.error or {}).get('message')}" if instance.error else ""),
                f"status is {instance.status}, expected {expect['status']}; open tasks {tasks}")
        if "end" in expect and instance.end_event != expect["end"]:
            raise StepFailed(f"案件结束于 {instance.end_event or '（尚未结束）'}，预期结束于 {expect['end']}",
                             f"ended at {instance.end_event}, expected {expect['end']}")
        if "tasks" in expect:
            got = sorted(t.element_id for t in self.open_tasks())
            want = sorted(expect["tasks"] or [])
            if got != want:
                raise StepFailed(f"当前待办为 {_named(got, self.names)}，预期为 {_named(want, self.names)}",
                                 f"open tasks are {got}, expected {want}")
        if "reached" in expect:
            reached = self.reached_end_events()
            missing = [e for e in expect["reached"] if e not in reached]
            if missing:
                raise StepFailed(f"未到达结束事件 {_named(missing, self.names)}；已到达 {_named(reached, self.names)}",
                                 f"end events {missing} were not reached; reached {reached}")
        if "fired" in expect:
            fired = [e.element_id for e in self.history(EntryKind.TIMER)]
            missing = [e for e in expect["fired"] if e not in fired]
            if missing:
                raise StepFailed(f"定时器 {_named(missing, self.names)} 没有触发；已触发 {_named(fired, self.names)}",
                                 f"timers {missing} did not fire; fired {fired}")
        if "urged" in expect:
            urged = [e.element_id for e in self.history(EntryKind.URGED)]
            missing = [e for e in expect["urged"] if e not in urged]
            if missing:
                raise StepFailed(f"任务 {_named(missing, self.names)} 没有被催办；已催办 {_named(urged, self.names)}",
                                 f"tasks {missing} were not urged; urged {urged}")
        if "due" in expect:
            tasks = {t.element_id: t for t in self.open_tasks()}
            for element, moment in expect["due"].items():
                want = datetime.fromisoformat(str(moment))
                if element not in tasks or tasks[element].due_at != want:
                    got = tasks[element].due_at.isoformat() if element in tasks and tasks[element].due_at else "没有该待办或无期限"
                    raise StepFailed(f"任务 {element} 的办理期限为 {got}，预期 {want.isoformat()}",
                                     f"due time of {element} is {got}, expected {want.isoformat()}")
        if "data" in expect:
            _subset(expect["data"], instance.data or {}, "data")


def _ids(ids) -> str:
    return "、".join(str(i) for i in ids) or "无"


def _named(ids, names: dict[str, str]) -> str:
    """Elements as a designer reads them: the name with the id the scenario file uses (受理审查（accept））."""
    return "、".join(f"{names[i]}（{i}）" if names.get(i) and names[i] != i else str(i) for i in ids) or "无"


_FLOWS: dict[tuple, dict] = {}


def _sequence_flows(definition) -> dict[tuple[str, str], str]:
    """Return {(source id, target id): flow id} of a definition's BPMN files (read once per definition)."""
    key = (definition.id, definition.content_hash)
    if key not in _FLOWS:
        flows = {}
        for name, text in (definition.sources or {}).items():
            if name.endswith(".bpmn"):
                for flow in parse_xml(text.encode("utf-8"), name).iter(f"{{{NS['bpmn']}}}sequenceFlow"):
                    flows[(flow.get("sourceRef"), flow.get("targetRef"))] = flow.get("id")
        if len(_FLOWS) > 64:
            _FLOWS.clear()
        _FLOWS[key] = flows
    return _FLOWS[key]


def _subset(expected, actual, path: str) -> None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            raise StepFailed(f"案件数据 {path} 为 {actual!r}，预期为映射 {expected!r}",
                             f"{path} is {actual!r}, expected a mapping like {expected!r}")
        for key, value in expected.items():
            if key not in actual:
                raise StepFailed(f"案件数据缺少 {path}.{key}（现有 {_ids(sorted(actual))}）",
                                 f"{path}.{key} is missing (have {sorted(actual)})")
            _subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (e, a) in enumerate(zip(expected, actual)):
            _subset(e, a, f"{path}[{i}]")
    elif expected != actual:
        raise StepFailed(f"案件数据 {path} 为 {actual!r}，预期 {expected!r}",
                         f"{path} is {actual!r}, expected {expected!r}")


def _explain(exc: errors.EngineError) -> str:
    details = "；".join(f"{d.field or d.element_id or ''}：{d.message}".lstrip("：") for d in exc.details or [])
    return exc.message + (f"（{details}）" if details else "")


_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def duration(text: object) -> timedelta:
    """Parse an ISO 8601 duration of weeks, days, hours, minutes and seconds (no months: ambiguous)."""
    m = _DURATION.match(str(text))
    if not m or str(text) in ("P", "PT"):
        raise StepFailed(f"advance：'{text}' 不是 ISO 8601 时长（如 P3D、PT4H）",
                         f"advance: '{text}' is not an ISO 8601 duration such as P3D or PT4H")
    w, d, h, mi, s = (int(x or 0) for x in m.groups())
    return timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)
