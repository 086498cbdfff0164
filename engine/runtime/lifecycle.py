"""Run instances: start, complete, cancel and retry them, each change under the instance lock."""
from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import EllipsisType

from sqlalchemy import Text, bindparam, cast, exists, func, insert, null, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from .. import clock
from ..board.platform_figures import platform_figures
from ..cases.attachments import AttachmentRejected, AttachmentTooLarge, Upload, save_attachment
from ..context import context_of
from ..definitions.deployment import get_definition, runtime_spec, with_cached_json
from ..definitions.form_contract import message_contract, parameters, start_contract, task_contract
from ..definitions.scripting import use_calendar, use_platform_reader
from ..errors import EngineError, FormInvalid, NotAllowed, NotFound, Problem, ScriptFailed, TaskNotOpen
from ..org.orgs import SYSTEM, Actor, get_org
from ..org.visibility import can_see, may_act
from ..signing import queue as signing_queue
from ..signing.models import Position, SignerStatus, TaskSigner, pending as signing_pending
from ..spiff import cache as workflow_cache
from ..spiff.workflow import SERIALIZER_VERSION, Runner, StepError
from ..store import audit, case_state
from ..store.audit import EntryKind
from ..store.models import HumanTask, Instance, InstanceStatus, Org, ProcessDefinition, TaskActor, TaskStatus
from ..store.rows import attach, bound_rows, insert_rows, put, write_changes
from .sync import KnownRows, sync_after_step


@dataclass
class Loaded:
    """An instance with its running workflow, loaded under the instance lock."""

    instance: Instance
    definition: ProcessDefinition
    runner: Runner
    new: bool = False  # started in this transaction: it has no task, wait or field rows yet
    # History entries this step recorded, inserted together by ``save`` (audit.record ``into``).
    entries: list = field(default_factory=list)
    # Read with the task under the lock (open_task_for_update); None when not read.
    after_signers: bool | None = None
    actor_known: bool = False  # the acting user is already among the case's task actors
    # The case's task, wait and field rows when known without reading them: kept with the
    # workflow by the save that wrote them; None means read them.
    rows_known: KnownRows | None = None
    # Writes of this step that nothing reads before its save, sent with the case's UPDATE
    # (``write_step``): the task it completed (``_FINISH_TASK``'s values) and the user to add
    # to the case's task actors.
    finished: dict | None = None
    new_actor: int | None = None
    # Inserts the step's projections left for the same statement: (table, rows), few rows each
    # (rows.insert_now_or_later). None where a save writes them at once (SQLite).
    later: list | None = None


# Built once: composing a statement costs about as much as running it. Rows, not ORM loads:
# rows.attach makes (or refreshes) the objects callers get from them without a query.
_I, _T, _D, _O = Instance.__table__, HumanTask.__table__, ProcessDefinition.__table__, Org.__table__
_A = TaskActor.__table__
_CASE_KEYS = tuple(c.key for c in _I.c)
_TASK_KEYS = tuple(c.key for c in _T.c)
# Not the large or JSON columns: forms and config come from the per-process cache, spec only
# on a spec-cache miss (engine/definitions/deployment.py).
_DEFINITION_KEYS = ("id", "key", "version", "name", "content_hash", "deployed_at", "deployed_by")
_CASE_COLUMNS = (*(c.label(f"i_{c.key}") for c in _I.c), *(_D.c[k].label(f"d_{k}") for k in _DEFINITION_KEYS))
# The same with the state as the JSON text the database holds, decoded only when no kept
# workflow is taken instead (``restore_locked``): a mediation case's state is 17-49 KB of JSON.
_CASE_COLUMNS_STATE_TEXT = tuple(cast(_I.c.state, Text).label("i_state_text") if c.key == "i_state" else c
                                 for c in _CASE_COLUMNS)
_CASE_FROM = _I.join(_D, _D.c.id == _I.c.definition_id)
_LOCK = (select(*_CASE_COLUMNS).select_from(_CASE_FROM).where(_I.c.id == bindparam("instance_id"))
         .with_for_update(of=_I))
# The task, its case and what a completion asks next, in one statement. On PostgreSQL the task
# row is locked with the case: a completion that committed while this one waited for the lock is
# then seen in the task's status, which a row merely joined to the locked one would not show.
_AFTER_SIGNERS = exists().where(TaskSigner.task_id == _T.c.id, TaskSigner.status == SignerStatus.PENDING.value,
                                TaskSigner.position == Position.AFTER.value)
