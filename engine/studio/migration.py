"""Move running cases to another version of their process: a dry run per case, then a background job.

A case moves when everything it is doing now still exists in the target version: its open tasks,
the events it waits for, its running subprocesses (``engine/spiff/migration.py`` decides, with
SpiffWorkflow's diff). Each case moves in a transaction of its own under its instance lock, with
an audit entry naming both versions; one that cannot move is left exactly as it was and its
reason is kept with the job. Open tasks keep their ids, assignees, deadlines and drafts; tasks,
waits, timers and searchable fields are then synced as after any step.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy import and_, exists, func, inspect, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from .. import clock
from ..context import context_of
from ..definitions.deployment import get_definition, runtime_spec, with_cached_json
from ..definitions.lint import form_key_for
from ..errors import Conflict, EngineError, NotFound
from ..org.orgs import SYSTEM, Actor, role_for_lane
from ..runtime import lifecycle
from ..spiff.migration import Obstacle, migrate_runner, migration_obstacles
from ..spiff.workflow import Runner
from ..store import audit, case_state
from ..store.audit import EntryKind
from ..store.models import HumanTask, Instance, InstanceStatus, ProcessDefinition, TaskStatus
from .access import require_designer
from .migration_models import JobStatus, MigrationCase, MigrationJob

log = logging.getLogger(__name__)

# A runner that has not written for this long is taken to be gone; another may take the job over.
LEASE = timedelta(minutes=2)
MAX_CASES = 10_000  # cases one request may name or one job may move
_BATCH = 100


@dataclass(frozen=True)
class CaseOutcome:
    """Whether one case can move (dry run) or moved (job), and why not, in Chinese and English."""

    id: int
    business_key: str | None
    ok: bool
    reason: str
    reason_en: str
    from_version: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class JobView:
    """A migration job with its cases' outcomes so far."""

    job: MigrationJob
    cases: list[CaseOutcome]

    @property
    def stalled(self) -> bool:
        """Nobody is moving its cases: it failed, no runner took it, or its runner has not written within the lease."""
        job, since = self.job, clock.now() - LEASE
        if job.status == JobStatus.FAILED:
            return True
        if job.status == JobStatus.PENDING:
            return job.created_at < since
        return job.status == JobStatus.RUNNING and job.heartbeat_at is not None and job.heartbeat_at < since


class _Refused(Exception):
    def __init__(self, outcome: CaseOutcome):
        self.outcome = outcome


# -- choosing -----------------------------------------------------------------------------

def _target(session: Session, *, process_key: str, to_version: int, from_version: int | None) -> ProcessDefinition:
    target = get_definition(session, key=process_key, version=to_version)
    if target.version != to_version:  # get_definition treats 0 as "latest"
        raise NotFound(f"流程 '{process_key}' 没有版本 {to_version}",
                       message_en=f"process '{process_key}' has no version {to_version}")
    if from_version is not None:
        if from_version == to_version:
            raise EngineError("源版本与目标版本相同，无需迁移", message_en="the source and target versions are the same")
        source = get_definition(session, key=process_key, version=from_version)
        if source.version != from_version:
            raise NotFound(f"流程 '{process_key}' 没有版本 {from_version}",
                           message_en=f"process '{process_key}' has no version {from_version}")
    return target


def _chosen_ids(session: Session, *, target: ProcessDefinition, from_version: int | None,
                instance_ids: list[int] | None, step: str | None) -> list[int]:
    if instance_ids:
        ids = list(dict.fromkeys(int(i) for i in instance_ids))
    else:
        query = (select(Instance.id).join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
                 .where(Instance.process_key == target.key, Instance.definition_id != target.id,
                        Instance.status.in_([InstanceStatus.RUNNING.value, InstanceStatus.ERROR.value])))
        if from_version is not None:
            query = query.where(ProcessDefinition.version == from_version)
        if step:
            query = query.where(exists().where(HumanTask.instance_id == Instance.id,
                                               HumanTask.status == TaskStatus.OPEN.value, HumanTask.element_id == step))
        ids = list(session.scalars(query.order_by(Instance.id).limit(MAX_CASES + 1)))
    if len(ids) > MAX_CASES:
        raise EngineError(f"一次最多迁移 {MAX_CASES} 个案件，请按版本或当前步骤缩小范围",
                          message_en=f"at most {MAX_CASES} cases per migration; narrow the choice")
    return ids


