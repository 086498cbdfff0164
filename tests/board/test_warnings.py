"""Early warning (issue 12, item 3): DMN rules deployed like processes, evaluated over cases started through the engine.

Each shipped rule fires on data built for it and stays quiet just under its threshold; a
redeployed table changes what fires; a warning is raised once, told to the leaders over it once,
seen only within scope, dismissed only with a reason, and turned into a supervision item in one step.
The clock is the frozen one of tests/conftest.py (Monday 2 March 2026, 09:00 Beijing).
"""
from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from sqlalchemy import select

from engine.board.models import EarlyWarning, WarningEvent, WarningSchedule, WarningStatus
from engine.board.warning_rules import rules_in_force
from engine.board.warnings import (
    acknowledge_warning, dismiss_warning, evaluate_if_due, evaluate_warnings, list_warnings, supervise_warning,
    warning_history,
)
from engine.definitions import deployment
from engine.errors import Conflict, DefinitionInvalid, FormInvalid, NotAllowed, NotFound
from engine.runtime import lifecycle
from engine.runtime.timers import sweep
from engine.store.models import Instance, Notification, User
from tests.board.conftest import beijing
from tests.conftest import T0
from tests.factories import only_task, open_tasks
from tests.scenario_player import ROOT

RULES = ROOT / "processes" / "warnings"
_serial = count(1)


@pytest.fixture
def rules(session, library):
    deployment.deploy(session, paths=[RULES], actor="tests")
    session.commit()


@pytest.fixture
def dispute(session, actors, frozen, rules):
    """Return ``dispute(days_ago, parties=..., township=..., village=..., violence=False)``: a dispute registered then."""
    def _start(days_ago: float, *, parties=None, township="chengguan", village=None, violence=False, by=None):
        n = next(_serial)
        frozen.set(T0 - timedelta(days=days_ago))
        names = parties or [f"甲{n}", f"乙{n}"]
        data = {"source": "主动排查", "dispute_type": "邻里纠纷", "dispute_summary": f"纠纷{n}",
                "description": "双方因琐事争执。", "amount": 0, "people_count": 2, "violence_risk": violence,
                "parties": [{"name": names[0], "role": "申请人"}, *({"name": p, "role": "被申请人"} for p in names[1:])],
                "township": township}
        if village:
            data["village"] = village
        starter = by or {"chengguan": "li.sl", "hexi": "qian.sl", "xinzhuang": "gao.sl"}[township]
        inst = lifecycle.start_instance(session, process_key="mediation", actor=actors(starter), data=data)
        frozen.set(T0)
        return inst
    return _start


def _fired(session, rule, kind=None):
    query = select(EarlyWarning).where(EarlyWarning.rule_key == rule)
    if kind:
        query = query.where(EarlyWarning.subject_kind == kind)
    return list(session.scalars(query.order_by(EarlyWarning.id)))


# -- each shipped rule: fires on data built for it, not just under its threshold ---------------------

def test_repeat_dispute_fires_for_a_party_in_three_disputes_within_30_days_and_not_for_two(session, dispute):
    hot = [dispute(d, parties=["刘长贵", f"邻居{d}"]) for d in (29, 10, 1)]
    dispute(31, parties=["王二", "邻居A"])           # 31 days ago: outside the window
    dispute(20, parties=["王二", "邻居B"])
    dispute(2, parties=["王二", "邻居C"])
    evaluate_warnings(session, now=T0)
    fired = _fired(session, "repeat_dispute", "party")
    assert [w.subject for w in fired] == ["刘长贵"]
    assert sorted(fired[0].evidence) == sorted(i.id for i in hot)
    assert fired[0].message == "当事人刘长贵近30日涉及3起矛盾纠纷"
    assert fired[0].level == "yellow" and fired[0].facts["disputes_within_30_days"] == 3


def test_repeat_dispute_fires_for_a_village_with_three_disputes_and_not_for_two(session, dispute):
    dispute(5, village="dongjie")
    dispute(6, village="dongjie")
    dispute(7, village="dongjie")
    dispute(5, township="hexi", village="liushu")
    dispute(6, township="hexi", village="liushu")
    evaluate_warnings(session, now=T0)
    fired = _fired(session, "repeat_dispute", "location")
    assert [(w.subject, w.subject_name) for w in fired] == [("dongjie", "东街社区")]
    assert fired[0].message == "东街社区近30日发生3起矛盾纠纷"


