"""Scenario tests of a procedure: read ``tests/scenarios/<key>/<name>.yaml`` and play them on a sandbox.

A scenario is a case told from start to end: who starts it with what data, who does which task
with what data, when the clock moves, which message arrives, and what must hold afterwards.

    title: 村级调解达成协议，法院确认，回访已履行
    start: {as: wang.wg, org: dongjie-1, data: {...}}   # at: 2026-03-02T09:00:00+08:00 (optional)
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

``run_scenarios`` deploys the files once on a sandbox (``sandbox.py``) and plays each scenario in
a transaction of its own that is rolled back, on its own simulated clock starting at ``start.at``
(default Monday 2 March 2026, 09:00 Beijing time). A run is bounded: at most ``MAX_STEPS`` steps
per scenario, at most ``MAX_ADVANCE`` per clock move, the engine's step budget per step, and a
wall-clock budget for the whole run after which the scenario playing stops and the rest are
reported as not run.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

import yaml
from sqlalchemy.orm import Session

from .. import clock
from ..clock import FrozenClock
from ..context import Services, context_of
from ..definitions import deployment
from ..errors import DefinitionInvalid, NotFound, Problem
from ..settings import Settings
from .drafts import draft_files
from .player import Player, StepFailed
from .sandbox import DEFAULT_START, Sandbox, open_sandbox
from .workspace import check_files, file_kind

STEP_KEYS = {
    "task": {"task", "as", "org", "data", "opinion", "expect", "refused"},
    "advance": {"advance", "expect"},
    "advance_workdays": {"advance_workdays", "expect"},
    "message": {"message", "expect"},
    "return_to": {"return_to", "expect"},
    "expect": {"expect"},
}
EXPECT_KEYS = {"status", "end", "reached", "fired", "urged", "tasks", "due", "data"}
START_KEYS = {"as", "org", "data", "at"}
TOP_KEYS = {"title", "start", "steps", "expect"}
log = logging.getLogger(__name__)

MAX_STEPS = 500
DEFAULT_TIME_BUDGET = 120.0  # seconds for a whole run


@dataclass(frozen=True)
class Scenario:
    process: str
    name: str
    file: str
    title: str
    start: dict
    steps: list
    expect: dict

    @property
    def id(self) -> str:
        return f"{self.process}/{self.name}"


@dataclass
class FailingStep:
    """Where a scenario failed: index 0 is the start, 1..n the steps, n+1 the final expectations."""

    index: int
    kind: str  # file | deploy | start | step | end | budget
    description: str


@dataclass
class ScenarioResult:
    name: str          # <process>/<scenario>
    process: str
    file: str
    title: str
    passed: bool
    message: str
    message_en: str = ""
    failing_step: FailingStep | None = None
    path: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)  # sequence flows taken, to colour on the diagram
    open_tasks: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


_FOLDER_PATTERNS = ("processes/*.bpmn", "processes/*.dmn", "processes/*.yaml", "forms/*/*.yaml",
                    "tests/scenarios/*/*.yaml")


def folder_files(root: Path) -> dict[str, str]:
    """Read a working folder laid out like the repository into a file set (only the layout's folders)."""
    out = {}
    for pattern in _FOLDER_PATTERNS:
        for f in sorted(Path(root).glob(pattern)):
            rel = f.relative_to(root).as_posix()
            if f.is_file() and file_kind(rel):
                out[rel] = f.read_text(encoding="utf-8-sig")
    return check_files(out)


def scenario_path(process: str, name: str) -> str:
    """Return where a scenario file lives in a file set."""
    return f"tests/scenarios/{process}/{name}.yaml"


def parse_scenario(text: str, *, file: str) -> Scenario:
    """Read and check one scenario file; unknown keys are errors, never silently ignored."""
    def bad(zh: str, en: str, line: int | None = None) -> DefinitionInvalid:
        return DefinitionInvalid(f"场景文件 {file} 格式错误：{zh}", message_en=f"scenario {file}: {en}",
                                 details=[Problem(zh, en, file=file, line=line)])

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise bad(f"YAML 无法解析（{getattr(exc, 'problem', None) or exc}）", "malformed YAML",
                  mark.line + 1 if mark is not None else None) from exc
    if not isinstance(raw, dict):
        raise bad("应为键值映射（title、start、steps、expect）", "must be a mapping (title, start, steps, expect)")
    _check_keys(raw, TOP_KEYS, "", bad)
    start = raw.get("start")
    if not isinstance(start, dict) or not start.get("as"):
        raise bad("缺少 start.as（发起人用户名）", "start.as (who starts the case) is missing")
    _check_keys(start, START_KEYS, "start", bad)
    steps = raw.get("steps") or []
    if not isinstance(steps, list):
        raise bad("steps 应为列表", "steps must be a list")
    if len(steps) > MAX_STEPS:
        raise bad(f"步骤过多（上限 {MAX_STEPS}）", f"too many steps (limit {MAX_STEPS})")
    for i, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            raise bad(f"第 {i} 步应为键值映射", f"step {i} must be a mapping")
        kind = next((k for k in STEP_KEYS if k in step and k != "expect"), "expect")
        _check_keys(step, STEP_KEYS[kind], f"第 {i} 步", bad)
        if kind == "task" and not step.get("as"):
            raise bad(f"第 {i} 步缺少 as（办理人用户名）", f"step {i}: 'as' is missing")
        if kind == "return_to" and not (isinstance(step["return_to"], dict)
                                        and {"task", "as", "to"} <= set(step["return_to"])):
            raise bad(f"第 {i} 步 return_to 需要 task、as、to", f"step {i}: return_to needs task, as and to")
        if kind == "message" and not (isinstance(step["message"], dict) and step["message"].get("name")):
            raise bad(f"第 {i} 步 message 需要 name", f"step {i}: message needs a name")
        if "expect" in step:
            _check_keys(step["expect"], EXPECT_KEYS, f"第 {i} 步 expect", bad)
    _check_keys(raw.get("expect") or {}, EXPECT_KEYS, "expect", bad)
    if start.get("at") is not None:
        _start_moment(start, bad)
    parts = PurePosixPath(file).parts
    process, name = parts[-2], PurePosixPath(file).stem
    return Scenario(process=process, name=name, file=file, title=str(raw.get("title") or name),
                    start=start, steps=steps, expect=raw.get("expect") or {})


def _check_keys(mapping, allowed: set, where: str, bad) -> None:
    if not isinstance(mapping, dict):
        raise bad(f"{where} 应为键值映射", f"{where} must be a mapping")
    unknown = set(mapping) - allowed
    if unknown:
        raise bad(f"{where + ' ' if where else ''}有未知的键 {sorted(unknown)}（可用：{sorted(allowed)}）",
                  f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})")