_KNOWN_ACTOR = exists().where(TaskActor.instance_id == _I.c.id, TaskActor.user_id == bindparam("user_id"))
_LOCK_TASK_CASE = (select(*(c.label(f"t_{c.key}") for c in _T.c), *_CASE_COLUMNS_STATE_TEXT, _O.c.path.label("o_path"),
                          _AFTER_SIGNERS.label("after_signers"), _KNOWN_ACTOR.label("actor_known"))
                   .select_from(_T.join(_I, _I.c.id == _T.c.instance_id).join(_D, _D.c.id == _I.c.definition_id)
                                .outerjoin(_O, _O.c.id == _T.c.candidate_org_id))
                   .where(_T.c.id == bindparam("task_id")).with_for_update(of=(_I, _T)))


def _case_of(session: Session, row) -> tuple[Instance, str | None | EllipsisType]:
    """The session's Instance (with its definition) for a row of ``_LOCK`` or ``_LOCK_TASK_CASE``, and
    its state as text when still to decode (for ``restore_locked``), else ``...``.

    A row of the second carries the state as text (``i_state_text``): a new Instance is left
    without it (``restore_locked`` decodes it if it needs it, and a reader would load it), one
    the session held takes it decoded, never keeping an older one.
    """
    m = row._mapping
    definition = attach(session, ProcessDefinition, {k: m[f"d_{k}"] for k in _DEFINITION_KEYS})
    state_text = ...
    if "i_state_text" not in m:
        instance = attach(session, Instance, {k: m[f"i_{k}"] for k in _CASE_KEYS})
    else:
        held = session.identity_map.get(identity_key(Instance, m["i_id"])) is not None
        instance = attach(session, Instance, {k: m[f"i_{k}"] for k in _CASE_KEYS if k != "state"})
        if held:
            put(instance, state=_decoded(m["i_state_text"]))
        else:
            state_text = m["i_state_text"]
    put(instance, definition=definition)
    return instance, state_text


def _decoded(state_text: str | None):
    """A state read as text, as the JSON column would have given it."""
    return None if state_text is None else json.loads(state_text)


def _locked_case(session: Session, instance_id: int) -> Instance:
    session.flush()  # what the caller left pending is in the database before the case is read
    row = session.connection().execute(_LOCK, {"instance_id": instance_id}).first()
    if row is None:
        raise NotFound(f"案件 {instance_id} 不存在", message_en=f"instance {instance_id} not found")
    return _case_of(session, row)[0]


def lock_instance(session: Session, *, instance_id: int) -> Instance:
    """Take the instance's row lock (PostgreSQL) or the database write lock (SQLite)."""
    return _locked_case(session, instance_id)


def load(session: Session, *, instance_id: int) -> Loaded:
    """Lock an instance and restore its workflow."""
    return restore_locked(session, _locked_case(session, instance_id))


def restore_locked(session: Session, instance: Instance, rows: list | None = None, *,
                   state_text: str | None | EllipsisType = ...) -> Loaded:
    """Return the workflow of a case already locked and read (the kept one when its version matches).

    ``state_text``: the case's state as the text the database holds, when the lock read it so
    (``_LOCK_TASK_CASE``); decoded only if no kept workflow is taken.
    """
    with_cached_json(instance.definition)
    engine = context_of(session).script_engine
    # The workflow this process saved at the row's current version, if it still holds it: the
    # same workflow a restore would build (engine/spiff/cache.py), without building it.
    if state_text is ...:
        kept = workflow_cache.take_kept(instance.id, version=instance.lock_version,
                                        fingerprint=state_fingerprint(instance))
    else:
        kept = workflow_cache.take_kept_if(instance.id, version=instance.lock_version,
                                           accept=lambda fingerprint: _fingerprint_in(instance, fingerprint, state_text))
    if kept is not None:
        workflow, rows_known = kept
        return Loaded(instance, instance.definition, Runner.resume(workflow, engine), rows_known=rows_known)
    if state_text is not ...:
        put(instance, state=_decoded(state_text))
    spec, subs = runtime_spec(instance.definition)
    return Loaded(instance, instance.definition,
                  case_state.restore(session.connection(), instance, spec, subs, engine, rows))


