"""The facts each warning rule decides on, worked out per candidate from the cases (read only).

A candidate is what a warning is about: a party or a place (重复纠纷), a township (激增), a case
(暴力倾向未走访, 督办红牌). Each comes with the facts its rule's table reads, the cases behind it
(the evidence) and the org whose leaders it concerns. Disputes are the cases of the mediation
process, cancelled ones left out; a case's place is its village, else its township, as the
registration form records them.

Each rule reads only the cases of its window, in one query, and groups them here: a county's
million cases cost what its last weeks cost.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..org.orgs import SYSTEM
from ..store.models import CaseField, HumanTask, Instance, InstanceStatus, Org, TaskStatus
from .ledger import CARD_LABELS, ItemStatus, LedgerFilter, ledger
from .warning_rules import LoadedRule

DISPUTES = "mediation"
# The steps of a dispute where someone met the parties: police stabilisation, a mediation
# session, the follow-up visit (回访).
VISIT_STEPS = ("alert_police", "session", "follow_up")
SUBJECT_KINDS = {"party": "当事人", "location": "地点", "township": "乡镇", "case": "案件"}


@dataclass
class Candidate:
    subject_kind: str           # party | location | township | case
    subject: str                # a name, an org code, a case id
    subject_name: str
    org: int | Callable[[], int]   # the org id, or how to work it out (asked only of those that fire)
    facts: dict
    evidence: list[int] = field(default_factory=list)

    @property
    def org_id(self) -> int:
        if callable(self.org):
            self.org = self.org()
        return self.org


class Places:
    """Every org by code and by id, loaded once per evaluation (a county has hundreds, not millions)."""

    def __init__(self, session: Session):
        rows = session.execute(select(Org.id, Org.code, Org.name, Org.kind, Org.path)).all()
        self.by_code = {r.code: r for r in rows}
        self.by_id = {r.id: r for r in rows}

    def common_org(self, org_ids: set[int]) -> int:
        """Return the nearest org whose subtree holds every one of ``org_ids``."""
        paths = [self.by_id[o].path.strip("/").split("/") for o in org_ids if o in self.by_id]
        if not paths:
            return next(iter(org_ids))
        shared = []
        for parts in zip(*paths):
            if len(set(parts)) != 1:
                break
            shared.append(parts[0])
        return int(shared[-1]) if shared else next(iter(org_ids))


def candidates(session: Session, rule: LoadedRule, *, now: datetime, places: Places) -> list[Candidate]:
    """Return the candidates of a rule with the facts its table reads."""
    return _PROVIDERS[rule.key](session, rule, now, places)


def _dispute_rows(session: Session, since: datetime):
    """Yield (case id, started, case org, township code, village code) of the disputes registered since ``since``."""
    return session.execute(
        select(Instance.id, Instance.started_at, Instance.org_id,
               Instance.data["township"].as_string().label("township"),
               Instance.data["village"].as_string().label("village"))
        .where(Instance.process_key == DISPUTES, Instance.started_at >= since,
               Instance.status != InstanceStatus.CANCELLED)).all()


def _place_org(places: Places, org_id: int, township: str | None, village: str | None) -> int:
    for code in (village, township):
        row = places.by_code.get(code) if code else None
        if row is not None:
            return row.id
    return org_id


def _repeat_dispute(session: Session, rule: LoadedRule, now: datetime, places: Places) -> list[Candidate]:
    windows = rule.parameters(r"disputes_within_(\d+)_days") or [30]
    since = now - timedelta(days=max(windows))
    cases = {r.id: r for r in _dispute_rows(session, since)}
    if not cases:
        return []
    by_subject: dict[tuple[str, str], set[int]] = defaultdict(set)
    for case_id, name in session.execute(
            select(CaseField.instance_id, CaseField.value).join(Instance, Instance.id == CaseField.instance_id)
            .where(CaseField.name == "party", Instance.process_key == DISPUTES, Instance.started_at >= since,
                   Instance.status != InstanceStatus.CANCELLED)):
        if name and case_id in cases:
            by_subject[("party", name)].add(case_id)
    for case in cases.values():
        if case.village and case.village in places.by_code:
            by_subject[("location", case.village)].add(case.id)
    widest = max(windows)
    out = []
    for (kind, subject), ids in by_subject.items():
        facts = {"subject_kind": SUBJECT_KINDS[kind], "subject": subject}
        for days in windows:
            start = now - timedelta(days=days)
            facts[f"disputes_within_{days}_days"] = len(ids) if days == widest else \
                sum(1 for i in ids if cases[i].started_at >= start)
        name = places.by_code[subject].name if kind == "location" else subject
        if kind == "location":
            facts["subject"] = name
        out.append(Candidate(kind, subject, name, _common_place(places, cases, ids), facts, sorted(ids)))
    return out


def _common_place(places: Places, cases: dict, ids: set[int]) -> Callable[[], int]:
    return lambda: places.common_org({_place_org(places, cases[i].org_id, cases[i].township, cases[i].village)
                                      for i in ids})


def _surge(session: Session, rule: LoadedRule, now: datetime, places: Places) -> list[Candidate]:
    weeks_list = rule.parameters(r"weekly_average_(\d+)_weeks") or [8]
    week_start = now - timedelta(days=7)
    since = week_start - timedelta(weeks=max(weeks_list))
    this_week: dict[str, list[int]] = defaultdict(list)
    before: dict[str, list[datetime]] = defaultdict(list)
    for case in _dispute_rows(session, since):
        if not case.township:
            continue
        if case.started_at >= week_start:
            this_week[case.township].append(case.id)
        else:
            before[case.township].append(case.started_at)
    out = []
    for org in places.by_code.values():
        if org.kind != "township":
            continue
        facts = {"subject": org.name, "township": org.name, "new_this_week": len(this_week[org.code])}
        for weeks in weeks_list:
            start = week_start - timedelta(weeks=weeks)
            count = sum(1 for at in before[org.code] if at >= start)
            facts[f"weekly_average_{weeks}_weeks"] = round(count / weeks, 2)
        out.append(Candidate("township", org.code, org.name, org.id, facts, sorted(this_week[org.code])))
    return out


def _violence_no_visit(session: Session, rule: LoadedRule, now: datetime, places: Places) -> list[Candidate]:
    marked = (select(Instance.id, Instance.business_key, Instance.title, Instance.started_at, Instance.org_id,
                     Instance.data["township"].as_string().label("township"),
                     Instance.data["village"].as_string().label("village"),
                     Instance.data["dispute_type"].as_string().label("dispute_type"),
                     Instance.data["risk_level"].as_string().label("risk_level"))
              .where(Instance.status == InstanceStatus.RUNNING, Instance.process_key == DISPUTES,
                     Instance.data["violence_risk"].as_boolean().is_(True)))
    rows = session.execute(marked).all()
    if not rows:
        return []
    last_visit: dict[int, datetime] = {}
    ids = [r.id for r in rows]
    for start in range(0, len(ids), 5000):  # by case id, from the index on human_tasks.instance_id
        last_visit.update(session.execute(
            select(HumanTask.instance_id, func.max(HumanTask.completed_at))
            .where(HumanTask.instance_id.in_(ids[start:start + 5000]), HumanTask.element_id.in_(VISIT_STEPS),
                   HumanTask.status == TaskStatus.COMPLETED)
            .group_by(HumanTask.instance_id)).all())
    out = []
    for r in rows:
        visit = last_visit.get(r.id)
        since = visit or r.started_at
        facts = {"subject": r.title, "visited": visit is not None,
                 "days_since_visit": max(0, (now - since) // timedelta(days=1)),
                 "dispute_type": r.dispute_type or "", "risk_level": r.risk_level or ""}
        out.append(Candidate("case", str(r.id), facts["subject"],
                             _place_org(places, r.org_id, r.township, r.village), facts, [r.id]))
    return out


def _red_card(session: Session, rule: LoadedRule, now: datetime, places: Places) -> list[Candidate]:
    items, _ = ledger(session, actor=SYSTEM, flt=LedgerFilter(status=ItemStatus.IN_PROGRESS, limit=10**9), now=now)
    orgs = dict(session.execute(select(Instance.id, Instance.org_id).where(
        Instance.id.in_([i.instance_id for i in items]))).all()) if items else {}
    out = []
    for item in items:
        facts = {"subject": item.title, "card": CARD_LABELS[item.card][0],
                 "days_overdue": -item.days_left if item.overdue and item.days_left is not None else 0,
                 "lead_unit": item.lead_unit_name, "source": item.source}
        out.append(Candidate("case", str(item.instance_id), item.title,
                             orgs[item.instance_id], facts, [item.instance_id]))
    return out


_PROVIDERS = {"repeat_dispute": _repeat_dispute, "surge": _surge, "violence_no_visit": _violence_no_visit,
              "red_card": _red_card}

__all__ = ["Candidate", "Places", "candidates", "VISIT_STEPS", "DISPUTES", "SUBJECT_KINDS"]