def test_surge_fires_when_this_weeks_disputes_reach_twice_the_8_week_average(session, dispute):
    for d in (10, 20, 30, 40):           # 4 in the 8 weeks before: 0.5 a week
        dispute(d)
    for d in (1, 2, 3):                  # 3 this week: ≥ 2 × 0.5 and ≥ 3
        dispute(d)
    for d in (10, 20, 30, 40):           # 河西乡: the same history, 2 this week (under the minimum of 3)
        dispute(d, township="hexi")
    for d in (1, 2):
        dispute(d, township="hexi")
    evaluate_warnings(session, now=T0)
    fired = _fired(session, "surge")
    assert [w.subject for w in fired] == ["chengguan"]
    assert fired[0].facts == {"subject": "城关镇", "township": "城关镇", "new_this_week": 3,
                              "weekly_average_8_weeks": 0.5}
    assert len(fired[0].evidence) == 3


def test_surge_does_not_fire_just_under_twice_the_average(session, dispute):
    for week in range(1, 9):             # 2 a week for 8 weeks: average 2
        dispute(7 * week + 1)
        dispute(7 * week + 2)
    for d in (1, 2, 3):                  # 3 this week: under 2 × 2
        dispute(d)
    evaluate_warnings(session, now=T0)
    assert _fired(session, "surge") == []
    dispute(4)                           # the 4th reaches twice the average
    evaluate_warnings(session, now=T0)
    assert [w.facts["new_this_week"] for w in _fired(session, "surge")] == [4]


def test_violence_risk_fires_after_3_days_without_a_visit_and_not_after_2(session, dispute, actors):
    late = dispute(3, violence=True)
    dispute(2.9, violence=True)
    dispute(10, violence=False)
    evaluate_warnings(session, now=T0)
    fired = _fired(session, "violence_no_visit")
    assert [w.evidence for w in fired] == [[late.id]]
    assert fired[0].level == "red" and fired[0].facts["days_since_visit"] == 3


def test_a_visit_restarts_the_violence_count(session, dispute, actors, frozen):
    case = dispute(10, violence=True)
    frozen.set(T0 - timedelta(days=6))
    lifecycle.complete_task(session, task_id=only_task(session, case.id, "accept").id, data={"accepted": True},
                          actor=actors("li.sl"))
    police = next(t for t in open_tasks(session, case.id) if t.element_id == "alert_police")
    lifecycle.complete_task(session, task_id=police.id, actor=actors("zhou.ga"),
                          data={"police_measures": "约谈双方，每日巡查。", "police_officer": "周承办"})
    frozen.set(T0)
    evaluate_warnings(session, now=T0)                     # visited 6 days ago: under 7
    assert _fired(session, "violence_no_visit") == []
    evaluate_warnings(session, now=T0 + timedelta(days=1))  # 7 days since the visit
    fired = _fired(session, "violence_no_visit")
    assert [(w.level, w.facts["visited"], w.facts["days_since_visit"]) for w in fired] == [("orange", True, 7)]


def test_red_card_fires_on_a_supervision_item_at_red_and_not_at_yellow(session, rules, start_item):
    item = start_item("消防通道整治", "housing")   # due 16 March 17:30; red from 23 March 17:30
    evaluate_warnings(session, now=beijing("2026-03-23T17:29:00"))
    assert _fired(session, "red_card") == []
    evaluate_warnings(session, now=beijing("2026-03-23T17:31:00"))
    fired = _fired(session, "red_card")
    assert [w.evidence for w in fired] == [[item.id]]
    assert fired[0].message == "督办事项“消防通道整治”已亮红牌，超期5个工作日（牵头单位：县住建局）"


# -- rules are deployed and versioned like processes ------------------------------------------------