def state_fingerprint(instance: Instance) -> tuple:
    """What, beside id and version, must match for a kept workflow to be this case's.

    An id used again (SQLite, after a rollback or a deletion) never brings back another case's tasks.
    """
    return instance.definition_id, (instance.state or {}).get("root")


def _workflow_fingerprint(instance: Instance, runner: Runner) -> tuple:
    """``state_fingerprint`` of the state ``runner``'s workflow was restored from or dumped to (its root's id)."""
    return instance.definition_id, str(runner.wf.task_tree.id)


def _fingerprint_in(instance: Instance, fingerprint: tuple, state_text: str | None) -> bool:
    """Whether a kept workflow's fingerprint is that of the state read as text, without decoding it.

    The root's id is a random UUID, so the text naming it as its root is this workflow's state;
    a text written otherwise (other spacing) only makes the case restored, never wrongly kept.
    """
    definition_id, root = fingerprint
    return (definition_id == instance.definition_id and root is not None and state_text is not None
            and f'"root": "{root}"' in state_text)


# Every column a save may change, in one prebuilt statement with the optimistic version check the
# mapper's version_id_col would make. An error set back to none is SQL NULL (the second form),
# never the JSON text 'null'.
_SAVED = ("definition_id", "process_key", "business_key", "title", "status", "updated_at", "ended_at", "end_event",
          "state", "serializer_version", "data", "audit_head", "audit_seq")


def _case_update(with_error: bool, prefix: str = ""):
    return (update(_I).where(_I.c.id == bindparam(f"{prefix}w_id"), _I.c.lock_version == bindparam(f"{prefix}w_version"))
            .values({**{_I.c[k]: bindparam(f"{prefix}{k}") for k in _SAVED}, _I.c.lock_version: bindparam(f"{prefix}lock_version"),
                     _I.c.error: bindparam(f"{prefix}error") if with_error else null()}))


_SAVE_CASE = {with_error: _case_update(with_error) for with_error in (True, False)}


def save(session: Session, loaded: Loaded, *, actor: Actor, error: StepError | None) -> Instance:
    """Persist the workflow, its open tasks, waits and projections; record how the step ended.

    The case row is written once, with a prebuilt Core UPDATE; what the step set on the
    instance goes in as the object's committed values (rows.put), so the object stays clean.
    """
    instance, runner = loaded.instance, loaded.runner
    now = clock.now()
    loaded.later = [] if session.connection().dialect.name == "postgresql" else None
    try:
        case_state.put_state(session.connection(), instance, runner, updated_at=now)
        put(instance, title=case_title(session, loaded.definition, instance.data, instance))
        if error is None:
            error = sync_after_step(session, loaded, actor=actor)
        else:
            loaded.rows_known = None  # not synced: the step's own writes (its task row) are not in them
        loaded.new = False
        if error is not None:
            put(instance, status=InstanceStatus.ERROR, error=error.as_dict())
            audit.record(session, instance=instance, kind=EntryKind.ERROR, actor=actor.username,
                         task_id=error.task_id, element_id=error.element_id, payload=instance.error,
                         into=loaded.entries)
        elif runner.completed and instance.status != InstanceStatus.CANCELLED:
            put(instance, status=InstanceStatus.COMPLETED, ended_at=now, end_event=runner.end_event(), error=None)
            audit.record(session, instance=instance, kind=EntryKind.FINISHED, actor=actor.username,
                         element_id=instance.end_event, into=loaded.entries)
        elif instance.status == InstanceStatus.ERROR:
            put(instance, status=InstanceStatus.RUNNING, error=None)
        write_step(session, loaded)
    except BaseException:
        # What the step set on the objects never reached the database: read them again if asked.
        session.expire(instance)
        raise
    # Task rows other code changed through the ORM before this save (the hot path changes none).
    for obj in session.dirty:
        if isinstance(obj, HumanTask) and obj.instance_id == instance.id:
            write_changes(session, obj)
    session.flush()
    if instance.status in (InstanceStatus.RUNNING, InstanceStatus.ERROR):
        # Kept once the caller's transaction commits, as the row's state at its new version.
        workflow_cache.keep_after_commit(session, instance_id=instance.id, version=instance.lock_version,
                                         workflow=runner.wf, fingerprint=state_fingerprint(instance),
                                         companion=loaded.rows_known)
    return instance


