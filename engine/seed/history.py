"""Plan a demo county's history and play it through the engine, months back to now.

The plan first covers what a demo must show (every end of every shipped process, a case waiting
in each process, cancelled cases, overdue and on-time work, a repeat-dispute hot spot), then
fills up to the asked number with random cases. Cases are played oldest first on a frozen clock;
afterwards the clock walks to now a day at a time so that timers (reminders, yellow and red
cards, escalations) fire on the days they fell due, as the timer sweep would have fired them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import clock as clock_module
from ..cases import queries
from ..clock import FrozenClock
from ..errors import EngineError
from ..org.demo import USERS
from ..runtime.tasks import delegate_task
from ..runtime.timers import fire_due
from ..store.models import EventWait, Instance, Org, User
from . import (paths_assessment, paths_grid_event, paths_inspection, paths_mediation, paths_report_review,
               paths_supervision)
from .places import PLACES, SHARES, movable, relocate
from .play import BEIJING, CasePlan, CasePlayer, duration

PATHS = {"mediation": paths_mediation.PATHS, "grid_event": paths_grid_event.PATHS,
         "supervision": paths_supervision.PATHS, "inspection": paths_inspection.PATHS,
         "report_review": paths_report_review.PATHS, "assessment": paths_assessment.PATHS}
# How often each process appears among the random cases: a county sees far more grid events and
# disputes than inspections or assessment rounds.
WEIGHTS = {"grid_event": 35, "mediation": 30, "supervision": 15, "inspection": 10, "report_review": 7,
           "assessment": 3}

# What a demo must show, whatever the size: (process, path, how it ends up).
MUST = [
    ("mediation", "not_accepted", "full"),
    ("mediation", "village_agreement_court_confirmed", "full"),
    ("mediation", "high_risk_county_terminated", "full"),
    ("mediation", "limit_no_consent", "running"),
    ("grid_event", "rejected_duplicate", "full"),
    ("grid_event", "burst_pipe_closed_on_time", "full"),
    ("grid_event", "rework_after_verification", "running-recent"),
    ("inspection", "all_items_met", "full"),
    ("inspection", "center_rectified", "full"),
    ("inspection", "unit_second_notice_with_return", "running"),
    ("supervision", "not_approved", "full"),
    ("supervision", "extension_approved_then_refused", "full"),
    ("supervision", "on_time_with_assisting_units", "running-recent"),
    ("assessment", "normal_no_objection", "full"),
    ("assessment", "objection_upheld", "running"),
    ("report_review", "first_period_accepted", "full"),
    ("report_review", "late_submission_urged", "running-recent"),
    ("grid_event", "other_category_needs_unit", "cancel"),
    ("mediation", "escalation_village_township_county", "cancel"),
    # Waits for the county leader's 阅批, which he lends to the township leader (委派) below.
    ("mediation", "high_risk_county_terminated", "running", 2),
    # Supervision items received and then left alone: by now one is past its deadline (yellow
    # card) and one five working days past it too (red card), both carded by the timers.
    ("supervision", "extension_approved_then_refused", "aged-17", 2),
    ("supervision", "on_time_with_assisting_units", "aged-40", 2),
]
# County leaders lend a waiting task of a township's case to its leader (委派): (from, to, township).
LEND = [("he.ld", "lin.ld", "chengguan")]
# The repeat-dispute hot spot: one party in this many disputes within the last weeks (重复纠纷).
HOT_PARTY = "刘长贵"
HOT_CASES = 4
HOT_PATHS = ["limit_extended_with_consent", "escalation_village_township_county", "limit_no_consent",
             "reminder_court_timeout_unperformed"]
HOT_TYPES = ["邻里纠纷", "土地山林", "损害赔偿", "邻里纠纷"]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "建国 秀英 桂兰 志强 海燕 德明 春梅 玉珍 永红 国庆 丽华 文斌 小燕 长林 金凤 振华 淑芬 卫东 红梅 家豪".split()
# Parties named like these are firms and bodies: they keep their names.
ORGANISATIONS = ("公司", "商行", "超市", "厂", "店", "委员会", "学校", "医院", "合作社")
MIN_CASES = len(MUST) + HOT_CASES
DEMO_USERS = [u[0] for u in USERS]


@dataclass(frozen=True)
class SeedReport:
    """What the seed did: nothing (``skipped``: the county already has cases) or how many of what."""

    skipped: bool
    cases: int = 0
    by_process: dict | None = None
    by_status: dict | None = None
    seconds: float = 0.0


def seed_history(session: Session, *, cases: int = 60, months: int = 3, seed: int = 2026,
                 now: datetime | None = None) -> SeedReport:
    """Create ``cases`` demo cases spread over ``months`` months up to now, unless any case exists.

    The same ``seed`` gives the same history (relative to ``now``). Flushes; the caller commits.
    """
    if session.scalar(select(func.count()).select_from(Instance)):
        return SeedReport(skipped=True)
    # The paths name the demo county's people and units; without them no case could be played.
    if session.scalar(select(func.count()).select_from(User).where(User.username.in_(DEMO_USERS))) < len(DEMO_USERS):
        raise EngineError("示范县的组织和用户尚未载入，请先运行 pingan init（不加 --no-demo）",
                          message_en="the demo county's orgs and users are missing; run pingan init (without --no-demo)")
    started = time.perf_counter()
    now = (now or clock_module.now()).replace(microsecond=0)
    rng = Random(seed)
    plans = plan_history(rng, cases=max(cases, MIN_CASES), months=max(months, 1), now=now)
    fake = FrozenClock(plans[0].start_at)
    previous = clock_module.install(fake)
    try:
        player = CasePlayer(session, fake, rng)
        for plan in plans:
            player.play(plan)
        catch_up(session, fake, until=now)
        lend(session, player)
    finally:
        clock_module.install(previous)
    session.flush()
    rows = session.execute(select(Instance.process_key, Instance.status)).all()
    by_process, by_status = {}, {}
    for key, status in rows:
        by_process[key] = by_process.get(key, 0) + 1
        by_status[str(status)] = by_status.get(str(status), 0) + 1
    return SeedReport(skipped=False, cases=len(rows), by_process=by_process, by_status=by_status,
                      seconds=round(time.perf_counter() - started, 1))


def catch_up(session: Session, fake: FrozenClock, *, until: datetime) -> None:
    """Walk the clock to ``until`` a day at a time, firing timers on the days they fall due."""
    first = session.scalar(select(func.min(EventWait.due_at)).where(EventWait.kind == "timer"))
    moment = max(first, until - timedelta(days=400)) if first is not None else until
    while moment < until:
        fake.set(moment)
        fire_due(session)
        moment += timedelta(days=1)
    fake.set(until)
    fire_due(session)


def lend(session: Session, player: CasePlayer) -> None:
    """Have county leaders lend a waiting task of each township's cases to its own leader (委派)."""
    for lender, borrower, township in LEND:
        actor = player.actor(lender)
        prefix = session.scalar(select(Org.path).where(Org.code == township))
        for task in queries.todo(session, actor=actor):
            if task.owner_id is None and task.instance.org.path.startswith(prefix):
                delegate_task(session, task_id=task.id, actor=actor, to=borrower,
                              opinion="请镇里先行研判，提出处置意见后交回")
                break