def _start_moment(start: dict, bad=None) -> datetime:
    value = start.get("at")
    if value is None:
        return DEFAULT_START
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        if bad:
            raise bad(f"start.at 应为带时区的时间，如 2026-03-02T09:00:00+08:00，而不是 {value}",
                      f"start.at must be a time with an offset, not {value}")
        return DEFAULT_START
    return moment


def describe_step(step: dict) -> str:
    """Say in Chinese what a step does."""
    if "task" in step:
        return f"{step.get('as')} 办理 {step['task']}" + ("（应被拒绝）" if step.get("refused") else "")
    if "advance" in step:
        return f"时间推进 {step['advance']}"
    if "advance_workdays" in step:
        return f"推进 {step['advance_workdays']} 个工作日"
    if "message" in step:
        return f"收到消息 {(step['message'] or {}).get('name')}"
    if "return_to" in step:
        spec = step["return_to"] or {}
        return f"{spec.get('as')} 将 {spec.get('task')} 退回到 {spec.get('to')}"
    return "检查"


def run_scenarios(files: dict[str, str], *, only: str | Iterable[str] | None = None,
                  settings: Settings | None = None, restore: bool = False,
                  time_budget: float = DEFAULT_TIME_BUDGET, within: Services | None = None) -> list[ScenarioResult]:
    """Play the scenarios of a file set on a throwaway database with simulated time; return one result each.

    ``only`` picks scenarios by name (``<scenario>`` or ``<process>/<scenario>``). With ``restore``
    every step runs in a fresh session with the parsed-spec cache emptied (what two requests on
    two workers see); the tests use it, and ``within`` to play on their own database (see
    ``open_sandbox``). Raises NotFound when ``only`` names no scenario.
    """
    started = time.monotonic()
    texts = {p: t for p, t in sorted(files.items()) if file_kind(p) == "scenario"}
    wanted = {only} if isinstance(only, str) else set(only or ())
    if wanted:
        texts = {p: t for p, t in texts.items() if _name_of(p) in wanted or PurePosixPath(p).stem in wanted}
        if not texts:
            raise NotFound(f"没有名为 {'、'.join(sorted(wanted))} 的场景",
                           message_en=f"no scenario named {', '.join(sorted(wanted))}")
    scenarios: list[Scenario | ScenarioResult] = []
    for path, text in texts.items():
        try:
            scenarios.append(parse_scenario(text, file=path))
        except DefinitionInvalid as exc:
            scenarios.append(_failed_before(path, exc.message, exc.message_en, "file", "场景文件"))
    if not scenarios:
        return []
    try:
        box = open_sandbox({p: t for p, t in files.items() if file_kind(p) != "scenario"}, settings=settings, within=within)
    except DefinitionInvalid as exc:
        problems = "；".join(str(d) for d in exc.details[:5])
        return [s if isinstance(s, ScenarioResult) else _failed_before(
                    s.file, f"流程文件未通过校验，未能部署：{exc.message}" + (f"：{problems}" if problems else ""),
                    f"the process files do not deploy: {exc.message_en}", "deploy", "部署流程", s)
                for s in scenarios]
    try:
        deadline = started + time_budget
        return [s if isinstance(s, ScenarioResult) else _play(box, s, restore=restore, deadline=deadline,
                                                              budget=time_budget)
                for s in scenarios]
    finally:
        box.close()


