"""Early warning (预警): evaluate the deployed rules, keep one open warning per subject, and act on it.

``evaluate_warnings`` is the one evaluation the timer sweep, Celery beat and ``pingan warnings
evaluate`` all call. For each rule in force it takes the candidates' facts (``warning_facts``),
lets the rule's DMN table decide, and raises a warning for each that fires, unless one is open for
the same subject already (its evidence is brought up to date instead) or the last one was closed
over the same cases. A new warning is told to the leaders over its org once. An open warning whose
rule, evaluated without error, no longer fires for its subject (the item left the red card, the
surge week passed) is closed as 已解除 by the evaluation, with the facts it last saw kept.

A table's outputs are constants and the decision depends only on the facts its cells read, so it
is decided once per distinct set of those facts, not once per candidate.

The operations (acknowledge, dismiss with a reason, supervise) each take the warning, check the
actor may see it, change it and append a ``WarningEvent``: the warning's own history.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from .. import clock
from ..context import Services, context_of
from ..definitions.deployment import get_definition
from ..errors import Conflict, EngineError, FormInvalid, NotAllowed, NotFound, Problem
from ..org.orgs import Actor, user_names
from ..runtime import lifecycle
from ..runtime.notifications import NotificationKind, notify
from ..spiff.decisions import decide
from ..store.models import Instance, Org, RoleAssignment, User
from .models import EarlyWarning, WarningEvent, WarningLevel, WarningSchedule, WarningStatus
from .warning_facts import Candidate, Places, candidates
from .warning_rules import LEVELS, LoadedRule, rules_in_force

log = logging.getLogger(__name__)

# Who sees the 预警 list: leaders and inspectors over the warning's org; administrators see all.
WARNING_ROLES = ("leader", "inspector")
NOTIFY_ROLE = "leader"
OPEN_STATUSES = (WarningStatus.OPEN, WarningStatus.ACKNOWLEDGED)
SUPERVISION = "supervision"
SUPERVISION_SOURCE = "预警"
MAX_EVIDENCE = 200
DEFAULT_REQUIREMENTS = "核查预警所涉案件，落实化解稳控措施，按期报告办理结果。"
STATUS_LABELS = {WarningStatus.OPEN: ("待处理", "Open"), WarningStatus.ACKNOWLEDGED: ("已确认", "Acknowledged"),
                 WarningStatus.DISMISSED: ("已排除", "Dismissed"), WarningStatus.SUPERVISED: ("已督办", "Supervised"),
                 WarningStatus.RESOLVED: ("已解除", "Resolved")}
RESOLVED_REASON = "预警条件已不满足，自动解除"


class EventKind:
    RAISED = "raised"
    EVIDENCE = "evidence_changed"
    ACKNOWLEDGED = "acknowledged"
    DISMISSED = "dismissed"
    SUPERVISED = "supervised"
    RESOLVED = "resolved"


@dataclass
class EvaluationReport:
    """What one evaluation did, per rule and in total."""

    raised: list[int] = field(default_factory=list)      # ids of new warnings
    updated: list[int] = field(default_factory=list)     # open warnings whose evidence grew
    resolved: list[int] = field(default_factory=list)    # open warnings whose rule no longer fires
    candidates: int = 0
    decisions: int = 0                                   # DMN evaluations actually run
    notified: int = 0
    rules: dict[str, int] = field(default_factory=dict)  # rule key -> version evaluated
    failed: dict[str, str] = field(default_factory=dict)  # rule key -> why it could not be evaluated
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"raised": len(self.raised), "updated": len(self.updated), "resolved": len(self.resolved),
                "candidates": self.candidates,
                "decisions": self.decisions, "notified": self.notified, "rules": self.rules,
                "failed": self.failed,
                "seconds": round(self.seconds, 3)}


def evaluate_warnings(session: Session, *, now: datetime | None = None) -> EvaluationReport:
    """Evaluate every warning rule in force; raise, update and notify; flush."""
    t0 = time.perf_counter()
    now = now or clock.now()
    report = EvaluationReport()
    script_engine = context_of(session).script_engine
    places = Places(session)
    leaders = _leaders(session)
    for rule in rules_in_force(session):
        report.rules[rule.key] = rule.version
        try:
            fired = _decide_all(session, rule, now=now, places=places, script_engine=script_engine, report=report)
        except EngineError as exc:  # one rule failing on some facts must not silence the others
            log.warning("warning rule %s v%s failed: %s", rule.key, rule.version, exc.message)
            report.failed[rule.key] = exc.message
            continue
        if fired:
            _record(session, rule, fired, now=now, places=places, leaders=leaders, report=report)
        _resolve(session, rule, {_open_key(rule.key, c.subject_kind, c.subject) for c, _ in fired}, now=now,
                 report=report)
    session.flush()
    report.seconds = time.perf_counter() - t0
    return report


def _decide_all(session: Session, rule: LoadedRule, *, now: datetime, places: Places, script_engine,
                report: EvaluationReport) -> list[tuple[Candidate, dict]]:
    memo: dict[tuple, dict | None] = {}
    fired: list[tuple[Candidate, dict]] = []
    reads = rule.reads()
    for cand in candidates(session, rule, now=now, places=places):
        report.candidates += 1
        facts = {name: cand.facts.get(name) for name in reads}
        key = tuple(facts[name] for name in reads)
        if key not in memo:
            memo[key] = decide(rule.table, facts, script_engine)
            report.decisions += 1
        outputs = memo[key]
        if outputs and outputs.get("fire") is True:
            fired.append((cand, outputs))
    return fired


def _open_key(rule_key: str, kind: str, subject: str) -> str:
    return f"{rule_key}|{kind}|{subject}"[:500]


def _record(session: Session, rule: LoadedRule, fired: list[tuple[Candidate, dict]], *, now: datetime,
            places: Places, leaders: list[tuple[int, str]], report: EvaluationReport) -> None:
    # Plain rows, not objects: at a sweep's steady state every fired candidate has its open warning.
    existing = {key: (warning_id, set(evidence or []), level) for warning_id, key, evidence, level in session.execute(
        select(EarlyWarning.id, EarlyWarning.open_key, EarlyWarning.evidence, EarlyWarning.level).where(
            EarlyWarning.rule_key == rule.key, EarlyWarning.open_key.is_not(None)))}
    # The last closed warning per subject: raised again only if new cases came in since.
    closed: dict[tuple[str, str], set[int]] = {}
    for kind, subject, evidence in session.execute(
            select(EarlyWarning.subject_kind, EarlyWarning.subject, EarlyWarning.evidence)
            .where(EarlyWarning.rule_key == rule.key, EarlyWarning.open_key.is_(None))
            .order_by(EarlyWarning.id)):
        closed[(kind, subject)] = set(evidence or [])
    new_rows: list[dict] = []
    notices: list[tuple[str, set[int], str]] = []
    for cand, outputs in fired:
        evidence = cand.evidence[-MAX_EVIDENCE:]
        level = LEVELS[outputs["level"]]
        message = fill(str(outputs.get("message") or rule.name), {**cand.facts, "subject": cand.subject_name})[:500]
        key = _open_key(rule.key, cand.subject_kind, cand.subject)
        if key in existing:
            warning_id, known, known_level = existing[key]
            grown = sorted(set(evidence) - known)
            if grown or _rank(level) > _rank(known_level):
                current = session.get(EarlyWarning, warning_id)
                current.evidence = sorted(set(current.evidence or []) | set(evidence))[-MAX_EVIDENCE:]
                current.facts, current.message, current.updated_at = _json(cand.facts), message, now
                if _rank(level) > _rank(current.level):
                    current.level = level
                session.add(WarningEvent(warning_id=current.id, kind=EventKind.EVIDENCE, at=now, actor="system",
                                         detail={"added": grown, "level": level.value}))
                report.updated.append(current.id)
            continue
        if set(evidence) <= closed.get((cand.subject_kind, cand.subject), set()) and evidence:
            continue
        org_id = cand.org_id
        path = places.by_id[org_id].path if org_id in places.by_id else "/"
        recipients = {user_id for user_id, grant in leaders if path.startswith(grant)}
        new_rows.append(dict(
            rule_key=rule.key, rule_version=rule.version, rule_name=rule.name, subject_kind=cand.subject_kind,
            subject=cand.subject[:300], subject_name=cand.subject_name[:300], open_key=key, level=level.value,
            message=message, facts=_json(cand.facts), evidence=evidence, org_id=org_id,
            status=WarningStatus.OPEN.value, raised_at=now, updated_at=now, notified=len(recipients)))
        notices.append((key, recipients, f"【{outputs['level']}预警·{rule.name}】{message}"))
    if not new_rows:
        return
    session.flush()
    # Plain executemany, no RETURNING: the first evaluation of a big county raises thousands at once.
    session.execute(insert(EarlyWarning), new_rows)
    keys = [row["open_key"] for row in new_rows]
    ids: dict[str, int] = {}
    for start in range(0, len(keys), 1000):
        ids.update(session.execute(select(EarlyWarning.open_key, EarlyWarning.id).where(
            EarlyWarning.open_key.in_(keys[start:start + 1000]))).all())
    session.execute(insert(WarningEvent), [
        {"warning_id": ids[row["open_key"]], "kind": EventKind.RAISED, "at": now, "actor": "system",
         "detail": {"rule_version": rule.version, "facts": row["facts"], "evidence": row["evidence"]}}
        for row in new_rows])
    for key, recipients, text in notices:
        if recipients:
            report.notified += notify(session, user_ids=recipients, kind=NotificationKind.WARNING, text=text, warning_id=ids[key])
    report.raised.extend(ids[k] for k in keys)


def _resolve(session: Session, rule: LoadedRule, firing: set[str], *, now: datetime,
              report: EvaluationReport) -> None:
    """Close the rule's open warnings whose subject it no longer fires for (已解除)."""
    gone = [(warning_id, key) for warning_id, key in session.execute(
        select(EarlyWarning.id, EarlyWarning.open_key).where(
            EarlyWarning.rule_key == rule.key, EarlyWarning.open_key.is_not(None))) if key not in firing]
    for start in range(0, len(gone), 1000):
        batch = [warning_id for warning_id, _ in gone[start:start + 1000]]
        # Only those still open now: one dismissed meanwhile keeps its own outcome.
        ids = list(session.scalars(
            update(EarlyWarning).where(EarlyWarning.id.in_(batch), EarlyWarning.open_key.is_not(None))
            .values(status=WarningStatus.RESOLVED.value, open_key=None, closed_at=now, closed_by="system",
                    updated_at=now).returning(EarlyWarning.id), execution_options={"synchronize_session": "fetch"}))
        if not ids:
            continue
        session.execute(insert(WarningEvent), [
            {"warning_id": warning_id, "kind": EventKind.RESOLVED, "at": now, "actor": "system",
             "detail": {"reason": RESOLVED_REASON, "rule_version": rule.version}} for warning_id in ids])
        report.resolved.extend(ids)


