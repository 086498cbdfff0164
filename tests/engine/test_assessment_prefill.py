"""Assessment from platform data (issue 12, item 4): the self-assessment is pre-filled with the township's indicators.

The pre-fill is the process's own doing: a preScript on 自查自评 calls ``platform_indicators``
for the township of each instance. The figures must equal ``indicators()`` for that township and
period, name the cases behind them, and reach the assessor beside what the township claimed.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from engine.board.indicators import KEYS, indicators
from engine.context import context_of
from engine.definitions import deployment
from engine.definitions.scripting import make_helpers
from engine.errors import EngineError
from engine.org.orgs import SYSTEM, actor_for
from engine.runtime import lifecycle
from engine.runtime.messages import send_message
from engine.runtime.tasks import return_task
from engine.runtime.timers import fire_due
from engine.seed.play import duration
from engine.spiff.sandbox import SandboxViolation
from engine.store.models import Instance, InstanceStatus, Org
from tests.conftest import T0
from tests.factories import open_tasks
from tests.scenario_player import ROOT, SCENARIOS, load_scenario

PERIOD = ("2026-03-01", "2026-04-30")
PLAYED = [("grid_event", "burst_pipe_closed_on_time"), ("grid_event", "overdue_red_escalated"),
          ("mediation", "limit_no_consent"), ("report_review", "checks_jumps_and_send_back"),
          ("supervision", "late_receipt_yellow_red_summon")]


def play_history(session, services, frozen) -> dict[str, int]:
    """Deploy the library and play a few shipped scenarios on ``session``, each from T0; return their case ids."""
    deployment.deploy(session, paths=[*sorted((ROOT / "processes").glob("*.bpmn")),
                                       *sorted((ROOT / "processes").glob("*.dmn")),
                                       *sorted((ROOT / "processes").glob("*.yaml")), ROOT / "forms"])
    ids = {}
    for process, name in PLAYED:
        frozen.set(T0)
        ids[name] = _play(session, frozen, load_scenario(SCENARIOS / process / f"{name}.yaml")).id
    return ids


def _play(session, frozen, scenario) -> Instance:
    """Do a scenario's steps (its checks are tests/test_scenarios.py's business)."""
    start = scenario.start
    case = lifecycle.start_instance(session, process_key=scenario.process, data=start.get("data") or {},
                                  actor=actor_for(session, username=start["as"]), org_code=start.get("org"))
    calendar = context_of(session).calendar(session)
    for step in scenario.steps:
        if "task" in step and not step.get("refused"):
            actor = actor_for(session, username=step["as"])
            task = next(t for t in open_tasks(session, case.id) if t.element_id == step["task"] and (
                step.get("org") is None or t.candidate_org.code == step["org"]) and lifecycle.may_act(t, actor))
            lifecycle.complete_task(session, task_id=task.id, data=step.get("data") or {}, actor=actor,
                                  opinion=step.get("opinion"))
        elif "advance" in step or "advance_workdays" in step:
            target = frozen.now() + duration(step["advance"]) if "advance" in step else \
                calendar.add_workdays(frozen.now(), int(step["advance_workdays"])) + timedelta(minutes=1)
            frozen.set(target)
            fire_due(session)
        elif "message" in step:
            msg = step["message"]
            send_message(session, name=msg["name"], correlation=msg.get("correlation") or {},
                         payload=msg.get("payload") or {}, actor=SYSTEM)
        elif "return_to" in step:
            spec = step["return_to"]
            actor = actor_for(session, username=spec["as"])
            task = next(t for t in open_tasks(session, case.id) if t.element_id == spec["task"])
            return_task(session, task_id=task.id, actor=actor, to_element=spec["to"], opinion=spec.get("opinion") or "退回")
    session.flush()
    return session.get(Instance, case.id)


def start_round(session, frozen, townships=("chengguan", "hexi")) -> Instance:
    """Open an assessment round for March and April, on 6 May."""
    frozen.set(datetime(2026, 5, 6, 1, 0, tzinfo=T0.tzinfo))
    return lifecycle.start_instance(session, process_key="assessment", actor=actor_for(session, username="feng.kh"), data={
        "period_name": "2026年3-4月平安建设考评", "period_start": PERIOD[0], "period_end": PERIOD[1],
        "townships": [{"township": t} for t in townships]})


def self_task(session, instance_id, township):
    return next(t for t in open_tasks(session, instance_id)
                if t.element_id == "self_assess" and t.candidate_org.code == township)


def task_data(session, task) -> dict:
    loaded = lifecycle.load(session, instance_id=task.instance_id)
    return next(t for t in loaded.runner.wf.get_tasks() if str(t.id) == task.id).data


def platform(session, township) -> dict:
    tz = context_of(session).calendar(session).tz
    path = session.scalar(select(Org.path).where(Org.code == township))
    start = datetime.combine(date.fromisoformat(PERIOD[0]), time(), tz)
    end = datetime.combine(date.fromisoformat(PERIOD[1]) + timedelta(days=1), time(), tz)
    return indicators(session, actor=SYSTEM, start=start, end=end, org_path=path)


@pytest.fixture
def history(session, services, frozen):
    return play_history(session, services, frozen)


def test_each_township_form_is_prefilled_with_its_own_platform_figures(session, frozen, history):
    case = start_round(session, frozen)
    keys = dict(session.execute(select(Instance.id, Instance.business_key)).all())
    for township in ("chengguan", "hexi"):
        data = task_data(session, self_task(session, case.id, township))
        expected = platform(session, township)
        rows = {row["key"]: row for row in data["platform_figures"]}
        assert list(rows) == list(KEYS)
        for key, figure in expected.items():
            row = rows[key]
            assert (row["value"], row["numerator"], row["denominator"]) == (figure.value, figure.numerator,
                                                                            figure.denominator), (township, key)
            # Traceable: the business key of every case behind the figure is listed.
            assert set(filter(None, row["cases"].split("、"))) == {keys[i] for i in figure.numerator_case_ids}
            others = set(figure.case_ids) - set(figure.numerator_case_ids)
            assert set(filter(None, row["other_cases"].split("、"))) == {keys[i] for i in others}
        # The claimed figures start as the platform's.
        assert [(r["indicator"], r["claimed"]) for r in data["claimed_figures"]] == [
            (expected[k].label, expected[k].value) for k in KEYS]
    town = platform(session, "chengguan")
    # The played cases are 城关镇's (the grid events, the mediation, the report): the figures are not empty.
    assert town["grid_closure_rate"].value == 100.0 and town["report_returns"].numerator == 1
    assert (town["on_time_rate"].numerator, town["on_time_rate"].denominator) == (1, 3)
    assert (town["mediation_success_rate"].numerator, town["mediation_success_rate"].denominator) == (0, 1)
    assert keys[history["overdue_red_escalated"]] in next(
        r for r in task_data(session, self_task(session, case.id, "chengguan"))["platform_figures"]
        if r["key"] == "on_time_rate")["other_cases"]
    assert all(f.denominator == 0 for f in platform(session, "hexi").values())


def test_the_assessor_sees_claimed_and_platform_values_side_by_side(session, frozen, history):
    case = start_round(session, frozen)
    chengguan = self_task(session, case.id, "chengguan")
    claimed = task_data(session, chengguan)["claimed_figures"]
    claimed = [dict(r, claimed=95, note="按本镇台账") if r["indicator"] == "按期办结率" else r for r in claimed]
    scores = [{"code": "A1", "score": 5}]
    lifecycle.complete_task(session, task_id=chengguan.id, actor=actor_for(session, username="li.sl"),
                          data={"self_scores": scores, "claimed_figures": claimed})
    hexi = self_task(session, case.id, "hexi")
    lifecycle.complete_task(session, task_id=hexi.id, actor=actor_for(session, username="qian.sl"),
                          data={"self_scores": scores, "claimed_figures": task_data(session, hexi)["claimed_figures"]})
    for task in [t for t in open_tasks(session, case.id) if t.element_id == "unit_score"]:
        who = {"justice": "ma.sf", "police": "zhou.ga"}[task.candidate_org.code]
        lifecycle.complete_task(session, task_id=task.id, actor=actor_for(session, username=who),
                              data={"unit_scores": [{"township": "chengguan", "code": {"ma.sf": "B1", "zhou.ga": "C1"}[who], "score": 8}]})
    [field_check] = [t for t in open_tasks(session, case.id)]
    assert field_check.element_id == "field_check"
    rows = task_data(session, field_check)["figure_comparison"]
    assert len(rows) == 2 * len(KEYS)
    town = platform(session, "chengguan")
    mine = {r["indicator"]: r for r in rows if r["township"] == "chengguan"}
    on_time = mine["按期办结率"]
    assert (on_time["claimed"], on_time["platform"], on_time["agree"]) == (95, town["on_time_rate"].value, "不一致")
    assert on_time["platform_shown"] == "33.3%（1/3）"
    grid = mine["网格事件结案率"]
    assert (grid["claimed"], grid["platform"], grid["agree"]) == (100.0, 100.0, "一致")
    assert {r["agree"] for r in rows if r["township"] == "hexi"} == {"平台无数据"}
    # The self-scores still count as before.
    assert lifecycle.load(session, instance_id=case.id).instance.data["final"]["chengguan"]["A1"] == 5


@pytest.mark.parametrize("entered, counted", [
    (("2026-04-30", "2026-03-01"), PERIOD),                        # dates in the wrong order
    (("1999-01-01", "2026-04-30"), ("2023-05-01", "2026-04-30")),  # more than three years: the last three
])
def test_any_period_the_form_accepts_is_counted_and_never_stops_the_case(session, frozen, history, entered, counted):
    frozen.set(datetime(2026, 5, 6, 1, 0, tzinfo=T0.tzinfo))
    case = lifecycle.start_instance(session, process_key="assessment", actor=actor_for(session, username="feng.kh"), data={
        "period_name": "期间有误的考评", "period_start": entered[0], "period_end": entered[1],
        "townships": [{"township": "chengguan"}]})
    assert case.status == InstanceStatus.RUNNING
    data = task_data(session, self_task(session, case.id, "chengguan"))
    assert (data["stat_start"], data["stat_end"]) == counted
    figures = {r["key"]: r for r in data["platform_figures"]}
    if counted == PERIOD:
        assert figures["on_time_rate"]["numerator"] == platform(session, "chengguan")["on_time_rate"].numerator


def test_the_helper_refuses_a_reversed_or_endless_period_with_a_clear_message(session, frozen, history):
    from engine.board.platform_figures import platform_figures
    with pytest.raises(EngineError, match="截止日期 2026-03-01 早于起始日期 2026-04-30"):
        platform_figures(session, "chengguan", "2026-04-30", "2026-03-01")
    with pytest.raises(EngineError, match="不能超过"):
        platform_figures(session, "chengguan", "1999-01-01", "2026-04-30")
    with pytest.raises(EngineError, match="组织编码 'atlantis' 不存在"):
        platform_figures(session, "atlantis", "2026-03-01", "2026-04-30")


def test_the_helper_outside_a_running_case_says_so():
    helper = make_helpers(lambda: None)["platform_indicators"]
    with pytest.raises(SandboxViolation, match="只能在案件运行时"):
        helper("chengguan", "2026-03-01", "2026-04-30")