def give_back(session: Session, loaded: Loaded) -> None:
    """Keep a workflow this transaction took but did not move, at the case's version once it commits.

    For what locks a case and leaves its workflow and its task, wait and field rows as they were
    but for who holds a task (claim, transfer, a look at the path taken): without it, the next
    step would restore the workflow and read its rows again.
    """
    session.flush()  # the row's version as this transaction leaves it
    instance = loaded.instance
    if instance.status in (InstanceStatus.RUNNING, InstanceStatus.ERROR):
        workflow_cache.keep_after_commit(session, instance_id=instance.id, version=instance.lock_version,
                                         workflow=loaded.runner.wf,
                                         fingerprint=_workflow_fingerprint(instance, loaded.runner),
                                         companion=loaded.rows_known)


def _case_values(instance: Instance) -> dict:
    return {**{k: getattr(instance, k) for k in _SAVED}, "error": instance.error,
            "lock_version": instance.lock_version + 1, "w_id": instance.id, "w_version": instance.lock_version}


def _written(instance: Instance, p: dict) -> None:
    # Written: also what other code set through the ORM on these columns, which a flush now skips.
    put(instance, **{k: p[k] for k in _SAVED}, error=p["error"], lock_version=p["lock_version"])


def _stale(expected: int, matched: int) -> StaleDataError:
    return StaleDataError(f"UPDATE statement on table 'instances' expected to update {expected} row(s); "
                          f"{matched} were matched.")


def write_cases(session: Session, instances: list[Instance]) -> None:
    """Write the case rows with the prebuilt UPDATE, checking and bumping each ``lock_version``.

    One statement for one case; for several (the timer batch), one executemany per error form.
    """
    groups: dict[bool, list[tuple[Instance, dict]]] = {}
    for instance in instances:
        groups.setdefault(instance.error is not None, []).append((instance, _case_values(instance)))
    conn = session.connection()
    for with_error, written in groups.items():
        params = [p for _, p in written]
        result = conn.execute(_SAVE_CASE[with_error], params[0] if len(params) == 1 else params)
        if (len(params) == 1 or conn.dialect.supports_sane_multi_rowcount) and result.rowcount != len(params):
            raise _stale(len(params), result.rowcount)
        for instance, p in written:
            _written(instance, p)


def write_step(session: Session, loaded: Loaded) -> None:
    """Write what a step left for its save: the completed task, a new task actor, new task and
    case field rows (``later``), history entries, the case row.

    On PostgreSQL in one statement (``_one_write``): each is a round trip of its own otherwise,
    and a completion's round trips were most of its time there. Elsewhere one after the other.
    The case's ``lock_version`` is checked and bumped as ``write_cases`` does.
    """
    instance, conn = loaded.instance, session.connection()
    values = _case_values(instance)
    finished, actor_id, entries = loaded.finished, loaded.new_actor, loaded.entries
    if conn.dialect.name == "postgresql":
        later = loaded.later or []  # set by save on PostgreSQL only: elsewhere every row went at once
        if len(entries) > _ENTRIES_IN_ONE:  # a step that fired many timers: its entries go first, on their own
            audit.write(session, entries)
        inserts = tuple((table, tuple(rows[0]), len(rows)) for table, rows in later)
        statement = _one_write(finished is not None, actor_id is not None, len(entries), instance.error is not None,
                               inserts)
        # Every parameter prefixed: one named like a column of a table the statement updates
        # would be taken as a value to set there too (SQLAlchemy's rule for UPDATE parameters).
        params = {f"c_{k}": v for k, v in values.items()}
        if finished is not None:
            params.update({f"t_{k}": v for k, v in finished.items()})
        if actor_id is not None:
            params.update(a_instance_id=instance.id, a_user_id=actor_id)
        params.update(audit.bound(entries))
        for index, (_table, rows) in enumerate(later):
            params.update(bound_rows(rows, f"r{index}_"))
        matched = conn.execute(statement, params).scalar_one()
        if matched != 1:
            raise _stale(1, matched)
        entries.clear()
    else:
        if finished is not None:
            conn.execute(_FINISH_TASK, finished)
        if actor_id is not None:
            _remember_actor(session, instance.id, actor_id)
        audit.write(session, entries)
        matched = conn.execute(_SAVE_CASE[instance.error is not None], values).rowcount
        if matched != 1:
            raise _stale(1, matched)
    loaded.finished = loaded.new_actor = loaded.later = None
    _written(instance, values)


