"""Record a scenario by playing a draft: start it, do its tasks as chosen users, move time, save the steps.

A play session is a sandbox (``sandbox.py``: a throwaway SQLite file, the demo county, the
draft's files as they were when the session began) kept in ``<instance>/studio-play/<id>/``
with a ``state.json`` beside it: owner, draft, simulated time, the case and the recorded steps.
Any web worker can serve the next request of a session; a file lock keeps two requests of one
session in turn. Sessions belong to the designer who started them, end after ``IDLE_TTL`` without
use, and a designer has at most ``MAX_PER_USER`` (starting one more ends their least recently
used). Every action goes through the same engine functions as real work (``start_instance``,
``complete_task``, ``fire_due`` via the scenario player), and a recording is written in the
scenario format ``run_scenarios`` reads, so a saved recording passes when it is run.
"""
from __future__ import annotations

import fcntl
import json
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..context import context_of
from ..definitions.deployment import get_definition
from ..definitions.form_contract import start_contract, task_contract
from ..errors import Conflict, EngineError, NotAllowed, NotFound
from ..org.orgs import Actor, actor_for
from ..runtime import lifecycle
from ..settings import Settings
from ..store.audit import EntryKind
from ..store.models import EventWait, HumanTask, InstanceStatus, TaskStatus, User
from .access import require_designer
from .drafts import draft_files, get_draft, put_file
from .player import MAX_ADVANCE, MAX_WORKDAYS, Player, StepFailed
from .sandbox import Sandbox, open_sandbox, reopen_sandbox
from .scenarios import MAX_STEPS, parse_scenario, scenario_path
from .workspace import check_path

IDLE_TTL = timedelta(hours=2)
MAX_PER_USER = 3
FOLDER = "studio-play"


@dataclass
class PlayState:
    """What a play session remembers between requests (state.json)."""

    id: str
    owner: str
    draft_id: int
    revision: int
    process: str
    created_at: str
    touched_at: str
    now: str
    instance_id: int | None = None
    start: dict | None = None
    steps: list = field(default_factory=list)
    path: list = field(default_factory=list)
    flows: list = field(default_factory=list)


@dataclass
class Person:
    username: str
    name: str
    org: str


@dataclass
class PlayTask:
    id: str
    element_id: str
    name: str
    form_key: str
    candidate_role: str | None
    candidate_org: str | None
    assignee: str | None
    due_at: datetime | None
    form_schema: dict
    candidates: list[Person]


@dataclass
class PlayView:
    """A play session as the studio shows it."""

    id: str
    draft_id: int
    revision: int
    process: str
    now: datetime
    expires_at: datetime
    started: bool
    start_form: dict | None
    starters: list[Person]
    case: dict | None
    tasks: list[PlayTask]
    timers: list[dict]
    path: list[str]
    flows: list[str]
    steps: list[dict]


# -- sessions --------------------------------------------------------------------------------------

