"""Play a process scenario (tests/scenarios/<process>/<path>.yaml) against the real engine.

tests/test_scenarios.py plays every file twice with this module; tests/test_change_without_code.py
uses the same Player for cases across two versions of a definition.

A scenario is a case told from start to end: who starts it with what data, who does which task
with what data, when the clock moves, which message arrives, and what must hold afterwards.

    title: 村级调解达成协议，法院确认，回访已履行
    start: {as: wang.wg, org: dongjie-1, data: {...}}
    steps:
      - task: accept                      # element id of an open user task
        as: li.sl                         # demo username doing it
        org: police                       # optional: which instance of a multi-instance task
        data: {accepted: true}
        opinion: 同意受理
        expect: {tasks: [assign]}         # optional, checked after the step
      - task: accept                      # a step the engine must refuse
        as: zhao.wg
        refused: NotAllowed
      - advance: P31D                     # move the clock (ISO 8601 duration) and fire due timers
      - advance_workdays: 5               # to the end of the 5th working day from now (+1 min)
      - message: {name: judicial_confirmation, correlation: {...}, payload: {...}}
      - return_to: {task: review, as: zheng.dc, to: report, opinion: 材料不全}
      - expect: {...}
    expect:                               # checked at the end
      status: completed                   # running | completed | cancelled | error
      end: end_closed                     # the end event the case finished at
      reached: [end_urged]                # end events passed on the way (side branches)
      fired: [limit_timer]                # timers that fired (from the case history)
      urged: [report]                     # tasks reminded (催办) by a timer or a person
      tasks: [close]                      # open tasks, by element id (exactly these)
      due: {handle: "2026-03-02T12:00:00+08:00"}   # due time of the open task
      data: {risk_level: 高}              # a subset of the case data

``Player`` runs the steps in one database transaction that the caller rolls back. With
``restore=True`` every step runs in a fresh Session and with the parsed-spec cache emptied, so the
workflow, tasks and waits of each step come from what the previous step stored, exactly as when
two requests land on different workers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.util.task import TaskState

from engine import definitions, errors, runtime
from engine.audit import EntryKind
from engine.context import context_of
from engine.messages import send_message
from engine.models import AuditEntry, HumanTask, Instance, TaskStatus
from engine.orgs import SYSTEM, actor_for
from engine.tasks import return_task

ROOT = Path(__file__).resolve().parents[1]
PROCESSES = ROOT / "processes"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"

STEP_KEYS = {
    "task": {"task", "as", "org", "data", "opinion", "expect", "refused"},
    "advance": {"advance", "expect"},
    "advance_workdays": {"advance_workdays", "expect"},
    "message": {"message", "expect"},
    "return_to": {"return_to", "expect"},
    "expect": {"expect"},
}
EXPECT_KEYS = {"status", "end", "reached", "fired", "urged", "tasks", "due", "data"}
TOP_KEYS = {"title", "start", "steps", "expect"}


@dataclass(frozen=True)
class Scenario:
    process: str
    name: str
    path: Path
    title: str
    start: dict
    steps: list
    expect: dict

    @property
    def id(self) -> str:
        return f"{self.process}/{self.name}"


def all_scenarios() -> list[Scenario]:
    """Return every scenario file under tests/scenarios, sorted by process and name."""
    return [load_scenario(p) for p in sorted(SCENARIOS.glob("*/*.yaml"))]


def load_scenario(path: Path) -> Scenario:
    """Read and check one scenario file; unknown keys are errors, never silently ignored."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = f"{path.parent.name}/{path.name}"
    _check_keys(raw, TOP_KEYS, where)
    for i, step in enumerate(raw.get("steps") or [], 1):
        kind = next((k for k in STEP_KEYS if k in step and k != "expect"), "expect")
        _check_keys(step, STEP_KEYS[kind], f"{where} step {i}")
        if "expect" in step:
            _check_keys(step["expect"], EXPECT_KEYS, f"{where} step {i} expect")
    _check_keys(raw.get("expect") or {}, EXPECT_KEYS, f"{where} expect")
    return Scenario(process=path.parent.name, name=path.stem, path=path, title=raw.get("title", path.stem),
                    start=raw["start"], steps=raw.get("steps") or [], expect=raw.get("expect") or {})


def _check_keys(mapping: dict, allowed: set, where: str) -> None:
    unknown = set(mapping) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})")


def process_files(key: str) -> list[Path]:
    """Return the files that deploy one process of the library: its BPMN, config and the DMNs."""
    files = [PROCESSES / f"{key}.bpmn", *sorted(PROCESSES.glob("*.dmn"))]
    config = PROCESSES / f"{key}.yaml"
    return files + ([config] if config.exists() else [])