_ONE_WRITE: dict[tuple, object] = {}
_ENTRIES_IN_ONE = 8  # history entries written inside the one statement; a shape per count is built and kept


def _one_write(finished: bool, actor: bool, entries: int, with_error: bool, inserts: tuple = ()):
    """The step's writes as data-modifying CTEs of one SELECT, which counts the case rows updated (built once per shape).

    ``inserts``: (table or ``rows.Selected``, columns, number of rows) of each insert left ``later``.
    """
    shape = (finished, actor, entries, with_error, inserts)
    statement = _ONE_WRITE.get(shape)
    if statement is None:
        ctes = [insert_rows(table, columns, count, f"r{index}_").cte(f"rows_{index}")
                for index, (table, columns, count) in enumerate(inserts)]
        if finished:
            ctes.append(update(_T).where(_T.c.id == bindparam("t_w_id")).values(
                status=bindparam("t_status"), completed_at=bindparam("t_completed_at"),
                completed_by_id=bindparam("t_completed_by_id"), draft=null()).cte("finished_task"))
        if actor:
            ctes.append(postgresql.insert(_A).values(instance_id=bindparam("a_instance_id"), user_id=bindparam("a_user_id"))
                        .on_conflict_do_nothing(index_elements=["instance_id", "user_id"]).cte("new_actor"))
        if entries:
            ctes.append(audit.insert_bound(entries).cte("history"))
        case = _case_update(with_error, "c_").returning(_I.c.id).cte("saved_case")
        statement = select(func.count()).select_from(case)
        if ctes:
            statement = statement.add_cte(*ctes)
        _ONE_WRITE[shape] = statement
    return statement


def advance(session: Session, loaded: Loaded, step) -> StepError | None:
    """Run one engine step with the working-day calendar and the platform's figures scripts may read."""
    with use_calendar(context_of(session).calendar(session)), \
            use_platform_reader(lambda org, start, end: platform_figures(session, org, start, end)):
        return step()


# The new case's id is all the INSERT returns: the rest of its row is what was sent (with the
# columns' defaults, ``last_inserted_params``) or NULL. Returning every column sent the state and
# the case data back to be decoded again: 4 % of a start's client instructions (section 16).
_INSERT_INSTANCE = insert(_I).returning(_I.c.id)
_UNSET = dict.fromkeys(_I.c.keys())