# -- checking one case --------------------------------------------------------------------

_STATUS_ZH = {InstanceStatus.COMPLETED: "已办结", InstanceStatus.CANCELLED: "已撤销", InstanceStatus.ERROR: "出错待处理"}


def _outcome(instance: Instance, ok: bool, reason: str, reason_en: str) -> CaseOutcome:
    version = instance.definition.version if instance.definition is not None else None
    return CaseOutcome(instance.id, instance.business_key, ok, reason, reason_en, version)


def _precheck(instance: Instance, target: ProcessDefinition, from_version: int | None) -> CaseOutcome | None:
    """Refuse what the case's row alone rules out; None when its workflow must be looked at."""
    if instance.process_key != target.key:
        return _outcome(instance, False, f"案件属于另一个流程“{instance.definition.name}”（{instance.process_key}），"
                        f"不能迁移到“{target.name}”", f"the case belongs to another process ({instance.process_key})")
    version = instance.definition.version
    if instance.definition_id == target.id:
        return _outcome(instance, False, f"案件已在 v{target.version}", f"the case is already at v{target.version}")
    if from_version is not None and version != from_version:
        return _outcome(instance, False, f"案件在 v{version}，不是所选的 v{from_version}",
                        f"the case is at v{version}, not v{from_version}")
    if instance.status == InstanceStatus.ERROR:
        return _outcome(instance, False, "案件出错待处理：请管理员先重试，恢复办理后再迁移",
                        "the case is in error: have an administrator retry it first")
    if instance.status != InstanceStatus.RUNNING:
        return _outcome(instance, False, f"案件{_STATUS_ZH[instance.status]}，只有办理中的案件可以迁移",
                        f"the case is {instance.status}; only running cases move")
    return None


def _obstacle_text(obstacle: Obstacle, version: int) -> tuple[str, str]:
    where = f"子流程“{obstacle.subprocess}”中" if obstacle.subprocess else ""
    where_en = f" in subprocess '{obstacle.subprocess}'" if obstacle.subprocess else ""
    name = obstacle.element_name
    if obstacle.kind == "subprocess_removed":
        return (f"正在运行的子流程“{name}”在 v{version} 中已删除",
                f"the running subprocess '{obstacle.element_id}' is gone in v{version}")
    what = "当前步骤" if obstacle.user_task else ("正在等待的事件" if obstacle.waiting else "正在进行的环节")
    what_en = "current task" if obstacle.user_task else ("awaited event" if obstacle.waiting else "running step")
    if obstacle.kind == "removed":
        return (f"{where}{what}“{name}”在 v{version} 中已删除",
                f"the {what_en} '{obstacle.element_id}'{where_en} is gone in v{version}")
    return (f"{where}{what}“{name}”在 v{version} 中已改为另一种节点",
            f"the {what_en} '{obstacle.element_id}'{where_en} is another kind of element in v{version}")


def _restore(session: Session, instance: Instance) -> Runner:
    definition = with_cached_json(instance.definition)
    spec, subs = runtime_spec(definition)
    return case_state.restore(session.connection(), instance, spec, subs, context_of(session).script_engine)


def _open_rows(session: Session, instance_id: int) -> list[HumanTask]:
    return list(session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.created_at)))