_LEVEL_RANK = {WarningLevel.YELLOW: 1, WarningLevel.ORANGE: 2, WarningLevel.RED: 3}


def _rank(level) -> int:
    return _LEVEL_RANK.get(WarningLevel(level), 0)


def _json(facts: dict) -> dict:
    return {k: v for k, v in facts.items() if isinstance(v, (str, int, float, bool)) or v is None}


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: str, facts: dict) -> str:
    """Put fact values into a rule's message: ``{subject}`` and ``{<fact>}``; unknown names stay as written."""
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in facts:
            return match.group(0)
        v = facts[name]
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return str(v)
    return _PLACEHOLDER.sub(value, template)


def _leaders(session: Session) -> list[tuple[int, str]]:
    return [(user_id, path) for user_id, path in session.execute(
        select(RoleAssignment.user_id, Org.path).join(Org, Org.id == RoleAssignment.org_id)
        .join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.role == NOTIFY_ROLE, User.active.is_(True)))]


# -- scheduling ----------------------------------------------------------------------------------

def evaluate_if_due(services: Services, *, now: datetime | None = None) -> EvaluationReport | None:
    """Evaluate the warnings if the configured interval has passed since the last scheduled run; else None.

    The sweep and Celery beat call this every time they run; the claim is one conditional UPDATE,
    so of two workers racing only one evaluates.
    """
    now = now or clock.now()
    interval = timedelta(minutes=services.settings.warning_interval_minutes)
    if interval <= timedelta(0):
        return None
    # Read first, without the write lock: on SQLite a sweep runs every second and most find nothing due.
    try:
        with services.session(read_only=True) as s:
            last = s.scalar(select(WarningSchedule.last_started_at).where(WarningSchedule.id == 1))
    except DBAPIError as exc:  # a busy or unreachable database: the next sweep asks again
        log.debug("warning schedule not readable: %s", exc)
        return None
    if last is not None and last > now - interval:
        return None
    if not _claim(services, now=now, interval=interval):
        return None
    try:
        with services.session() as s:
            report = evaluate_warnings(s, now=now)
    except Exception as exc:
        with services.session() as s:
            s.execute(update(WarningSchedule).where(WarningSchedule.id == 1).values(last_error=str(exc)[:2000]))
        raise
    with services.session() as s:
        s.execute(update(WarningSchedule).where(WarningSchedule.id == 1).values(
            last_finished_at=clock.now(), last_raised=len(report.raised), last_error=None))
    return report