def start_instance(session: Session, *, process_key: str, data: dict | None = None, actor: Actor,
                   org_code: str | None = None, business_key: str | None = None,
                   version: int | None = None, uploads: Mapping[str, list[Upload]] | None = None,
                   message: str | None = None) -> Instance:
    """Start a case of the latest (or given) version of a process and run it to its first wait.

    ``data`` may carry only the start form's fields (a message's declared fields when ``message``
    starts the case); ``uploads`` are files chosen on the start form, stored as the new case's
    attachments and put into their fields.
    """
    definition = get_definition(session, key=process_key, version=version)
    org = get_org(session, code=org_code) if org_code else None
    if org is None and not actor.org_id:
        raise EngineError("系统发起的案件必须指定所属组织", message_en="a case started by the system needs an org")
    org_id, org_path = (org.id, org.path) if org else (actor.org_id, actor.org_path)
    check_may_start(definition, actor=actor, org_path=org_path)
    data = dict(data) if isinstance(data, Mapping) else ({} if data is None else data)
    pending = {name: [f"upload:{name}:{i}" for i in range(len(files))] for name, files in (uploads or {}).items() if files}
    if message is not None:
        contract = message_contract(session, definition=definition, name=message, org_path=org_path)
    else:
        contract = start_contract(session, definition=definition, org_path=org_path,
                                  new_files=[token for tokens in pending.values() for token in tokens])
        if isinstance(data, dict):
            for name, tokens in pending.items():
                given = data.get(name) or []
                data[name] = (given if isinstance(given, list) else [given]) + tokens
    # Parameters a designer sets in processes/<key>.yaml (thresholds, days, org codes) start every
    # case; submitted data can only set declared fields, and those are never named like a parameter.
    data = {**contract.accept(data), **copy.deepcopy(parameters(definition))}
    now = clock.now()
    # A Core INSERT … RETURNING: the persistent instance from its row, without the ORM's insert machinery.
    inserted = session.connection().execute(_INSERT_INSTANCE, dict(
        definition_id=definition.id, process_key=definition.key, business_key=business_key,
        status=InstanceStatus.RUNNING, org_id=org_id, started_by_id=actor.id or None, started_at=now,
        updated_at=now, state={}, serializer_version=SERIALIZER_VERSION, data=dict(data),
        title=definition.name))
    new_id = inserted.scalar_one()
    instance = attach(session, Instance, {**_UNSET, **inserted.last_inserted_params(), "id": new_id})
    put(instance, definition=definition)
    if business_key is None:
        prefix = (definition.config or {}).get("business_key_prefix") or definition.key.upper()
        put(instance, business_key=f"{prefix}-{now:%Y%m%d}-{instance.id:06d}")
    for name, files in (uploads or {}).items():
        if files:
            ids = _store_uploads(session, instance, contract.form.field(name), files, actor)
            data[name] = [ids.get(v, v) for v in data.get(name) or []]
    spec, subs = runtime_spec(definition)
    runner = Runner.start(spec, subs, context_of(session).script_engine, data)
    loaded = Loaded(instance, definition, runner, new=True)
    audit.record(session, instance=instance, kind=EntryKind.STARTED, actor=actor.username,
                 payload={"data": data, "version": definition.version}, into=loaded.entries)
    error = advance(session, loaded, runner.run_engine_steps)
    if actor.id:
        loaded.new_actor = actor.id  # written by the save, with the case (write_step)
    return save(session, loaded, actor=actor, error=error)


def _store_uploads(session: Session, instance: Instance, field, files: list[Upload], actor: Actor) -> dict[str, str]:
    """Store the start form's files as the case's attachments; map each placeholder to its attachment id."""
    ids = {}
    for index, upload in enumerate(files):
        try:
            row = save_attachment(session, instance_id=instance.id, actor=actor, filename=upload.filename,
                                  stream=upload.stream, content_type=upload.content_type, field=field.name,
                                  accept=field.accept)
        except (AttachmentRejected, AttachmentTooLarge) as exc:
            raise FormInvalid("表单填写有误，请检查标出的字段", message_en="The form has errors", details=[
                Problem(f"{upload.filename}：{exc.message}", exc.message_en, field=field.name)]) from exc
        ids[f"upload:{field.name}:{index}"] = row.id
    return ids


def check_may_start(definition: ProcessDefinition, *, actor: Actor, org_path: str) -> None:
    """Refuse a start by someone without a starting role over the case's org."""
    roles = (definition.config or {}).get("start_roles")
    if actor is SYSTEM or actor.is_admin:
        return
    allowed = any(actor.has_role(r, org_path) for r in roles) if roles else any(
        org_path.startswith(p) for _, p in actor.grants)
    if not allowed:
        raise NotAllowed(f"您无权在该组织发起“{definition.name}”",
                         message_en=f"you may not start '{definition.key}' in this org")


def case_title(session: Session, definition: ProcessDefinition, data: dict, instance: Instance) -> str:
    """The case's title: the definition's title expression over its data, else the title it has or name + business key."""
    expr = (definition.config or {}).get("title")
    if expr:
        try:
            value = context_of(session).script_engine.environment.evaluate(expr, dict(data))
            if value:
                return str(value)[:300]
        except Exception:  # a title is a convenience; a bad one must not block the case
            pass
    return instance.title if instance.title and instance.title != definition.name else f"{definition.name} {instance.business_key}"