def _plan(session: Session, loaded: lifecycle.Loaded, target: ProcessDefinition, open_rows: list[HumanTask]) -> Runner:
    """Return the case's workflow moved onto ``target`` and advanced; raise _Refused with the reason."""
    instance = loaded.instance
    spec, subs = runtime_spec(target)
    obstacles = migration_obstacles(loaded.runner, spec, subs)
    if obstacles:
        texts = [_obstacle_text(o, target.version) for o in obstacles]
        raise _Refused(_outcome(instance, False, "；".join(t[0] for t in texts), "; ".join(t[1] for t in texts)))
    for row in open_rows:
        if row.form_key not in target.forms:
            raise _Refused(_outcome(
                instance, False, f"待办“{row.title}”使用的表单 forms/{row.form_key}.yaml 在 v{target.version} 中已删除",
                f"the form forms/{row.form_key}.yaml of the open task '{row.element_id}' is gone in v{target.version}"))
    engine = context_of(session).script_engine
    moved = lifecycle.advance(session, loaded, lambda: migrate_runner(loaded.runner, spec, subs, engine))
    error = lifecycle.advance(session, lifecycle.Loaded(instance, target, moved), moved.run_engine_steps)
    if error is not None:
        where = f"“{error.element_name or error.element_id}”" if (error.element_name or error.element_id) else ""
        raise _Refused(_outcome(instance, False, f"迁移后自动环节{where}出错：{error.message}",
                                f"after moving, step {error.element_id or ''} failed: {error.message}"))
    return moved


def _ok_text(target: ProcessDefinition, runner: Runner, *, done: bool) -> tuple[str, str]:
    tasks = "、".join(dict.fromkeys(t.name for t in runner.ready_user_tasks())) or "无"
    if done:
        return f"已迁移到 v{target.version}，当前待办：{tasks}", f"moved to v{target.version}"
    return f"可以迁移到 v{target.version}，迁移后待办：{tasks}", f"can move to v{target.version}"


def check_case(session: Session, *, instance: Instance, target: ProcessDefinition,
               from_version: int | None = None, open_rows: list[HumanTask] | None = None) -> CaseOutcome:
    """Tell whether one case can move to ``target`` and why not; changes nothing.

    ``open_rows`` are the case's open task rows when the caller has read them already.
    """
    refused = _precheck(instance, target, from_version)
    if refused is not None:
        return refused
    try:
        loaded = lifecycle.Loaded(instance, instance.definition, _restore(session, instance))
        rows = _open_rows(session, instance.id) if open_rows is None else open_rows
        moved = _plan(session, loaded, target, rows)
    except _Refused as exc:
        return exc.outcome
    except Exception as exc:  # a workflow the diff cannot follow: say so for this case, check the others
        log.exception("checking case %s against v%s failed", instance.id, target.version)
        return _outcome(instance, False, f"无法检查该案件，不能迁移：{exc}", f"the case could not be checked: {exc}")
    return _outcome(instance, True, *_ok_text(target, moved, done=False))


@dataclass(frozen=True)
class DryRun:
    """The outcome of each case checked, and how many cases were chosen (more than checked past the limit)."""

    cases: list[CaseOutcome]
    total: int

    def __iter__(self) -> Iterator[CaseOutcome]:
        return iter(self.cases)

    def __len__(self) -> int:
        return len(self.cases)


def dry_run(session: Session, *, actor: Actor, process_key: str, to_version: int, from_version: int | None = None,
            instance_ids: list[int] | None = None, step: str | None = None, limit: int | None = None) -> DryRun:
    """Tell, per chosen case, whether it can move to ``to_version`` and why not; changes nothing.

    With ``limit`` only the first cases are checked (a request must answer in seconds); ``total``
    still counts every case chosen, all of which a job would move.
    """
    require_designer(actor)
    target = _target(session, process_key=process_key, to_version=to_version, from_version=from_version)
    chosen = _chosen_ids(session, target=target, from_version=from_version, instance_ids=instance_ids, step=step)
    checked = chosen[:limit] if limit is not None else chosen
    out = []
    for start in range(0, len(checked), _BATCH):
        # Cases and their open tasks a batch at a time: two queries per hundred cases, not two per case.
        batch = checked[start:start + _BATCH]
        held = {key for key in session.identity_map.keys()}
        instances = {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(batch)))}
        rows: dict[int, list[HumanTask]] = {i: [] for i in batch}
        for row in session.scalars(select(HumanTask).where(HumanTask.instance_id.in_(batch),
                                                           HumanTask.status == TaskStatus.OPEN)
                                   .order_by(HumanTask.created_at)):
            rows[row.instance_id].append(row)
        for instance_id in batch:
            instance = instances.get(instance_id)
            out.append(_missing(instance_id) if instance is None else check_case(
                session, instance=instance, target=target, from_version=from_version, open_rows=rows[instance_id]))
        # A dry run of thousands of cases need not keep every state in memory; what the caller held stays.
        for obj in [*instances.values(), *(r for batch_rows in rows.values() for r in batch_rows)]:
            if inspect(obj).key not in held:
                session.expunge(obj)
    return DryRun(out, len(chosen))