def start_play(session: Session, *, draft_id: int, actor: Actor) -> PlayView:
    """Begin a play session on a throwaway copy of the draft (its files as they are now)."""
    draft = get_draft(session, draft_id=draft_id, actor=actor)
    files = draft_files(session, draft_id=draft_id, actor=actor)
    settings = context_of(session).settings
    base = _base(settings)
    _sweep(base, owner=actor.username)
    play_id = secrets.token_hex(12)
    root = base / play_id
    root.mkdir(parents=True)
    try:
        box = open_sandbox(files, settings=settings, root=root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        keys = [d.key for d in box.deployed]
        process = draft.process_key if draft.process_key in keys else (keys[0] if keys else None)
        if process is None:
            raise EngineError("草稿中没有可运行的流程", message_en="the draft holds no process to play")
        now = _real_now()
        state = PlayState(id=play_id, owner=actor.username, draft_id=draft.id, revision=draft.revision,
                          process=process, created_at=now, touched_at=now, now=box.clock.now().isoformat())
        _write_state(root, state)
        with box.session() as s:
            return _view(s, box, state)
    except BaseException:
        box.close()
        raise
    finally:
        box.release()


def get_play(session: Session, *, draft_id: int, play_id: str, actor: Actor) -> PlayView:
    """Return a play session's state: the case, its open tasks with forms and who may do them, the path."""
    with _opened(session, draft_id, play_id, actor) as (box, state):
        with box.session() as s:
            return _view(s, box, state)


def end_play(session: Session, *, draft_id: int, play_id: str, actor: Actor) -> None:
    """End a play session and drop its database."""
    require_designer(actor)
    root = _base(context_of(session).settings) / _checked_id(play_id)
    with _locked(root):
        _own_state(root, draft_id, actor)
        shutil.rmtree(root, ignore_errors=True)


def play_start(session: Session, *, draft_id: int, play_id: str, actor: Actor, as_user: str,
               data: dict, org: str | None = None) -> PlayView:
    """Start the played case as ``as_user`` with the start form ``data``."""
    with _opened(session, draft_id, play_id, actor) as (box, state):
        if state.instance_id is not None:
            raise Conflict("该试运行已发起案件", message_en="this play session has already started its case")
        with box.session() as s:
            who = _sandbox_actor(s, as_user)
            instance = lifecycle.start_instance(s, process_key=state.process, data=data or {}, actor=who, org_code=org)
            player = Player(s, box.clock, instance_id=instance.id)
            _checked(player.fail_on_error, "发起后", "after the start")
            player.note_path()
            state.instance_id, state.path, state.flows = instance.id, player.path, player.flows
            state.start = {"as": who.username, **({"org": org} if org else {}), "data": data or {}}
            state.steps = []
            return _view(s, box, state)


def play_complete(session: Session, *, draft_id: int, play_id: str, actor: Actor, task_id: str, as_user: str,
                  data: dict, opinion: str | None = None) -> PlayView:
    """Complete an open task of the played case as ``as_user`` (form errors come back field by field)."""
    with _opened(session, draft_id, play_id, actor, started=True) as (box, state):
        with box.session() as s:
            who = _sandbox_actor(s, as_user)
            row = s.scalar(select(HumanTask).where(HumanTask.id == str(task_id), HumanTask.instance_id == state.instance_id,
                                                   HumanTask.status == TaskStatus.OPEN))
            if row is None:
                raise NotFound("该任务不存在或已办理", message_en="no such open task in this play session")
            if not lifecycle.may_act(row, who):
                raise NotAllowed(f"{who.name}（{who.username}）不能办理“{row.title}”：既不是办理人，也不在候选角色和组织范围内",
                                 message_en=f"{who.username} may not do {row.element_id}")
            twins = s.scalars(select(HumanTask.id).where(HumanTask.instance_id == state.instance_id,
                                                         HumanTask.status == TaskStatus.OPEN,
                                                         HumanTask.element_id == row.element_id)).all()
            step = {"task": row.element_id, "as": who.username}
            if len(twins) > 1 and row.candidate_org is not None:
                step["org"] = row.candidate_org.code  # which instance of a multi-instance step
            step["data"] = data or {}
            if opinion:
                step["opinion"] = opinion
            lifecycle.complete_task(s, task_id=row.id, data=data or {}, actor=who, opinion=opinion)
            _checked(Player(s, box.clock, instance_id=state.instance_id).fail_on_error, "办理后", "after the task")
            return _record(s, box, state, step)


def play_advance(session: Session, *, draft_id: int, play_id: str, actor: Actor, days: int = 0, hours: int = 0,
                 workdays: int = 0) -> PlayView:
    """Move the simulated time by days and hours, or by working days, firing every timer that falls due."""
    if workdays and (days or hours):
        raise EngineError("按工作日推进时不能同时指定天数或小时数", message_en="give working days, or days and hours")
    if workdays:
        if not 0 < workdays <= MAX_WORKDAYS:
            raise EngineError(f"工作日数应在 1 到 {MAX_WORKDAYS} 之间", message_en=f"workdays: 1 to {MAX_WORKDAYS}")
        step = {"advance_workdays": int(workdays)}
    else:
        delta = timedelta(days=days, hours=hours)
        if delta <= timedelta(0) or delta > MAX_ADVANCE or days < 0 or hours < 0:
            raise EngineError(f"推进时间应大于零且不超过 {MAX_ADVANCE.days} 天",
                              message_en=f"move the time by more than zero and at most {MAX_ADVANCE.days} days")
        step = {"advance": _iso_duration(days, hours)}
    with _opened(session, draft_id, play_id, actor, started=True) as (box, state):
        with box.session() as s:
            _play_step(s, box, state, step)
            return _record(s, box, state, step)


def play_message(session: Session, *, draft_id: int, play_id: str, actor: Actor, name: str,
                 correlation: dict, payload: dict) -> PlayView:
    """Deliver a message (a court's confirmation, say) to the played case."""
    step = {"message": {"name": name, "correlation": correlation or {}, "payload": payload or {}}}
    with _opened(session, draft_id, play_id, actor, started=True) as (box, state):
        with box.session() as s:
            _play_step(s, box, state, step)
            return _record(s, box, state, step)


def save_recording(session: Session, *, draft_id: int, play_id: str, actor: Actor, name: str,
                   base_revision: int, title: str | None = None, overwrite: bool = False) -> tuple[str, int]:
    """Save the recorded steps as ``tests/scenarios/<process>/<name>.yaml`` in the draft; return (path, revision)."""
    with _opened(session, draft_id, play_id, actor, started=True) as (box, state):
        with box.session() as s:
            text = _scenario_text(s, box, state, title or name)
    path = check_path(scenario_path(state.process, str(name).strip()))
    parse_scenario(text, file=path)  # what run_scenarios will read
    if not overwrite and path in draft_files(session, draft_id=draft_id, actor=actor):
        raise Conflict(f"草稿中已有场景 {path}，请换一个名称或选择覆盖",
                       message_en=f"the draft already has {path}: choose another name or overwrite")
    draft = put_file(session, draft_id=draft_id, path=path, text=text, base_revision=base_revision, actor=actor)
    return path, draft.revision


def recording_text(session: Session, *, draft_id: int, play_id: str, actor: Actor, title: str = "") -> str:
    """Return the scenario file the recording would be saved as (to show before saving)."""
    with _opened(session, draft_id, play_id, actor, started=True) as (box, state):
        with box.session() as s:
            return _scenario_text(s, box, state, title or "录制的场景")


# -- inside a session --------------------------------------------------------------------------------

def _play_step(s: Session, box: Sandbox, state: PlayState, step: dict) -> None:
    _checked(Player(s, box.clock, instance_id=state.instance_id).run_step, step)


def _checked(action, *args) -> None:
    # The play answers as the engine does; a case gone into error is refused and rolled back.
    try:
        action(*args)
    except StepFailed as exc:
        raise EngineError(exc.message, message_en=exc.message_en) from exc


def _record(s: Session, box: Sandbox, state: PlayState, step: dict) -> PlayView:
    if len(state.steps) >= MAX_STEPS:
        raise EngineError(f"录制的步骤已达上限 {MAX_STEPS}", message_en=f"at most {MAX_STEPS} steps")
    player = Player(s, box.clock, instance_id=state.instance_id, path=state.path, flows=state.flows)
    player.note_path()
    state.path, state.flows = player.path, player.flows
    step["expect"] = {"tasks": sorted(t.element_id for t in player.open_tasks())}
    state.steps.append(step)
    return _view(s, box, state)


def _scenario_text(s: Session, box: Sandbox, state: PlayState, title: str) -> str:
    player = Player(s, box.clock, instance_id=state.instance_id)
    instance = player.instance
    expect: dict = {"status": str(instance.status)}
    if instance.end_event:
        expect["end"] = instance.end_event
    if instance.status == InstanceStatus.RUNNING:
        expect["tasks"] = sorted(t.element_id for t in player.open_tasks())
    fired = list(dict.fromkeys(e.element_id for e in player.history(EntryKind.TIMER)))
    if fired:
        expect["fired"] = fired
    body = {"title": str(title)[:200], "start": dict(state.start or {}), "steps": state.steps, "expect": expect}
    return yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=120)