def open_task_for_update(session: Session, *, task_id: str, actor: Actor,
                         hide_unseen: bool = False) -> tuple[HumanTask, Loaded]:
    """Lock the task's instance, then check the task is still open and the actor may act.

    With ``hide_unseen``, a task of a case the actor may not see is NotFound before anything
    else is said about it (as ``summaries.visible_task`` answers), checked on the rows read
    under the lock: a request need not read the task and its case once more beforehand.
    """
    session.flush()  # what the caller left pending is in the database before the task is read
    found = session.connection().execute(_LOCK_TASK_CASE, {"task_id": task_id, "user_id": actor.id or 0}).first()
    row = instance = None
    if found is not None:
        instance, state_text = _case_of(session, found)
        m = found._mapping
        row = attach(session, HumanTask, {k: m[f"t_{k}"] for k in _TASK_KEYS})
        org_id = m["t_candidate_org_id"]
        put(row, instance=instance, candidate_org=None if org_id is None else (
            session.identity_map.get(identity_key(Org, org_id)) or attach(session, Org, {"id": org_id, "path": m["o_path"]})))
    if row is None or (hide_unseen and not can_see(session, instance=instance, actor=actor)):
        raise NotFound(f"任务 {task_id} 不存在", message_en=f"task {task_id} not found")
    if row.status != TaskStatus.OPEN:
        raise TaskNotOpen("该任务已办理或已撤销，不能重复提交",
                          message_en=f"task {task_id} is not open (status: {row.status})")
    if instance.status not in (InstanceStatus.RUNNING,):
        raise TaskNotOpen(f"案件当前状态为“{_STATUS_ZH[instance.status]}”，不能办理任务",
                          message_en=f"the case is {instance.status}")
    if not may_act(row, actor):
        raise NotAllowed("您不是该任务的办理人，也不在其候选角色和组织范围内",
                         message_en="you are neither the assignee nor in the task's candidate pool")
    loaded = restore_locked(session, instance, state_text=state_text)
    loaded.after_signers, loaded.actor_known = bool(m["after_signers"]), bool(m["actor_known"])
    return row, loaded


_STATUS_ZH = {"running": "办理中", "completed": "已办结", "cancelled": "已撤销", "error": "出错待处理"}


def complete_task(session: Session, *, task_id: str, data: dict, actor: Actor, opinion: str | None = None) -> Instance:
    """Validate the form data, complete the task and advance the case."""
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor)
    return _complete(session, row=row, loaded=loaded, data=data, actor=actor, opinion=opinion)


def complete_visible_task(session: Session, *, task_id: str, data: dict, actor: Actor,
                          opinion: str | None = None) -> tuple[HumanTask, Instance]:
    """Complete a task as ``complete_task`` does, NotFound for a case the actor may not see; return the task and case.

    For a request: the task and its case are read once, under the lock, for the visibility
    check, the open-task checks and the completion, and the task row comes back for the answer.
    """
    row, loaded = open_task_for_update(session, task_id=task_id, actor=actor, hide_unseen=True)
    return row, _complete(session, row=row, loaded=loaded, data=data, actor=actor, opinion=opinion)


def _complete(session: Session, *, row: HumanTask, loaded: Loaded, data: dict, actor: Actor,
              opinion: str | None) -> Instance:
    if row.owner_id is not None and row.assignee_id == actor.id and row.owner_id != actor.id:
        if signing_queue.current_signer(session, row) is not None:
            raise NotAllowed("您是加签人，请签署意见（同意或不同意），表单由任务办理人提交",
                             message_en="you were added to sign this task: sign it; its holder submits the form")
        raise NotAllowed("委派的任务请使用“办理完毕交回”，由委派人完成",
                         message_en="a delegated task goes back to its owner; use resolve")
    cleaned = task_contract(session, task=row, instance=loaded.instance, definition=loaded.definition).accept(data)
    after_signers = loaded.after_signers if loaded.after_signers is not None else bool(
        signing_pending(session, row.id, Position.AFTER))
    if after_signers:
        return signing_queue.hold_for_signers(session, row=row, instance=loaded.instance, data=cleaned, actor=actor,
                                              opinion=opinion)
    return finish_task(session, row=row, loaded=loaded, data=cleaned, actor=actor, opinion=opinion)


_FINISH_TASK = update(_T).where(_T.c.id == bindparam("w_id")).values(
    status=bindparam("status"), completed_at=bindparam("completed_at"), completed_by_id=bindparam("completed_by_id"),
    draft=null())