def plan_history(rng: Random, *, cases: int, months: int, now: datetime) -> list[CasePlan]:
    """Return the cases to play, oldest first."""
    by_name = {key: {p["name"]: p for p in paths} for key, paths in PATHS.items()}
    span = timedelta(days=30 * months)
    plans: list[CasePlan] = []
    for key, name, mode, *cut in MUST:
        plans.append(_plan(rng, key, by_name[key][name], mode, now=now, span=span, cut=(cut or [None])[0]))
    for i in range(HOT_CASES):
        path = by_name["mediation"][HOT_PATHS[i % len(HOT_PATHS)]]
        # Only the first steps (accept, assign, a session): the disputes must stay within 30 days.
        plan = _plan(rng, "mediation", path, "running", now=now, span=timedelta(days=25), cut=rng.randrange(0, 3))
        plan.start_data = _parties(rng, path, hot=True) | {"dispute_type": HOT_TYPES[i % len(HOT_TYPES)]}
        plans.append(plan)
    keys = list(WEIGHTS)
    while len(plans) < cases:
        key = rng.choices(keys, weights=[WEIGHTS[k] for k in keys])[0]
        path = rng.choice(PATHS[key])
        township = "chengguan"
        if key in ("mediation", "grid_event") and movable(path):
            township = rng.choices(list(SHARES), weights=list(SHARES.values()))[0]
            path = relocate(path, township)
        mode = rng.choices(["full", "running", "running-recent", "cancel"], weights=[55, 25, 12, 8])[0]
        plan = _plan(rng, key, path, mode, now=now, span=span)
        if key == "grid_event":
            plan.start_data = {"location": rng.choice(PLACES[township])}
        plans.append(plan)
    for plan in plans:
        if plan.process == "mediation" and not plan.start_data:
            plan.start_data = _parties(rng, plan.path, hot=False)
    plans.sort(key=lambda p: p.start_at)
    for serial, plan in enumerate(plans, 1):
        plan.serial = serial
    return plans