def test_a_redeployed_rule_with_another_threshold_changes_what_fires(session, dispute, tmp_path):
    dispute(3, parties=["赵大", "钱二"])
    dispute(4, parties=["赵大", "孙三"])
    evaluate_warnings(session, now=T0)
    assert _fired(session, "repeat_dispute", "party") == []
    folder = tmp_path / "warnings"
    folder.mkdir()
    text = (RULES / "repeat_dispute.dmn").read_text(encoding="utf-8")
    (folder / "repeat_dispute.dmn").write_text(text.replace(
        '<inputEntry id="repeat_dispute_r2_i1"><text>&gt;= 3</text>',
        '<inputEntry id="repeat_dispute_r2_i1"><text>&gt;= 2</text>'), encoding="utf-8")
    results = deployment.deploy(session, paths=[folder], actor="designer")
    assert [(r.key, r.version, r.created) for r in results] == [("warnings/repeat_dispute", 2, True)]
    assert deployment.deploy(session, paths=[folder])[0].created is False     # same content: no new version
    assert {r.key: r.version for r in rules_in_force(session)}["repeat_dispute"] == 2
    evaluate_warnings(session, now=T0)
    fired = _fired(session, "repeat_dispute", "party")
    assert [(w.subject, w.rule_version) for w in fired] == [("赵大", 2)]


def test_a_window_is_part_of_the_fact_name_so_it_changes_without_code(session, dispute, tmp_path):
    for d in (10, 40, 50):
        dispute(d, parties=["周六", f"对方{d}"])
    folder = tmp_path / "warnings"
    folder.mkdir()
    text = (RULES / "repeat_dispute.dmn").read_text(encoding="utf-8").replace("disputes_within_30_days",
                                                                              "disputes_within_60_days")
    (folder / "repeat_dispute.dmn").write_text(text, encoding="utf-8")
    deployment.deploy(session, paths=[folder])
    evaluate_warnings(session, now=T0)
    assert [w.facts["disputes_within_60_days"] for w in _fired(session, "repeat_dispute", "party")] == [3]


def test_a_rule_reading_an_unknown_fact_is_refused_with_the_line_and_a_hint(session, rules, tmp_path):
    folder = tmp_path / "warnings"
    folder.mkdir()
    text = (RULES / "surge.dmn").read_text(encoding="utf-8").replace("weekly_average_8_weeks", "weekly_avg")
    (folder / "surge.dmn").write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionInvalid) as exc:
        deployment.deploy(session, paths=[folder])
    problem = exc.value.details[0]
    assert "weekly_avg" in problem.message and problem.file == "surge.dmn" and problem.line
    assert "weekly_average" in (problem.hint or "")
    assert {r.key: r.version for r in rules_in_force(session)}["surge"] == 1


# -- dedupe, notify once, scope ---------------------------------------------------------------------

def _hot_spot(dispute):
    return [dispute(d, parties=["刘长贵", f"邻居{d}"]) for d in (20, 10, 1)]


def test_the_same_warning_is_not_raised_twice_while_open_and_grows_its_evidence(session, dispute):
    _hot_spot(dispute)
    first = evaluate_warnings(session, now=T0)
    again = evaluate_warnings(session, now=T0 + timedelta(minutes=15))
    assert len(first.raised) >= 1 and again.raised == []
    [warning] = _fired(session, "repeat_dispute", "party")
    newer = dispute(0.5, parties=["刘长贵", "新邻居"])
    third = evaluate_warnings(session, now=T0)
    assert third.raised == [] and warning.id in third.updated
    session.refresh(warning)
    assert newer.id in warning.evidence and warning.facts["disputes_within_30_days"] == 4
    kinds = [e.kind for e in warning_history(session, warning_id=warning.id, actor=_actor(session, "he.ld"))]
    assert kinds == ["raised", "evidence_changed"]


def test_a_dismissed_warning_comes_back_only_with_new_cases(session, dispute, actors):
    _hot_spot(dispute)
    evaluate_warnings(session, now=T0)
    [warning] = _fired(session, "repeat_dispute", "party")
    dismiss_warning(session, warning_id=warning.id, actor=actors("he.ld"), reason="已逐件核实，系同一纠纷的重复登记")
    assert evaluate_warnings(session, now=T0).raised == []
    dispute(0.5, parties=["刘长贵", "新邻居"])
    evaluate_warnings(session, now=T0)
    assert [w.status for w in _fired(session, "repeat_dispute", "party")] == ["dismissed", "open"]


