"""Recording a scenario by playing a draft: start, tasks as chosen users, simulated time, save, run it."""
from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from sqlalchemy import func, select

from engine.errors import Conflict, FormInvalid, NotAllowed, NotFound
from engine.store.models import Instance
from engine.studio import drafts, playground
from engine.studio.scenarios import run_scenarios
from tests.scenario_player import library_files

START = yaml.safe_load(library_files("mediation")["tests/scenarios/mediation/limit_no_consent.yaml"])["start"]


@pytest.fixture
def draft(session, actors, library):
    return drafts.create_draft(session, actor=actors("designer"), process_key="mediation")


def test_record_save_run_passes(session, actors, draft):
    designer = actors("designer")
    ids = dict(draft_id=draft.id, actor=designer)
    cases_before = session.scalar(select(func.count()).select_from(Instance))

    view = playground.start_play(session, **ids)
    assert not view.started and view.process == "mediation"
    assert "li.sl" in [p.username for p in view.starters]
    assert "dispute_type" in view.start_form["properties"]
    play = dict(ids, play_id=view.id)

    view = playground.play_start(session, **play, as_user="li.sl", data=START["data"])
    [accept] = view.tasks
    assert accept.element_id == "accept" and accept.name
    assert "li.sl" in [p.username for p in accept.candidates] and "chen.tj" not in [p.username for p in accept.candidates]
    assert "accepted" in accept.form_schema["properties"]

    # Refusals change nothing and are not recorded: the wrong person, a form with errors.
    with pytest.raises(NotAllowed, match="不能办理"):
        playground.play_complete(session, **play, task_id=accept.id, as_user="chen.tj", data={"accepted": True})
    with pytest.raises(FormInvalid):
        playground.play_complete(session, **play, task_id=accept.id, as_user="li.sl", data={"accepted": False})
    assert playground.get_play(session, **play).steps == []

    view = playground.play_complete(session, **play, task_id=accept.id, as_user="li.sl", data={"accepted": True})
    [assign] = view.tasks
    view = playground.play_complete(session, **play, task_id=assign.id, as_user="li.sl",
                                    data={"lead_mediator": "chen.tj", "selection": "调解委员会指定"})
    assert [t.element_id for t in view.tasks] == ["session"]
    assert "limit_timer" in [t["element_id"] for t in view.timers]
    limit_due = next(t["due_at"] for t in view.timers if t["element_id"] == "limit_timer")

    # A month of simulated time in one request: the limit timer fires at once.
    before = view.now
    view = playground.play_advance(session, **play, days=30, hours=1)
    assert view.now - before == timedelta(days=30, hours=1) and view.now > limit_due
    [limit] = view.tasks
    assert limit.element_id == "limit_reached"
    assert "limit_timer" in view.path

    view = playground.play_complete(session, **play, task_id=limit.id, as_user="chen.tj",
                                    data={"parties_agree_extension": False})
    [terminate] = view.tasks
    view = playground.play_complete(session, **play, task_id=terminate.id, as_user="chen.tj", data={
        "termination_reason": "期限届满未能达成协议", "routes_informed": ["向人民法院起诉"], "notice_date": "2026-04-02"})
    assert view.case["status"] == "completed" and view.case["end_event"] == "end_terminated"
    assert view.path[-1] == "end_terminated"
    assert "f_limit_timer_limit_reached" in view.flows and "f_gw_extend_extend" not in view.flows
    assert [s.get("task") or s.get("advance") for s in view.steps] == [
        "accept", "assign", "P30DT1H", "limit_reached", "terminate"]

    base = draft.revision
    path, revision = playground.save_recording(session, **play, name="录制_期满终止", title="期满不同意延期",
                                               base_revision=base)
    assert path == "tests/scenarios/mediation/录制_期满终止.yaml" and revision == base + 1
    files = drafts.draft_files(session, draft_id=draft.id, actor=designer)
    saved = yaml.safe_load(files[path])
    assert saved["expect"] == {"status": "completed", "end": "end_terminated", "fired": ["limit_timer"]}
    assert saved["steps"][2] == {"advance": "P30DT1H", "expect": {"tasks": ["limit_reached"]}}

    [result] = run_scenarios(files, only="录制_期满终止")
    assert result.passed, result.message
    assert result.path[-1] == "end_terminated"

    # Saving again under the same name is refused unless asked to overwrite; a stale revision is a conflict.
    with pytest.raises(Conflict, match="已有场景"):
        playground.save_recording(session, **play, name="录制_期满终止", base_revision=revision)
    with pytest.raises(Conflict):
        playground.save_recording(session, **play, name="另一个", base_revision=base)

    # Nothing of the play reached the real database.
    assert session.scalar(select(func.count()).select_from(Instance)) == cases_before
    playground.end_play(session, **play)
    with pytest.raises(NotFound):
        playground.get_play(session, **play)


def test_sessions_are_their_owners_bounded_and_expire(session, actors, draft, frozen):
    designer, admin = actors("designer"), actors("admin")
    first = playground.start_play(session, draft_id=draft.id, actor=designer)
    # Someone else's session is not there for them; a non-designer may not play at all.
    with pytest.raises(NotFound):
        playground.get_play(session, draft_id=draft.id, play_id=first.id, actor=admin)
    with pytest.raises(NotAllowed):
        playground.start_play(session, draft_id=draft.id, actor=actors("li.sl"))
    with pytest.raises(NotFound):
        playground.get_play(session, draft_id=draft.id + 1, play_id=first.id, actor=designer)

    later = [playground.start_play(session, draft_id=draft.id, actor=designer) for _ in range(playground.MAX_PER_USER)]
    with pytest.raises(NotFound):  # the least recently used one made room
        playground.get_play(session, draft_id=draft.id, play_id=first.id, actor=designer)
    assert playground.get_play(session, draft_id=draft.id, play_id=later[-1].id, actor=designer).id == later[-1].id

    frozen.advance(playground.IDLE_TTL + timedelta(minutes=1))
    with pytest.raises(NotFound, match="过期"):
        playground.get_play(session, draft_id=draft.id, play_id=later[-1].id, actor=designer)
    with pytest.raises(NotFound):
        playground.get_play(session, draft_id=draft.id, play_id="../../etc", actor=designer)


def test_advance_refuses_nonsense_and_before_the_start(session, actors, draft):
    designer = actors("designer")
    play = dict(draft_id=draft.id, actor=designer, play_id=playground.start_play(session, draft_id=draft.id,
                                                                                  actor=designer).id)
    with pytest.raises(Conflict, match="请先发起案件"):
        playground.play_advance(session, **play, days=1)
    playground.play_start(session, **play, as_user="li.sl", data=START["data"])
    for bad in (dict(days=0), dict(days=-1, hours=30), dict(days=5000), dict(workdays=3, days=1)):
        with pytest.raises(Exception, match="推进|工作日"):
            playground.play_advance(session, **play, **bad)
    view = playground.play_advance(session, **play, workdays=2)
    assert view.steps == [{"advance_workdays": 2, "expect": {"tasks": ["accept"]}}]
    playground.end_play(session, **play)