def _claim(services: Services, *, now: datetime, interval: timedelta) -> bool:
    with services.session() as s:
        claimed = s.execute(update(WarningSchedule).where(
            WarningSchedule.id == 1, or_(WarningSchedule.last_started_at.is_(None),
                                         WarningSchedule.last_started_at <= now - interval))
            .values(last_started_at=now)).rowcount
        if claimed:
            return True
        if s.get(WarningSchedule, 1) is not None:
            return False
    try:
        with services.session() as s:
            s.add(WarningSchedule(id=1, last_started_at=now, last_raised=0))
        return True
    except IntegrityError:  # another process made the row a moment ago: it evaluates
        return False


# -- reading -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvidenceCase:
    instance_id: int
    business_key: str
    title: str


@dataclass(frozen=True)
class WarningView:
    id: int
    rule_key: str
    rule_name: str
    rule_version: int
    level: WarningLevel
    message: str
    subject_kind: str
    subject_name: str
    org_code: str
    org_name: str
    status: WarningStatus
    raised_at: datetime
    updated_at: datetime
    evidence: list[EvidenceCase]
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    dismiss_reason: str | None
    supervision_instance_id: int | None
    supervision_business_key: str | None
    facts: dict
    acknowledged_by_name: str | None = None   # the people's names, as the page shows them
    closed_by_name: str | None = None