def test_a_warning_whose_rule_no_longer_fires_is_resolved_and_not_raised_again(session, dispute, actors):
    _hot_spot(dispute)                       # 20, 10 and 1 days ago: three within 30 days
    evaluate_warnings(session, now=T0)
    [warning] = _fired(session, "repeat_dispute", "party")
    acknowledge_warning(session, warning_id=warning.id, actor=actors("he.ld"))
    still = evaluate_warnings(session, now=T0 + timedelta(days=9))     # the oldest is 29 days old
    assert warning.id not in still.resolved and warning.status == "acknowledged"
    later = evaluate_warnings(session, now=T0 + timedelta(days=11))    # 31 days: two left in the window
    assert warning.id in later.resolved
    session.refresh(warning)
    assert (warning.status, warning.open_key, warning.closed_by) == ("resolved", None, "system")
    assert warning.closed_at is not None and warning.evidence    # the cases behind it are kept
    history = warning_history(session, warning_id=warning.id, actor=actors("he.ld"))
    assert [e.kind for e in history] == ["raised", "acknowledged", "resolved"]
    assert history[-1].detail["reason"] == "预警条件已不满足，自动解除"
    assert evaluate_warnings(session, now=T0 + timedelta(days=11)).raised == []
    with pytest.raises(Conflict, match="已解除"):
        dismiss_warning(session, warning_id=warning.id, actor=actors("he.ld"), reason="迟到的排除")
    views, total = list_warnings(session, actor=actors("he.ld"), status="resolved")
    assert [v.id for v in views] == [warning.id] and total == 1
    assert all(v.id != warning.id for v in list_warnings(session, actor=actors("he.ld"), status="open")[0])


def test_a_dismissed_warning_is_not_resolved_by_a_later_evaluation(session, dispute, actors):
    _hot_spot(dispute)
    evaluate_warnings(session, now=T0)
    [warning] = _fired(session, "repeat_dispute", "party")
    dismiss_warning(session, warning_id=warning.id, actor=actors("he.ld"), reason="同一纠纷重复登记")
    report = evaluate_warnings(session, now=T0 + timedelta(days=11))
    session.refresh(warning)
    assert warning.id not in report.resolved and warning.status == "dismissed"
    assert warning.dismiss_reason == "同一纠纷重复登记"


def test_a_red_card_warning_is_resolved_when_the_item_is_withdrawn(session, rules, start_item, actors):
    item = start_item("消防通道整治", "housing")
    evaluate_warnings(session, now=beijing("2026-03-23T17:31:00"))
    [warning] = _fired(session, "red_card")
    lifecycle.cancel_instance(session, instance_id=item.id, actor=actors("admin"), reason="督办事项撤销")
    session.flush()
    report = evaluate_warnings(session, now=beijing("2026-03-23T18:00:00"))
    assert report.resolved == [warning.id]
    assert [w.status for w in _fired(session, "red_card")] == ["resolved"]


def _actor(session, username):
    from engine.org.orgs import actor_for
    return actor_for(session, username=username)


def _notices(session, username):
    user_id = session.scalar(select(User.id).where(User.username == username))
    return [n.text for n in session.scalars(select(Notification).where(
        Notification.user_id == user_id, Notification.kind == "warning"))]


def test_the_leaders_over_the_warning_are_notified_once(session, dispute):
    _hot_spot(dispute)
    evaluate_warnings(session, now=T0)
    evaluate_warnings(session, now=T0 + timedelta(hours=1))
    expected = ["【黄色预警·重复纠纷】当事人刘长贵近30日涉及3起矛盾纠纷"]
    assert _notices(session, "lin.ld") == expected      # 城关镇's leader
    assert _notices(session, "he.ld") == expected       # the county's leader
    assert _notices(session, "xu.ld") == []             # 河西乡's leader: not his township
    assert _notices(session, "zheng.dc") == []          # an inspector sees the list but is not a leader


@pytest.mark.parametrize("username, sees", [
    ("he.ld", {"chengguan", "hexi"}), ("zheng.dc", {"chengguan", "hexi"}), ("admin", {"chengguan", "hexi"}),
    ("lin.ld", {"chengguan"}), ("xu.ld", {"hexi"}), ("cao.ld", set()),
])
def test_each_viewer_sees_the_warnings_of_their_scope(session, dispute, actors, username, sees):
    _hot_spot(dispute)
    for d in (3, 4, 5):
        dispute(d, township="hexi", parties=["陈老四", f"对方{d}"])
    evaluate_warnings(session, now=T0)
    views, total = list_warnings(session, actor=actors(username), rule="repeat_dispute", limit=100)
    assert total == len(views)
    assert {v.org_code for v in views} == sees


def test_staff_without_a_leading_role_have_no_warning_list(session, dispute, actors):
    _hot_spot(dispute)
    evaluate_warnings(session, now=T0)
    [warning] = _fired(session, "repeat_dispute", "party")
    with pytest.raises(NotAllowed):
        list_warnings(session, actor=actors("li.sl"))
    with pytest.raises(NotFound):   # a leader of another township cannot act on it either
        acknowledge_warning(session, warning_id=warning.id, actor=actors("xu.ld"))