def _view(s: Session, box: Sandbox, state: PlayState) -> PlayView:
    definition = get_definition(s, key=state.process)
    people = _people(s)
    case, tasks, timers = None, [], []
    start_form, starters = None, []
    if state.instance_id is None:
        start_form = start_contract(s, definition=definition, org_path="/").schema()
        starters = [p for p, a in people if _may_start(definition, a)]
    else:
        instance = Player(s, box.clock, instance_id=state.instance_id).instance
        case = {"id": instance.id, "business_key": instance.business_key, "title": instance.title,
                "status": str(instance.status), "end_event": instance.end_event, "data": instance.data or {},
                "error": (instance.error or {}).get("message") if instance.status == InstanceStatus.ERROR else None}
        rows = s.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.status == TaskStatus.OPEN)
                         .order_by(HumanTask.created_at, HumanTask.element_id)).all()
        for row in rows:
            tasks.append(PlayTask(
                id=row.id, element_id=row.element_id, name=row.title, form_key=row.form_key,
                candidate_role=row.candidate_role, candidate_org=row.candidate_org.code if row.candidate_org else None,
                assignee=row.assignee.username if row.assignee_id else None, due_at=row.due_at,
                form_schema=task_contract(s, task=row, instance=instance, definition=definition).schema(),
                candidates=[p for p, a in people if lifecycle.may_act(row, a)]))
        timers = [{"element_id": w.element_id, "due_at": w.due_at} for w in s.scalars(
            select(EventWait).where(EventWait.instance_id == instance.id, EventWait.kind == "timer")
            .order_by(EventWait.due_at)) if w.due_at is not None]
    touched = datetime.fromisoformat(state.touched_at)
    return PlayView(id=state.id, draft_id=state.draft_id, revision=state.revision, process=state.process,
                    now=box.clock.now(), expires_at=touched + IDLE_TTL, started=state.instance_id is not None,
                    start_form=start_form, starters=starters, case=case, tasks=tasks, timers=timers,
                    path=list(state.path), flows=list(state.flows), steps=list(state.steps))