@dataclass
class HistoryEntry:
    """One line of a warning's history as people read it: when, who (a name), what."""

    at: datetime
    kind: str
    label: str
    label_en: str
    actor_name: str
    detail: dict


def may_see_warnings(actor: Actor) -> bool:
    """Tell whether the actor has a 预警 list at all (leaders, inspectors, administrators)."""
    return actor.is_admin or any(role in WARNING_ROLES for role, _ in actor.grants)


def _scope(actor: Actor):
    if not may_see_warnings(actor):
        raise NotAllowed("只有领导、督查员和管理员可以查看预警", message_en="only leaders, inspectors and administrators see warnings")
    if actor.is_admin:
        return EarlyWarning.id.is_not(None)
    paths = sorted({path for role, path in actor.grants if role in WARNING_ROLES})
    return EarlyWarning.org_id.in_(select(Org.id).where(or_(*[Org.path.like(p + "%") for p in paths])))


def list_warnings(session: Session, *, actor: Actor, status: str | None = None, level: str | None = None,
                  rule: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[WarningView], int]:
    """Return one page of the warnings in the actor's scope, newest first, and the total.

    ``status`` ``open`` means open or acknowledged (what is still to deal with).
    """
    query = select(EarlyWarning).where(_scope(actor))
    if status == "open":
        query = query.where(EarlyWarning.status.in_(OPEN_STATUSES))
    elif status:
        query = query.where(EarlyWarning.status == status)
    if level:
        query = query.where(EarlyWarning.level == level)
    if rule:
        query = query.where(EarlyWarning.rule_key == rule)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(EarlyWarning.raised_at.desc(), EarlyWarning.id.desc())
                                .limit(limit).offset(offset)))
    return _views(session, rows), total


def get_warning(session: Session, *, warning_id: int, actor: Actor) -> WarningView:
    """Return one warning the actor may see, or raise NotFound."""
    return _views(session, [_load(session, warning_id=warning_id, actor=actor)])[0]


def warning_history(session: Session, *, warning_id: int, actor: Actor) -> list[WarningEvent]:
    """Return what happened to a warning, oldest first."""
    _load(session, warning_id=warning_id, actor=actor)
    return list(session.scalars(select(WarningEvent).where(WarningEvent.warning_id == warning_id)
                                .order_by(WarningEvent.id)))


EVENT_LABELS = {EventKind.RAISED: ("发出预警", "Raised"), EventKind.EVIDENCE: ("依据案件增加", "Evidence grew"),
                EventKind.ACKNOWLEDGED: ("确认", "Acknowledged"), EventKind.DISMISSED: ("排除", "Dismissed"),
                EventKind.SUPERVISED: ("转为督办", "Supervised"), EventKind.RESOLVED: ("自动解除", "Resolved")}