def _name_of(path: str) -> str:
    p = PurePosixPath(path)
    return f"{p.parent.name}/{p.stem}"


def _failed_before(path: str, message: str, message_en: str, kind: str, description: str,
                   scenario: Scenario | None = None) -> ScenarioResult:
    p = PurePosixPath(path)
    return ScenarioResult(name=_name_of(path), process=p.parent.name, file=path,
                          title=scenario.title if scenario else p.stem, passed=False, message=message,
                          message_en=message_en, failing_step=FailingStep(0, kind, description))


def _play(box: Sandbox, scenario: Scenario, *, restore: bool, deadline: float, budget: float) -> ScenarioResult:
    began = time.monotonic()
    result = ScenarioResult(name=scenario.id, process=scenario.process, file=scenario.file, title=scenario.title,
                            passed=False, message="")
    if began > deadline:
        result.message = f"未运行：本次测试已用时超过 {budget:.0f} 秒"
        result.message_en = f"not run: the test run took longer than {budget:.0f} s"
        result.failing_step = FailingStep(0, "budget", "时间预算")
        return result
    if scenario.process not in {d.key for d in box.deployed}:
        result.message = f"这些文件中没有流程 {scenario.process}（应有 processes/{scenario.process}.bpmn）"
        result.message_en = f"no process {scenario.process} among the files"
        result.failing_step = FailingStep(0, "start", "发起案件")
        return result
    own = box.connection is None
    conn = box.services.engine.connect() if own else box.connection
    trans = conn.begin() if own else conn.begin_nested()

    def new_session() -> Session:
        return Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False,
                       info={"pingan": box.services.context})

    sim = FrozenClock(_start_moment(scenario.start))
    player = Player(new_session(), sim)
    names = _task_names(player.session, scenario.process)
    step = FailingStep(0, "start", f"{scenario.start.get('as')} 发起案件")

    def checkpoint() -> None:
        player.session.flush()
        if restore:
            player.session.commit()  # releases this step's savepoint; the outer transaction stays open
            player.session.close()
            deployment._SPEC_CACHE.clear()
            player.session = new_session()

    try:
        with clock.using(sim):
            player.start(scenario.start, process=scenario.process)
            player.note_path()
            checkpoint()
            for i, raw in enumerate(scenario.steps, 1):
                step = FailingStep(i, "step", _with_names(describe_step(raw), raw, names))
                if time.monotonic() > deadline:
                    raise StepFailed(f"运行超过 {budget:.0f} 秒，已在此步之前停止",
                                     f"stopped before this step: the run took longer than {budget:.0f} s")
                player.run_step(raw)
                if "expect" in raw:
                    player.check(raw["expect"])
                checkpoint()
            step = FailingStep(len(scenario.steps) + 1, "end", "结束时的检查")
            player.check(scenario.expect)
        result.passed, result.message, result.message_en = True, "通过", "passed"
        step = None
    except StepFailed as exc:
        result.message, result.message_en = f"{_where(step)}：{exc.message}", exc.message_en
    except Exception as exc:  # a malformed value in the file (a list where a mapping belongs, ...)
        log.warning("scenario %s failed unexpectedly", scenario.id, exc_info=True)
        result.message = f"{_where(step)}：无法执行（{type(exc).__name__}：{str(exc)[:300]}），请检查该步的写法"
        result.message_en = f"could not be played: {type(exc).__name__}: {str(exc)[:300]}"
    finally:
        try:
            with clock.using(sim):
                player.note_path()
                result.open_tasks = sorted({t.element_id for t in player.open_tasks()})
        except Exception:  # the failure itself is what the designer needs; the path is a bonus
            player.session.rollback()
        result.path, result.flows = player.path, player.flows
        result.failing_step = step
        result.seconds = round(time.monotonic() - began, 3)
        player.session.close()
        trans.rollback()
        if own:
            conn.close()
    return result