def _plan(rng: Random, key: str, path: dict, mode: str, *, now: datetime, span: timedelta,
          cut: int | None = None) -> CasePlan:
    steps = path["steps"]
    if mode != "full" and cut is None:
        cut = rng.randrange(0, len(steps)) if steps else 0
    plan = CasePlan(process=key, path=path, start_at=now, cut=cut, cancel=mode == "cancel")
    played = _length(plan.steps)
    latest = now - played - timedelta(hours=2)
    earliest = latest - timedelta(days=4) if mode == "running-recent" else now - span
    if mode.startswith("aged-"):  # started about that many days ago
        latest = min(latest, now - timedelta(days=int(mode[5:]) - 1))
        earliest = latest - timedelta(days=2)
    plan.start_at = _working_time(rng, earliest, max(latest, earliest))
    plan.urge = mode == "running" and now - plan.start_at > timedelta(days=7) and rng.random() < 0.5
    return plan


def _length(steps: list[dict]) -> timedelta:
    # An upper bound of how long playing the steps takes: working days can span a weekend and a
    # holiday; each step takes at most the player's pauses.
    total = timedelta()
    for step in steps:
        if "advance" in step:
            total += duration(step["advance"])
        elif "advance_workdays" in step:
            total += timedelta(days=int(step["advance_workdays"]) * 7 // 5 + 9)
        total += timedelta(minutes=60)
    return total + timedelta(days=1)  # a cancelled case is withdrawn up to a day later


def _working_time(rng: Random, earliest: datetime, latest: datetime) -> datetime:
    # Cases are registered on weekdays between 08:30 and 15:30 Beijing time.
    seconds = max(int((latest - earliest).total_seconds()), 0)
    moment = (earliest + timedelta(seconds=rng.randint(0, seconds))).astimezone(BEIJING)
    moment = moment.replace(hour=8, minute=30, second=0) + timedelta(minutes=rng.randrange(0, 7 * 60, 5))
    while moment.weekday() >= 5 or moment > latest:
        moment -= timedelta(days=1)
    return moment


def _parties(rng: Random, path: dict, *, hot: bool) -> dict:
    """Give a dispute's private parties fresh names, so that only the hot spot repeats one."""
    parties = [dict(p) for p in (path["start"].get("data") or {}).get("parties") or []]
    used: set[str] = {HOT_PARTY}
    for i, party in enumerate(parties):
        if hot and i == 0:
            party["name"] = HOT_PARTY
        elif not any(word in party["name"] for word in ORGANISATIONS):
            name = HOT_PARTY
            while name in used:
                name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            used.add(name)
            party["name"] = name
    return {"parties": parties} if parties else {}