class ScenarioFailed(AssertionError):
    pass


class Player:
    """Play scenarios in one rolled-back transaction; optionally restore everything between steps."""

    def __init__(self, services, clock, *, restore: bool):
        self.services, self.clock, self.restore = services, clock, restore
        self.conn = services.engine.connect()
        self.trans = self.conn.begin()
        self.session = self._new_session()
        self.instance_id: int | None = None
        self.where = "start"

    def _new_session(self) -> Session:
        return Session(bind=self.conn, join_transaction_mode="create_savepoint", expire_on_commit=False,
                       info={"pingan": self.services.context})

    def close(self) -> None:
        self.session.close()
        self.trans.rollback()
        self.conn.close()

    def checkpoint(self) -> None:
        """End a step: in restore mode forget every object and parsed spec held in memory."""
        self.session.flush()
        if self.restore:
            self.session.commit()  # releases this step's savepoint; the outer transaction stays open
            self.session.close()
            definitions._SPEC_CACHE.clear()
            self.session = self._new_session()

    # -- playing ---------------------------------------------------------------------------
    def deploy(self, key: str) -> None:
        definitions.deploy(self.session, paths=process_files(key), actor="scenario")
        self.checkpoint()

    def play(self, scenario: Scenario) -> Instance:
        self.deploy(scenario.process)
        start = scenario.start
        actor = actor_for(self.session, username=start["as"])
        instance = runtime.start_instance(self.session, process_key=scenario.process, data=start.get("data") or {},
                                          actor=actor, org_code=start.get("org"))
        self.instance_id = instance.id
        self.checkpoint()
        for i, step in enumerate(scenario.steps, 1):
            self.where = f"step {i} ({_describe(step)})"
            self.run_step(step)
            if "expect" in step:
                self.check(step["expect"])
            self.checkpoint()
        self.where = "end"
        self.check(scenario.expect)
        return self.instance

    @property
    def instance(self) -> Instance:
        return self.session.get(Instance, self.instance_id, populate_existing=True)

    def run_step(self, step: dict) -> None:
        if "task" in step:
            self.do_task(step)
        elif "advance" in step:
            self.move_clock(_duration(step["advance"]))
        elif "advance_workdays" in step:
            calendar = context_of(self.session).calendar(self.session)
            target = calendar.add_workdays(self.clock.now(), int(step["advance_workdays"])) + timedelta(minutes=1)
            self.move_clock(target - self.clock.now())
        elif "message" in step:
            msg = step["message"]
            send_message(self.session, name=msg["name"], correlation=msg.get("correlation") or {},
                         payload=msg.get("payload") or {}, actor=SYSTEM)
        elif "return_to" in step:
            spec = step["return_to"]
            task = self.find_task(spec["task"], spec["as"], None)
            return_task(self.session, task_id=task.id, actor=actor_for(self.session, username=spec["as"]),
                        to_element=spec["to"], opinion=spec.get("opinion") or "退回")

    def do_task(self, step: dict) -> None:
        actor = actor_for(self.session, username=step["as"])
        refused = step.get("refused")
        try:
            task = self.find_task(step["task"], step["as"], step.get("org"), any_pool=bool(refused))
            runtime.complete_task(self.session, task_id=task.id, data=step.get("data") or {}, actor=actor,
                                  opinion=step.get("opinion"))
        except errors.EngineError as exc:
            if refused and type(exc).__name__ == refused:
                return  # the engine changes nothing when it refuses
            details = "; ".join(f"{d.field}: {d.message}" for d in getattr(exc, "details", []) or [])
            raise ScenarioFailed(f"{self.where}: {type(exc).__name__}: {exc} {details}") from exc
        if refused:
            raise ScenarioFailed(f"{self.where}: expected the engine to refuse with {refused}, but it accepted")
        instance = self.instance
        if instance.status == "error":
            raise ScenarioFailed(f"{self.where}: the case went into error: {instance.error}")

    def find_task(self, element: str, username: str, org: str | None, *, any_pool: bool = False) -> HumanTask:
        """Return the open task ``element`` that ``username`` may do (in ``org`` for multi-instance steps)."""
        actor = actor_for(self.session, username=username)
        rows = self.open_tasks()
        matching = [t for t in rows if t.element_id == element and (org is None or t.candidate_org.code == org)]
        mine = [t for t in matching if runtime.may_act(t, actor)]
        if mine:
            return mine[0]
        if any_pool and matching:
            return matching[0]
        pools = [f"{t.element_id}({t.candidate_role}@{t.candidate_org.code if t.candidate_org else '-'}"
                 f"{', ' + t.assignee.username if t.assignee_id else ''})" for t in rows]
        raise ScenarioFailed(f"{self.where}: {username} has no open task '{element}'"
                             f"{' in ' + org if org else ''}; open: {pools or 'none'}; "
                             f"case status {self.instance.status} {self.instance.error or ''}")

    def move_clock(self, delta: timedelta) -> None:
        from engine.timers import fire_due

        self.clock.advance(delta)
        fire_due(self.session)
        instance = self.instance
        if instance.status == "error":
            raise ScenarioFailed(f"{self.where}: a timer put the case into error: {instance.error}")

    # -- checking --------------------------------------------------------------------------
    def open_tasks(self) -> list[HumanTask]:
        return list(self.session.scalars(select(HumanTask).where(
            HumanTask.instance_id == self.instance_id, HumanTask.status == TaskStatus.OPEN)
            .order_by(HumanTask.created_at, HumanTask.element_id).execution_options(populate_existing=True)))

    def history(self, kind: str) -> list[AuditEntry]:
        return list(self.session.scalars(select(AuditEntry).where(
            AuditEntry.instance_id == self.instance_id, AuditEntry.kind == kind).order_by(AuditEntry.seq)))

    def reached_end_events(self) -> list[str]:
        # The engine records only the final end event; side branches' ends are read from the workflow.
        loaded = runtime.load(self.session, instance_id=self.instance_id)
        return sorted({t.task_spec.bpmn_id for t in loaded.runner.wf.get_tasks(state=TaskState.COMPLETED)
                       if isinstance(t.task_spec, EndEvent) and t.workflow is loaded.runner.wf})

    def check(self, expect: dict) -> None:
        instance = self.instance
        fail = lambda what: ScenarioFailed(f"{self.where}: {what}")  # noqa: E731
        if "status" in expect and instance.status != expect["status"]:
            raise fail(f"status is {instance.status}, expected {expect['status']} {instance.error or ''}"
                       f"; open tasks {[t.element_id for t in self.open_tasks()]}")
        if "end" in expect and instance.end_event != expect["end"]:
            raise fail(f"ended at {instance.end_event}, expected {expect['end']}")
        if "tasks" in expect:
            got = sorted(t.element_id for t in self.open_tasks())
            if got != sorted(expect["tasks"]):
                raise fail(f"open tasks are {got}, expected {sorted(expect['tasks'])}")
        if "reached" in expect:
            reached = self.reached_end_events()
            missing = [e for e in expect["reached"] if e not in reached]
            if missing:
                raise fail(f"end events {missing} were not reached; reached {reached}")
        if "fired" in expect:
            fired = [e.element_id for e in self.history(EntryKind.TIMER)]
            missing = [e for e in expect["fired"] if e not in fired]
            if missing:
                raise fail(f"timers {missing} did not fire; fired {fired}")
        if "urged" in expect:
            urged = [e.element_id for e in self.history(EntryKind.URGED)]
            missing = [e for e in expect["urged"] if e not in urged]
            if missing:
                raise fail(f"tasks {missing} were not urged; urged {urged}")
        if "due" in expect:
            tasks = {t.element_id: t for t in self.open_tasks()}
            for element, moment in expect["due"].items():
                want = datetime.fromisoformat(str(moment))
                if element not in tasks or tasks[element].due_at != want:
                    got = tasks[element].due_at if element in tasks else "no such open task"
                    raise fail(f"due time of {element} is {got}, expected {want}")
        if "data" in expect:
            _subset(expect["data"], instance.data or {}, "data", fail)