def _where(step: FailingStep) -> str:
    if step.kind == "start":
        return "发起"
    if step.kind == "end":
        return "结束检查"
    return f"第 {step.index} 步（{step.description}）"


def _task_names(session: Session, process: str) -> dict[str, str]:
    try:
        definition = deployment.get_definition(session, key=process)
    except NotFound:
        return {}
    tasks = ((definition.spec or {}).get("meta") or {}).get("user_tasks") or {}
    return {k: v.get("name") or k for k, v in tasks.items()}


def _with_names(text: str, step: dict, names: dict[str, str]) -> str:
    element = step.get("task") or (step.get("return_to") or {}).get("task") if isinstance(step, dict) else None
    if element and names.get(element) and names[element] != element:
        return f"{text}「{names[element]}」"
    return text


# A request waits for the run: long enough for a procedure's scenarios (mediation's eight take a
# few seconds), short enough that a runaway file answers instead of hanging the page.
DRAFT_TIME_BUDGET = 60.0


def run_draft_scenarios(session: Session, *, draft_id: int, actor, only: Iterable[str] | None = None
                        ) -> list[ScenarioResult]:
    """Run a draft's scenarios on a sandbox, with the product's time zone, working hours and limits."""
    files = draft_files(session, draft_id=draft_id, actor=actor)
    return run_scenarios(files, only=list(only) if only else None, settings=context_of(session).settings,
                         time_budget=DRAFT_TIME_BUDGET)


@dataclass
class ScenarioEntry:
    name: str
    process: str
    file: str
    title: str
    steps: int
    problem: str | None = None  # why the file cannot be played, in Chinese


def list_draft_scenarios(session: Session, *, draft_id: int, actor) -> list[ScenarioEntry]:
    """Return a draft's scenarios with their titles, and what is wrong with a file that cannot be read."""
    out = []
    for path, text in sorted(draft_files(session, draft_id=draft_id, actor=actor).items()):
        if file_kind(path) != "scenario":
            continue
        p = PurePosixPath(path)
        try:
            scenario = parse_scenario(text, file=path)
            out.append(ScenarioEntry(scenario.id, scenario.process, path, scenario.title, len(scenario.steps)))
        except DefinitionInvalid as exc:
            out.append(ScenarioEntry(_name_of(path), p.parent.name, path, p.stem, 0, exc.message))
    return out