SYSTEM_NAME = "系统"


def warning_timeline(session: Session, *, warning_id: int, actor: Actor) -> list[HistoryEntry]:
    """Return a warning's history with people's names and labels, oldest first."""
    events = warning_history(session, warning_id=warning_id, actor=actor)
    names = _names(session, {e.actor for e in events})
    return [HistoryEntry(at=e.at, kind=e.kind, label=EVENT_LABELS.get(e.kind, (e.kind, e.kind))[0],
                         label_en=EVENT_LABELS.get(e.kind, (e.kind, e.kind))[1],
                         actor_name=names.get(e.actor or "", e.actor or ""), detail=dict(e.detail or {}))
            for e in events]


def _names(session: Session, usernames: set[str | None]) -> dict[str, str]:
    wanted = sorted(u for u in usernames if u and u != "system")
    return {"system": SYSTEM_NAME, **(user_names(session, usernames=wanted) if wanted else {})}


def _load(session: Session, *, warning_id: int, actor: Actor, for_update: bool = False) -> EarlyWarning:
    query = select(EarlyWarning).where(EarlyWarning.id == warning_id, _scope(actor))
    if for_update:
        query = query.with_for_update()
    warning = session.scalar(query)
    if warning is None:
        raise NotFound(f"预警 {warning_id} 不存在", message_en=f"warning {warning_id} not found")
    return warning


def _views(session: Session, rows: list[EarlyWarning]) -> list[WarningView]:
    ids = {i for w in rows for i in (w.evidence or [])} | {w.supervision_instance_id for w in rows
                                                            if w.supervision_instance_id}
    cases = {i: (bk, title) for i, bk, title in session.execute(
        select(Instance.id, Instance.business_key, Instance.title).where(Instance.id.in_(ids)))} if ids else {}
    orgs = {i: (code, name) for i, code, name in session.execute(
        select(Org.id, Org.code, Org.name).where(Org.id.in_({w.org_id for w in rows})))} if rows else {}
    names = _names(session, {u for w in rows for u in (w.acknowledged_by, w.closed_by)})
    return [WarningView(
        id=w.id, rule_key=w.rule_key, rule_name=w.rule_name, rule_version=w.rule_version,
        level=WarningLevel(w.level), message=w.message, subject_kind=w.subject_kind, subject_name=w.subject_name,
        org_code=orgs.get(w.org_id, ("", ""))[0], org_name=orgs.get(w.org_id, ("", ""))[1],
        status=WarningStatus(w.status), raised_at=w.raised_at, updated_at=w.updated_at,
        evidence=[EvidenceCase(i, cases[i][0] or "", cases[i][1] or "") for i in (w.evidence or []) if i in cases],
        acknowledged_at=w.acknowledged_at, acknowledged_by=w.acknowledged_by, closed_at=w.closed_at,
        closed_by=w.closed_by, dismiss_reason=w.dismiss_reason, supervision_instance_id=w.supervision_instance_id,
        supervision_business_key=cases.get(w.supervision_instance_id, (None, None))[0],
        facts=dict(w.facts or {}), acknowledged_by_name=names.get(w.acknowledged_by or "", w.acknowledged_by),
        closed_by_name=names.get(w.closed_by or "", w.closed_by)) for w in rows]


# -- acting --------------------------------------------------------------------------------------

def _still_open(warning: EarlyWarning) -> None:
    if warning.status not in OPEN_STATUSES:
        label = STATUS_LABELS[WarningStatus(warning.status)][0]
        raise Conflict(f"该预警已{label.removeprefix('已')}，不能再处理", message_en=f"the warning is already {warning.status}")


def acknowledge_warning(session: Session, *, warning_id: int, actor: Actor) -> WarningView:
    """Mark a warning seen (确认): it stays open until dismissed or supervised."""
    warning = _load(session, warning_id=warning_id, actor=actor, for_update=True)
    _still_open(warning)
    if warning.status == WarningStatus.ACKNOWLEDGED:
        raise Conflict("该预警已确认", message_en="the warning is already acknowledged")
    now = clock.now()
    warning.status, warning.acknowledged_at, warning.acknowledged_by = WarningStatus.ACKNOWLEDGED, now, actor.username
    warning.updated_at = now
    session.add(WarningEvent(warning_id=warning.id, kind=EventKind.ACKNOWLEDGED, at=now, actor=actor.username))
    session.flush()
    return _views(session, [warning])[0]