# -- acting on a warning ----------------------------------------------------------------------------

def test_acknowledge_then_dismiss_with_a_reason(session, dispute, actors):
    _hot_spot(dispute)
    evaluate_warnings(session, now=T0)
    [warning] = _fired(session, "repeat_dispute", "party")
    view = acknowledge_warning(session, warning_id=warning.id, actor=actors("lin.ld"))
    assert (view.status, view.acknowledged_by) == (WarningStatus.ACKNOWLEDGED, "lin.ld")
    with pytest.raises(Conflict):
        acknowledge_warning(session, warning_id=warning.id, actor=actors("lin.ld"))
    view = dismiss_warning(session, warning_id=warning.id, actor=actors("lin.ld"), reason="  已化解，双方和好  ")
    assert (view.status, view.dismiss_reason, view.closed_by) == (WarningStatus.DISMISSED, "已化解，双方和好", "lin.ld")
    with pytest.raises(Conflict):
        dismiss_warning(session, warning_id=warning.id, actor=actors("lin.ld"), reason="再次排除")


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_dismiss_without_a_reason_is_refused_and_nothing_changes(session, dispute, actors, reason):
    _hot_spot(dispute)
    evaluate_warnings(session, now=T0)
    [warning] = _fired(session, "repeat_dispute", "party")
    events = session.scalar(select(WarningEvent.id).where(WarningEvent.warning_id == warning.id)
                            .order_by(WarningEvent.id.desc()).limit(1))
    with pytest.raises(FormInvalid) as exc:
        dismiss_warning(session, warning_id=warning.id, actor=actors("he.ld"), reason=reason)
    assert exc.value.details[0].field == "reason" and exc.value.message == "请填写排除理由"
    session.refresh(warning)
    assert (warning.status, warning.open_key, warning.dismiss_reason) == ("open", "repeat_dispute|party|刘长贵", None)
    assert session.scalar(select(WarningEvent.id).where(WarningEvent.warning_id == warning.id)
                          .order_by(WarningEvent.id.desc()).limit(1)) == events


def test_supervise_starts_a_linked_prefilled_supervision_item(session, dispute, actors):
    hot = _hot_spot(dispute)
    evaluate_warnings(session, now=T0)
    [warning] = _fired(session, "repeat_dispute", "party")
    view, item = supervise_warning(session, warning_id=warning.id, actor=actors("zheng.dc"), lead_unit="justice",
                                   time_limit_workdays=5, assisting=["police"])
    assert view.status == WarningStatus.SUPERVISED and view.supervision_instance_id == item.id
    assert view.supervision_business_key == item.business_key
    assert item.process_key == "supervision"
    data = session.get(Instance, item.id).data
    assert data["source"] == "预警" and data["item_title"] == "预警督办：当事人刘长贵近30日涉及3起矛盾纠纷"
    assert data["lead_unit"] == "justice" and data["assisting"] == [{"unit": "police"}]
    for case in hot:
        assert case.business_key in data["content"]
    assert f"预警 #{warning.id}" in data["content"]
    # The item waits for the leader's approval like any other supervision item.
    assert only_task(session, item.id, "approve") is not None
    kinds = [e.kind for e in warning_history(session, warning_id=warning.id, actor=actors("zheng.dc"))]
    assert kinds == ["raised", "supervised"]


def test_supervise_with_a_missing_lead_unit_is_refused_and_nothing_changes(session, dispute, actors):
    _hot_spot(dispute)
    evaluate_warnings(session, now=T0)
    [warning] = _fired(session, "repeat_dispute", "party")
    before = session.scalar(select(Instance.id).where(Instance.process_key == "supervision").limit(1))
    with pytest.raises(FormInvalid) as exc:
        supervise_warning(session, warning_id=warning.id, actor=actors("zheng.dc"), lead_unit=None,
                          time_limit_workdays=None)
    assert {p.field for p in exc.value.details} >= {"lead_unit", "time_limit_workdays"}
    session.refresh(warning)
    assert warning.status == "open" and warning.supervision_instance_id is None
    assert session.scalar(select(Instance.id).where(Instance.process_key == "supervision").limit(1)) == before


