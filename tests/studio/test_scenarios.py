"""Scenario runs of a file set: pass and fail with the failing step, the path taken, simulated time, a sandbox.

These run on the sandbox (a throwaway SQLite file), as the studio and ``pingan test`` do; the test
database is only looked at to prove it is left alone.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from sqlalchemy import func, select

from engine import clock
from engine.errors import NotFound
from engine.store.models import AuditEntry, Instance, Notification, ProcessDefinition
from engine.studio.scenarios import run_scenarios, scenario_path
from tests.scenario_player import library_files

MEDIATION = library_files("mediation")
NOT_ACCEPTED = "tests/scenarios/mediation/not_accepted.yaml"
EXTENDED = "tests/scenarios/mediation/limit_extended_with_consent.yaml"


def files_with(**scenarios: str) -> dict[str, str]:
    """The mediation process with only the given scenarios (name -> YAML text)."""
    files = {p: t for p, t in MEDIATION.items() if not p.startswith("tests/")}
    files.update({scenario_path("mediation", name): text for name, text in scenarios.items()})
    return files


def changed(path: str, change) -> str:
    raw = yaml.safe_load(MEDIATION[path])
    change(raw)
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


def test_a_passing_and_a_failing_scenario_say_which_step_failed_and_why():
    def wrong_end(raw):
        raw["expect"]["end"] = "end_closed"

    def wrong_user(raw):
        raw["steps"][1]["as"] = "chen.tj"  # a mediator, not the intake clerk

    results = run_scenarios(files_with(good=MEDIATION[NOT_ACCEPTED], bad_end=changed(NOT_ACCEPTED, wrong_end),
                                       bad_user=changed(NOT_ACCEPTED, wrong_user)))
    by_name = {r.name: r for r in results}
    assert sorted(by_name) == ["mediation/bad_end", "mediation/bad_user", "mediation/good"]

    good = by_name["mediation/good"]
    assert good.passed and good.failing_step is None and good.message == "通过"
    assert good.title.startswith("当事人申请调解")

    end = by_name["mediation/bad_end"]
    assert not end.passed
    assert (end.failing_step.index, end.failing_step.kind) == (3, "end")
    assert "结束检查" in end.message and "end_not_accepted" in end.message and "end_closed" in end.message

    user = by_name["mediation/bad_user"]
    assert not user.passed
    assert (user.failing_step.index, user.failing_step.kind) == (2, "step")
    assert "chen.tj 办理 accept" in user.failing_step.description
    assert user.message.startswith("第 2 步") and "chen.tj 没有可办理的任务 accept" in user.message
    assert user.open_tasks == ["accept"]  # where the case stood when it failed


def test_the_path_lists_the_elements_the_case_went_through_in_order():
    [result] = run_scenarios(files_with(good=MEDIATION[NOT_ACCEPTED]))
    assert result.passed
    assert result.path.index("accept") < result.path.index("end_not_accepted")
    assert result.path[-1] == "end_not_accepted"
    assert "assign" not in result.path  # the branch not taken is not on the path
    assert result.open_tasks == []
    # The sequence flows taken, for colouring the diagram: exactly the ones between those elements.
    assert result.flows == ["f_start_accept", "f_accept_gw_accept", "f_gw_accept_end_not_accepted"]


def test_timers_fire_in_simulated_time_without_waiting():
    before = datetime.now(timezone.utc)
    started = time.monotonic()
    [result] = run_scenarios(files_with(extended=MEDIATION[EXTENDED]))
    assert result.passed, result.message
    # 31 + 16 simulated days passed; the 31-day limit and the 15-day follow-up timers fired.
    assert {"limit_timer", "follow_up_wait"} <= set(result.path)
    assert time.monotonic() - started < 60
    # Only the run's own thread saw the simulated 2026 clock; the process clock is real time again.
    assert abs(clock.now() - before) < timedelta(minutes=5)


def test_a_timer_that_has_not_fallen_due_does_not_fire():
    def too_early(raw):
        raw["steps"][3]["advance"] = "P29D"  # the limit is a month

    [result] = run_scenarios(files_with(early=changed(EXTENDED, too_early)))
    assert not result.passed
    assert result.failing_step.index == 4
    # Names with the ids the scenario file uses, so the designer finds both on the diagram and in the file.
    assert "当前待办为 调解并制作笔录（session），预期为 期限届满：征询延期（limit_reached）" in result.message


def test_the_real_database_is_left_alone(services):
    def counts():
        with services.session(read_only=True) as s:
            return [s.scalar(select(func.count()).select_from(m)) for m in (Instance, ProcessDefinition, AuditEntry,
                                                                            Notification)]

    before = counts()
    results = run_scenarios(files_with(good=MEDIATION[NOT_ACCEPTED], extended=MEDIATION[EXTENDED]))
    assert all(r.passed for r in results)
    assert counts() == before


def test_bounded_runs_stop_with_a_clear_message():
    def far(raw):
        raw["steps"][3]["advance"] = "P5000D"

    results = run_scenarios(files_with(far=changed(EXTENDED, far)))
    assert not results[0].passed and "不超过 1098 天" in results[0].message

    # The wall-clock budget: a run out of time stops and says so for what it could not play.
    results = run_scenarios(files_with(one=MEDIATION[NOT_ACCEPTED], two=MEDIATION[EXTENDED]), time_budget=0)
    assert [r.passed for r in results] == [False, False]
    assert all("秒" in r.message and r.failing_step.kind in ("budget", "step") for r in results)


def test_broken_files_fail_their_scenarios_with_the_reason():
    results = run_scenarios(files_with(good=MEDIATION[NOT_ACCEPTED], broken="title: x\nstart: {as: li.sl}\nsteps:\n"
                                                                              "  - {task: accept, as: li.sl, colour: red}\n"))
    by_name = {r.name: r for r in results}
    assert by_name["mediation/good"].passed
    broken = by_name["mediation/broken"]
    assert broken.failing_step.kind == "file" and "colour" in broken.message

    files = files_with(good=MEDIATION[NOT_ACCEPTED])
    files["processes/mediation.bpmn"] = files["processes/mediation.bpmn"].replace('id="accept"', 'id="accept2"', 1)
    [result] = run_scenarios(files)
    assert not result.passed and result.failing_step.kind == "deploy"
    assert "未能部署" in result.message


def test_only_picks_scenarios_by_name():
    files = files_with(good=MEDIATION[NOT_ACCEPTED], extended=MEDIATION[EXTENDED])
    assert [r.name for r in run_scenarios(files, only="good")] == ["mediation/good"]
    assert [r.name for r in run_scenarios(files, only=["mediation/extended"])] == ["mediation/extended"]
    with pytest.raises(NotFound, match="没有名为 nothing 的场景"):
        run_scenarios(files, only="nothing")
    assert run_scenarios({p: t for p, t in files.items() if not p.startswith("tests/")}) == []


def test_simulated_time_stays_in_the_thread_that_runs_the_scenarios():
    """A request beside a scenario run (another thread) keeps the real clock."""
    import threading

    from engine.clock import FrozenClock

    seen = {}
    fake = FrozenClock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))
    with clock.using(fake):
        other = threading.Thread(target=lambda: seen.setdefault("other", clock.now()))
        other.start()
        other.join()
        seen["here"] = clock.now()
    assert seen["here"] == fake.now()
    assert abs(seen["other"] - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert abs(clock.now() - datetime.now(timezone.utc)) < timedelta(minutes=5)