def finish_task(session: Session, *, row: HumanTask, loaded: Loaded, data: dict, actor: Actor,
                opinion: str | None = None, signed_by: list[str] | None = None) -> Instance:
    """Complete a locked, open task with checked data as ``actor`` and advance the case."""
    task_id, cleaned = row.id, data
    runner = loaded.runner
    if not runner.task_exists(task_id):
        raise TaskNotOpen("该任务在流程中已不可办理", message_en="the task is no longer ready in the workflow")
    error = advance(session, loaded, lambda: runner.complete_user_task(task_id, cleaned))
    if error is not None and error.task_id == task_id:
        # The task's own post-script failed: nothing is applied, the user keeps their input.
        raise ScriptFailed(f"提交后脚本出错：{error.message}", message_en=f"post-script failed: {error.message}",
                           details=[Problem(error.message, element_id=error.element_id, line=error.line)],
                           trace=error.trace)
    now = clock.now()
    done = {"status": TaskStatus.COMPLETED.value, "completed_at": now, "completed_by_id": actor.id}
    loaded.finished = {"w_id": task_id, **done}  # written by the save, with the case (write_step)
    put(row, **done, draft=None)
    if not (loaded.actor_known and actor.id):
        loaded.new_actor = actor.id
    payload = {"data": cleaned, "title": row.title} | ({"signed_by": signed_by} if signed_by else {})
    audit.record(session, instance=loaded.instance, kind=EntryKind.COMPLETED, actor=actor.username,
                 task_id=task_id, element_id=row.element_id, opinion=opinion, payload=payload, into=loaded.entries)
    return save(session, loaded, actor=actor, error=error)


def cancel_instance(session: Session, *, instance_id: int, actor: Actor, reason: str | None = None) -> Instance:
    """Cancel a whole case (撤销): only its initiator or an admin may."""
    loaded = load(session, instance_id=instance_id)
    instance = loaded.instance
    if instance.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED):
        raise TaskNotOpen(f"案件已{_STATUS_ZH[instance.status]}，不能撤销", message_en=f"the case is already {instance.status}")
    if not (actor.is_admin or actor is SYSTEM or instance.started_by_id == actor.id):
        raise NotAllowed("只有发起人或管理员可以撤销案件", message_en="only the initiator or an admin may cancel a case")
    loaded.runner.cancel()
    put(instance, status=InstanceStatus.CANCELLED, ended_at=clock.now())
    audit.record(session, instance=instance, kind=EntryKind.CANCELLED, actor=actor.username, opinion=reason,
                 into=loaded.entries)
    return save(session, loaded, actor=actor, error=None)


def retry_instance(session: Session, *, instance_id: int, actor: Actor, data: dict | None = None) -> Instance:
    """Run a case in error again, optionally with corrected data for the failing step."""
    if not actor.is_admin and actor is not SYSTEM:
        raise NotAllowed("只有管理员可以重试出错的案件", message_en="only an admin may retry a case in error")
    loaded = load(session, instance_id=instance_id)
    if loaded.instance.status != InstanceStatus.ERROR:
        raise EngineError("案件没有出错，无需重试", message_en="the case is not in error")
    failed_task = (loaded.instance.error or {}).get("task_id")
    if data and failed_task:
        loaded.runner.patch_task_data(failed_task, data)
    audit.record(session, instance=loaded.instance, kind=EntryKind.RETRIED, actor=actor.username,
                 task_id=failed_task, payload={"data": data or {}}, into=loaded.entries)
    error = advance(session, loaded, loaded.runner.run_after_error)
    return save(session, loaded, actor=actor, error=error)


_ADD_ACTOR = {name: dialect.insert(TaskActor.__table__).on_conflict_do_nothing(index_elements=["instance_id", "user_id"])
              for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}


def _remember_actor(session: Session, instance_id: int, user_id: int) -> None:
    conn = session.connection()
    stmt = _ADD_ACTOR.get(conn.dialect.name)
    if stmt is not None:
        conn.execute(stmt, {"instance_id": instance_id, "user_id": user_id})
        return
    exists = session.scalar(select(TaskActor.id).where(TaskActor.instance_id == instance_id, TaskActor.user_id == user_id))
    if exists is None:
        session.add(TaskActor(instance_id=instance_id, user_id=user_id))


def get_instance(session: Session, *, instance_id: int) -> Instance:
    """Return an instance or raise NotFound (no lock; for reading)."""
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"案件 {instance_id} 不存在", message_en=f"instance {instance_id} not found")
    return instance


__all__ = ["start_instance", "complete_task", "cancel_instance", "retry_instance", "load", "save", "give_back",
           "lock_instance", "may_act", "open_task_for_update", "get_instance", "FormInvalid"]