# -- on schedule ------------------------------------------------------------------------------------

def test_the_sweep_evaluates_once_per_interval(committed):
    services = committed
    try:
        with services.session() as s:
            s.query(WarningSchedule).delete()
        sweep(services, now=T0)
        with services.session() as s:
            row = s.get(WarningSchedule, 1)
            assert row.last_started_at == T0 and row.last_finished_at is not None and row.last_error is None
        interval = timedelta(minutes=services.settings.warning_interval_minutes)
        assert evaluate_if_due(services, now=T0 + interval - timedelta(seconds=1)) is None
        assert evaluate_if_due(services, now=T0 + interval) is not None
        with services.session() as s:
            assert s.get(WarningSchedule, 1).last_started_at == T0 + interval
    finally:
        with services.session() as s:
            s.query(WarningSchedule).delete()


# -- the demo county ---------------------------------------------------------------------------------

def test_the_seeded_hot_spot_raises_the_repeat_dispute_warning_with_exactly_its_cases(session, actors):
    from datetime import datetime, timezone

    from engine import clock
    from engine.clock import FrozenClock
    from engine.seed import seed_history
    from engine.seed.history import HOT_PARTY
    from engine.store.models import CaseField, InstanceStatus

    now = datetime(2026, 6, 15, 2, 0, tzinfo=timezone.utc)
    deployment.deploy(session, paths=[ROOT], actor="test")    # processes and processes/warnings alike
    seed_history(session, cases=30, months=2, seed=7, now=now)
    previous = clock.install(FrozenClock(now))
    try:
        evaluate_warnings(session, now=now)
        behind = set(session.scalars(
            select(Instance.id).join(CaseField, CaseField.instance_id == Instance.id)
            .where(CaseField.name == "party", CaseField.value == HOT_PARTY, Instance.process_key == "mediation",
                   Instance.status != InstanceStatus.CANCELLED, Instance.started_at >= now - timedelta(days=30))))
        views, _ = list_warnings(session, actor=actors("he.ld"), rule="repeat_dispute", limit=200)
        [hot] = [v for v in views if v.subject_kind == "party" and v.subject_name == HOT_PARTY]
        assert len(behind) >= 3 and {e.instance_id for e in hot.evidence} == behind
        township = {v.id for v in list_warnings(session, actor=actors("lin.ld"), limit=200)[0]}
        assert (hot.id in township) == (hot.org_code in ("chengguan", "dongjie", "dongjie-1"))
        with pytest.raises(NotAllowed):
            list_warnings(session, actor=actors("wu.zj"))
    finally:
        clock.install(previous)


def test_a_cell_the_sandbox_refuses_is_refused_at_deployment(session, rules, tmp_path):
    folder = tmp_path / "warnings"
    folder.mkdir()
    text = (RULES / "red_card.dmn").read_text(encoding="utf-8").replace(
        "<text>'红牌'</text>", "<text>__import__('os').getcwd()</text>")
    (folder / "red_card.dmn").write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionInvalid) as exc:
        deployment.deploy(session, paths=[folder])
    assert any("不能执行" in p.message and p.file == "red_card.dmn" for p in exc.value.details)
    assert {r.key: r.version for r in rules_in_force(session)}["red_card"] == 1


def test_a_rule_failing_on_its_facts_does_not_silence_the_others(session, dispute, tmp_path):
    _hot_spot(dispute)
    folder = tmp_path / "warnings"
    folder.mkdir()
    text = (RULES / "surge.dmn").read_text(encoding="utf-8").replace(
        "&gt;= 3 * weekly_average_8_weeks", "&gt;= 3 / (weekly_average_8_weeks - weekly_average_8_weeks)")
    (folder / "surge.dmn").write_text(text, encoding="utf-8")
    deployment.deploy(session, paths=[folder])
    report = evaluate_warnings(session, now=T0)
    assert list(report.failed) == ["surge"] and "surge" in report.failed["surge"]
    assert [w.subject for w in _fired(session, "repeat_dispute", "party")] == ["刘长贵"]


def test_celery_beat_asks_for_the_same_evaluation_every_interval(services):
    from worker.app import create_celery
    from worker.tasks import evaluate_warnings as task

    app = create_celery(services.settings.with_(warning_interval_minutes=20))
    entry = app.conf.beat_schedule["evaluate-warnings"]
    assert (entry["task"], entry["schedule"]) == (task.name, 1200.0)