def dismiss_warning(session: Session, *, warning_id: int, actor: Actor, reason: str | None) -> WarningView:
    """Close a warning as not needing action (排除); the reason is required and kept."""
    reason = (reason or "").strip()
    if not reason:
        raise FormInvalid("请填写排除理由", message_en="a reason is required to dismiss a warning",
                          details=[Problem("请填写排除理由", "required", field="reason")])
    if len(reason) > 1000:
        raise FormInvalid("排除理由不能超过 1000 字", message_en="the reason is at most 1000 characters",
                          details=[Problem("不能超过 1000 字", "at most 1000 characters", field="reason")])
    warning = _load(session, warning_id=warning_id, actor=actor, for_update=True)
    _still_open(warning)
    now = clock.now()
    warning.status, warning.open_key = WarningStatus.DISMISSED, None
    warning.closed_at, warning.closed_by, warning.dismiss_reason, warning.updated_at = now, actor.username, reason, now
    session.add(WarningEvent(warning_id=warning.id, kind=EventKind.DISMISSED, at=now, actor=actor.username,
                             detail={"reason": reason}))
    session.flush()
    return _views(session, [warning])[0]


def supervision_draft(view: WarningView) -> dict:
    """Return the supervision start form's fields as ``supervise_warning`` fills them from a warning."""
    lines = [f"{e.business_key} {e.title}" for e in view.evidence]
    content = (f"{view.message}\n（预警 #{view.id}，规则：{view.rule_name} 第 {view.rule_version} 版）\n"
               + ("依据案件：\n" + "\n".join(lines) if lines else ""))
    return {"item_title": f"预警督办：{view.message}"[:80], "source": SUPERVISION_SOURCE,
            "content": content[:3000], "requirements": DEFAULT_REQUIREMENTS}


def may_supervise(session: Session, *, actor: Actor) -> bool:
    """Tell whether the actor may turn warnings into supervision items (may start 督查督办 in their own org)."""
    try:
        lifecycle.check_may_start(get_definition(session, key=SUPERVISION), actor=actor, org_path=actor.org_path)
    except (NotAllowed, NotFound):
        return False
    return True


def supervise_warning(session: Session, *, warning_id: int, actor: Actor, lead_unit: str | None,
                      time_limit_workdays: int | None, assisting: list[str] | tuple = (),
                      item_title: str | None = None, requirements: str | None = None,
                      content: str | None = None) -> tuple[WarningView, Instance]:
    """Turn a warning into a supervision item (督办) in one step: start it pre-filled and link the two.

    The item is started through ``lifecycle.start_instance`` with the supervision start form's
    fields, so the form's own checks apply (lead unit, time limit, who may start it); a refusal
    changes nothing.
    """
    warning = _load(session, warning_id=warning_id, actor=actor, for_update=True)
    _still_open(warning)
    draft = supervision_draft(_views(session, [warning])[0])
    data = {**draft, "lead_unit": lead_unit, "time_limit_workdays": time_limit_workdays,
            "assisting": [{"unit": u} for u in assisting if u]}
    for name, value in (("item_title", item_title), ("requirements", requirements), ("content", content)):
        if value is not None and str(value).strip():
            data[name] = str(value).strip()
    savepoint = session.begin_nested()
    try:
        instance = lifecycle.start_instance(session, process_key=SUPERVISION, data=data, actor=actor)
        savepoint.commit()
    except EngineError:
        savepoint.rollback()
        raise
    now = clock.now()
    warning.status, warning.open_key = WarningStatus.SUPERVISED, None
    warning.closed_at, warning.closed_by, warning.updated_at = now, actor.username, now
    warning.supervision_instance_id = instance.id
    session.add(WarningEvent(warning_id=warning.id, kind=EventKind.SUPERVISED, at=now, actor=actor.username,
                             detail={"instance_id": instance.id, "business_key": instance.business_key}))
    session.flush()
    return _views(session, [warning])[0], instance


__all__ = ["EvaluationReport", "WarningView", "EvidenceCase", "EventKind", "STATUS_LABELS", "WARNING_ROLES",
           "evaluate_warnings", "evaluate_if_due", "list_warnings", "get_warning", "warning_history", "warning_timeline",
           "HistoryEntry", "EVENT_LABELS",
           "acknowledge_warning", "dismiss_warning", "supervise_warning", "supervision_draft", "may_see_warnings",
           "may_supervise",
           "fill"]