def _missing(instance_id: int) -> CaseOutcome:
    return CaseOutcome(instance_id, None, False, f"案件 {instance_id} 不存在", f"case {instance_id} not found")


# -- moving one case ----------------------------------------------------------------------

def migrate_case(session: Session, *, instance_id: int, target: ProcessDefinition, actor_name: str,
                 from_version: int | None = None) -> CaseOutcome:
    """Move one case to ``target`` under its lock, audited; a case that cannot move is left untouched.

    The caller commits (one case per transaction). Nothing is written for a refused case.
    """
    try:
        loaded = lifecycle.load(session, instance_id=instance_id)
    except NotFound:
        return _missing(instance_id)
    instance = loaded.instance
    refused = _precheck(instance, target, from_version)
    if refused is not None:
        return refused
    source = instance.definition
    try:
        moved = _plan(session, loaded, target, _open_rows(session, instance.id))
    except _Refused as exc:
        return exc.outcome
    try:
        with session.begin_nested():
            _apply(session, instance, source, target, moved, actor_name)
            if instance.status == InstanceStatus.ERROR:
                # Syncing the new version's tasks failed (an assignee or org expression): keep the old case.
                raise _Refused(CaseOutcome(instance.id, instance.business_key, False,
                                           f"迁移后任务分配出错：{instance.error.get('message')}",
                                           f"after moving, assigning tasks failed: {instance.error.get('message')}",
                                           source.version))
    except _Refused as exc:
        session.expire_all()
        return exc.outcome
    return CaseOutcome(instance.id, instance.business_key, True, *_ok_text(target, moved, done=True), source.version)


def _apply(session: Session, instance: Instance, source: ProcessDefinition, target: ProcessDefinition,
           moved: Runner, actor_name: str) -> None:
    instance.definition_id = target.id
    set_committed_value(instance, "definition", target)
    ready = {t.id: t for t in moved.ready_user_tasks()}
    carried = []
    for row in _open_rows(session, instance.id):
        task = ready.get(row.id)
        if task is None:
            continue  # sync closes it: the new version no longer offers it
        # Same task: id, assignee, candidate org, deadlines and draft stay; what the new diagram says about it is taken.
        row.element_id, row.title = task.element_id, task.name
        row.form_key = form_key_for(target.key, task.element_id, task.properties.get("formKey"))
        row.candidate_role = role_for_lane(task.lane)
        carried.append(row.id)
    # The opinion is what the case page's history shows beside the entry.
    audit.record(session, instance=instance, kind=EntryKind.MIGRATED, actor=actor_name,
                 opinion=f"流程版本 v{source.version} → v{target.version}",
                 payload={"from_version": source.version, "to_version": target.version,
                          "from_definition_id": source.id, "to_definition_id": target.id, "open_tasks_kept": carried})
    lifecycle.save(session, lifecycle.Loaded(instance, target, moved), actor=SYSTEM, error=None)


# -- jobs -----------------------------------------------------------------------------------

def start_migration(session: Session, *, actor: Actor, process_key: str, to_version: int,
                    from_version: int | None = None, instance_ids: list[int] | None = None,
                    step: str | None = None) -> MigrationJob:
    """Record a job moving the chosen cases to ``to_version``; a runner then moves them one by one."""
    require_designer(actor)
    target = _target(session, process_key=process_key, to_version=to_version, from_version=from_version)
    ids = _chosen_ids(session, target=target, from_version=from_version, instance_ids=instance_ids, step=step)
    job = MigrationJob(process_key=target.key, from_version=from_version, to_version=target.version,
                       definition_id=target.id, instance_ids=ids, status=JobStatus.PENDING, total=len(ids), done=0,
                       moved=0, created_by=actor.username, created_at=clock.now())
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, *, job_id: int, actor: Actor) -> JobView:
    """Return a migration job with the outcome of each case moved so far."""
    require_designer(actor)
    job = session.get(MigrationJob, job_id)
    if job is None:
        raise NotFound(f"迁移任务 {job_id} 不存在", message_en=f"migration job {job_id} not found")
    rows = session.scalars(select(MigrationCase).where(MigrationCase.job_id == job_id).order_by(MigrationCase.id))
    return JobView(job, [CaseOutcome(r.instance_id, r.business_key, r.ok, r.reason, r.reason_en, r.from_version)
                         for r in rows])