def _people(s: Session) -> list[tuple[Person, Actor]]:
    users = s.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all()
    out = []
    for user in users:
        who = actor_for(s, username=user.username)
        out.append((Person(user.username, user.name, user.org.name), who))
    return out


def _may_start(definition, who: Actor) -> bool:
    try:
        lifecycle.check_may_start(definition, actor=who, org_path=who.org_path)
        return True
    except NotAllowed:
        return False


def _sandbox_actor(s: Session, username: str) -> Actor:
    try:
        return actor_for(s, username=str(username))
    except NotFound as exc:
        raise NotFound(f"试运行中没有用户 {username}（试运行使用示范县的用户）",
                       message_en=f"no user {username} in the play session (it uses the demo county)") from exc


def _iso_duration(days: int, hours: int) -> str:
    return "P" + (f"{days}D" if days else "") + (f"T{hours}H" if hours else "")


# -- storage -----------------------------------------------------------------------------------------

def _base(settings: Settings) -> Path:
    return Path(settings.instance_path) / FOLDER


def _checked_id(play_id: str) -> str:
    if not (isinstance(play_id, str) and len(play_id) == 24 and all(c in "0123456789abcdef" for c in play_id)):
        raise NotFound("试运行不存在或已过期", message_en="no such play session")
    return play_id


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    if not root.is_dir():
        raise NotFound("试运行不存在或已过期", message_en="no such play session (it may have expired)")
    with open(root / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _own_state(root: Path, draft_id: int, actor: Actor) -> PlayState:
    try:
        state = PlayState(**json.loads((root / "state.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise NotFound("试运行不存在或已过期", message_en="no such play session") from exc
    # Another designer's session, or one of another draft, is not there for this one.
    if state.owner != actor.username or state.draft_id != draft_id:
        raise NotFound("试运行不存在或已过期", message_en="no such play session")
    if datetime.fromisoformat(state.touched_at) + IDLE_TTL < clock_real_now():
        shutil.rmtree(root, ignore_errors=True)
        raise NotFound("试运行已过期，请重新开始", message_en="the play session expired: start a new one")
    return state


@contextmanager
def _opened(session: Session, draft_id: int, play_id: str, actor: Actor, *,
            started: bool = False) -> Iterator[tuple[Sandbox, PlayState]]:
    """Lock a session, reopen its sandbox at its simulated time; save its state if the block succeeds."""
    require_designer(actor)
    settings = context_of(session).settings
    root = _base(settings) / _checked_id(play_id)
    with _locked(root):
        state = _own_state(root, draft_id, actor)
        if started and state.instance_id is None:
            raise Conflict("请先发起案件", message_en="start the case first")
        box = reopen_sandbox(root, settings=settings, now=datetime.fromisoformat(state.now))
        try:
            yield box, state
            state.now = box.clock.now().isoformat()
            state.touched_at = _real_now()
            _write_state(root, state)
        finally:
            box.release()


def _write_state(root: Path, state: PlayState) -> None:
    temporary = root / "state.json.new"
    temporary.write_text(json.dumps(asdict(state), ensure_ascii=False), encoding="utf-8")
    temporary.replace(root / "state.json")


def _sweep(base: Path, *, owner: str) -> None:
    """Remove expired sessions, and the owner's least recently used beyond MAX_PER_USER - 1."""
    if not base.is_dir():
        return
    now, mine = clock_real_now(), []
    for root in base.iterdir():
        try:
            state = json.loads((root / "state.json").read_text(encoding="utf-8"))
            touched = datetime.fromisoformat(state["touched_at"])
        except (OSError, ValueError, KeyError, TypeError):
            # A folder without a readable state is a session being created, or a broken one.
            if root.is_dir() and _age(root) > IDLE_TTL:
                shutil.rmtree(root, ignore_errors=True)
            continue
        if touched + IDLE_TTL < now:
            shutil.rmtree(root, ignore_errors=True)
        elif state.get("owner") == owner:
            # The file's own time breaks ties: two sessions touched within one tick of the clock.
            mine.append((touched, (root / "state.json").stat().st_mtime_ns, root))
    for _, _, root in sorted(mine)[:max(0, len(mine) - MAX_PER_USER + 1)]:
        try:
            with _locked(root):
                shutil.rmtree(root, ignore_errors=True)
        except NotFound:
            pass  # ended meanwhile


def _age(root: Path) -> timedelta:
    return datetime.now(timezone.utc) - datetime.fromtimestamp(root.stat().st_mtime, tz=timezone.utc)


def clock_real_now() -> datetime:
    # Called outside every sandbox block: the process clock, not a sandbox's simulated one.
    return clock.now()


def _real_now() -> str:
    return clock_real_now().isoformat()