def _subset(expected, actual, path: str, fail) -> None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            raise fail(f"{path} is {actual!r}, expected a mapping like {expected!r}")
        for key, value in expected.items():
            if key not in actual:
                raise fail(f"{path}.{key} is missing (have {sorted(actual)})")
            _subset(value, actual[key], f"{path}.{key}", fail)
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (e, a) in enumerate(zip(expected, actual)):
            _subset(e, a, f"{path}[{i}]", fail)
    elif expected != actual:
        raise fail(f"{path} is {actual!r}, expected {expected!r}")


_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def _duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration of weeks, days, hours, minutes and seconds (no months: ambiguous)."""
    m = _DURATION.match(str(text))
    if not m or str(text) in ("P", "PT"):
        raise ValueError(f"advance: '{text}' is not an ISO 8601 duration such as P3D or PT4H")
    w, d, h, mi, s = (int(x or 0) for x in m.groups())
    return timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)


def _describe(step: dict) -> str:
    if "task" in step:
        return f"{step['task']} as {step['as']}"
    for key in ("advance", "advance_workdays"):
        if key in step:
            return f"{key} {step[key]}"
    if "message" in step:
        return f"message {step['message'].get('name')}"
    if "return_to" in step:
        return f"return {step['return_to'].get('task')} to {step['return_to'].get('to')}"
    return "check"