def list_jobs(session: Session, *, actor: Actor, process_key: str | None = None, limit: int = 20) -> list[JobView]:
    """Return the latest migration jobs (of one process), newest first, without their cases' outcomes."""
    require_designer(actor)
    query = select(MigrationJob).order_by(MigrationJob.id.desc()).limit(limit)
    if process_key:
        query = query.where(MigrationJob.process_key == process_key)
    return [JobView(job, []) for job in session.scalars(query)]


def resume_job(session: Session, *, job_id: int, actor: Actor) -> JobView:
    """Check that a stopped job may be taken up again (its runner failed or died); a runner then continues it."""
    view = get_job(session, job_id=job_id, actor=actor)
    if not (view.stalled or view.job.status == JobStatus.PENDING):
        raise Conflict(f"迁移任务 {job_id} 正在进行或已完成，无需继续",
                       message_en=f"migration job {job_id} is running or done")
    return view


def take_up_stalled_jobs(session_factory: sessionmaker, *, run: Callable[[int], None], now=None) -> list[int]:
    """Hand every job nobody is working on back to ``run``; return their ids.

    A job is taken up when its runner died (RUNNING, no heartbeat for a lease) or its hand-off was
    lost (PENDING for a lease: a thread that never started, a queued task that vanished). The
    timer sweep calls this, so a restart or a lost worker does not leave cases half moved until
    someone presses 继续. Marking it PENDING with a fresh heartbeat first means each job is handed
    out once per lease, however many sweeps run; the runner's own claim keeps two runners apart.
    A FAILED job is not retried on its own: it stopped on an error a designer should read.
    """
    now = now or clock.now()
    stale = now - LEASE
    unattended = or_(
        and_(MigrationJob.status == JobStatus.RUNNING.value, MigrationJob.heartbeat_at < stale),
        and_(MigrationJob.status == JobStatus.PENDING.value,
             func.coalesce(MigrationJob.heartbeat_at, MigrationJob.created_at) < stale))
    # Looked for with a plain read first: every sweep asks, and on SQLite a write would take the lock.
    with _transaction(session_factory) as s:
        if s.scalar(select(MigrationJob.id).where(unattended).limit(1)) is None:
            return []
    with _transaction(session_factory) as s:
        ids = list(s.scalars(
            update(MigrationJob).where(unattended).values(status=JobStatus.PENDING.value, heartbeat_at=now)
            .returning(MigrationJob.id).execution_options(synchronize_session=False)))
    for job_id in sorted(ids):
        log.warning("migration job %s had no runner for %s; taking it up again", job_id, LEASE)
        run(job_id)
    return sorted(ids)


def run_in_thread(session_factory: sessionmaker, job_id: int) -> threading.Thread:
    """Run a job on a daemon thread (the embedded deployment's background worker); return the thread."""
    def run() -> None:
        try:
            run_migration_job(session_factory, job_id)
        except Exception:  # a thread has no caller to tell; the job row says failed or stays resumable
            log.exception("migration job %s failed", job_id)

    thread = threading.Thread(target=run, name=f"pingan-migration-{job_id}", daemon=True)
    thread.start()
    return thread


@contextmanager
def _transaction(session_factory: sessionmaker) -> Iterator[Session]:
    session = session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _claim(session: Session, job_id: int) -> bool:
    now = clock.now()
    claimed = session.execute(update(MigrationJob).where(
        MigrationJob.id == job_id,
        # Failed: its runner stopped on the database or a bug; taking it again goes on where it stopped.
        or_(MigrationJob.status.in_([JobStatus.PENDING.value, JobStatus.FAILED.value]),
            (MigrationJob.status == JobStatus.RUNNING.value) & (MigrationJob.heartbeat_at < now - LEASE)))
        .values(status=JobStatus.RUNNING.value, started_at=func.coalesce(MigrationJob.started_at, now),
                heartbeat_at=now)
        .execution_options(synchronize_session=False))
    return claimed.rowcount == 1


def run_migration_job(session_factory: sessionmaker, job_id: int, *,
                      progress: Callable[[int, int, CaseOutcome], None] | None = None) -> JobStatus:
    """Move a job's cases, one transaction per case; the embedded thread, Celery and the CLI all call this.

    A job another runner is working on (heartbeat within the lease) is left alone and RUNNING is
    returned; a job whose runner died or failed is taken over where it stopped. Returns the job's
    status afterwards.
    """
    with _transaction(session_factory) as s:
        if not _claim(s, job_id):
            job = s.get(MigrationJob, job_id)
            if job is None:
                raise NotFound(f"迁移任务 {job_id} 不存在", message_en=f"migration job {job_id} not found")
            return JobStatus(job.status)
        job = s.get(MigrationJob, job_id)
        ids, actor_name = list(job.instance_ids), job.created_by
        definition_id, from_version = job.definition_id, job.from_version
        finished = set(s.scalars(select(MigrationCase.instance_id).where(MigrationCase.job_id == job_id)))
    total = len(ids)
    done = len(finished)
    try:
        for instance_id in ids:
            if instance_id in finished:
                continue
            outcome = _move_one(session_factory, job_id, instance_id, definition_id, actor_name, from_version)
            done += 1
            if progress is not None:
                progress(done, total, outcome)
        status = JobStatus.DONE
        error = None
    except Exception as exc:  # the database went away, or a bug: say so on the job, keep what was moved
        log.exception("migration job %s stopped", job_id)
        status, error = JobStatus.FAILED, str(exc)[:2000]
    with _transaction(session_factory) as s:
        s.execute(update(MigrationJob).where(MigrationJob.id == job_id).values(
            status=status.value, finished_at=clock.now() if status == JobStatus.DONE else None,
            heartbeat_at=clock.now(), error=error)
            .execution_options(synchronize_session=False))
    return status


def _move_one(session_factory: sessionmaker, job_id: int, instance_id: int, definition_id: int,
              actor_name: str, from_version: int | None) -> CaseOutcome:
    try:
        with _transaction(session_factory) as s:
            target = with_cached_json(s.get(ProcessDefinition, definition_id))
            outcome = migrate_case(s, instance_id=instance_id, target=target, actor_name=actor_name,
                                   from_version=from_version)
            _record(s, job_id, outcome)
        return outcome
    except Exception as exc:  # one broken case must not stop the others; it stays as it was
        log.warning("migrating case %s failed: %s", instance_id, exc, exc_info=not isinstance(exc, EngineError))
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        outcome = CaseOutcome(instance_id, None, False, f"迁移出错，案件保持原样：{message}",
                              f"migration failed, the case is unchanged: {message}")
        with _transaction(session_factory) as s:
            instance = s.get(Instance, instance_id)
            if instance is not None:
                outcome = CaseOutcome(instance_id, instance.business_key, False, outcome.reason, outcome.reason_en,
                                      instance.definition.version)
            _record(s, job_id, outcome)
        return outcome


def _record(session: Session, job_id: int, outcome: CaseOutcome) -> None:
    now = clock.now()
    session.add(MigrationCase(job_id=job_id, instance_id=outcome.id, business_key=outcome.business_key, ok=outcome.ok,
                              reason=outcome.reason[:1000], reason_en=outcome.reason_en[:1000],
                              from_version=outcome.from_version, at=now))
    session.execute(update(MigrationJob).where(MigrationJob.id == job_id).values(
        done=MigrationJob.done + 1, moved=MigrationJob.moved + (1 if outcome.ok else 0), heartbeat_at=now)
        .execution_options(synchronize_session=False))
    session.flush()
