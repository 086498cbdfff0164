"""The board read from its tallies (engine/board/aggregates.py) equals the board counted on the cases themselves.

Shares the seeded history of test_figures.py. Each test that changes cases does so inside a
savepoint it rolls back, so the module's history stays as seeded.
"""
from __future__ import annotations

import importlib.util
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, text, update

from engine.board import aggregates, figures
from engine.board.aggregates import BoardOpenCase, BoardTally, BoardTallyDelta
from engine.board.figures import board
from engine.org.orgs import actor_for
from engine.store.models import HumanTask, Instance, InstanceStatus, Org, TaskStatus
from tests.board.test_figures import NOW, VIEWERS, _every_figure, seeded  # noqa: F401  (the shared history)
from tests.scenario_player import ROOT

MIGRATION = ROOT / "engine" / "store" / "migrations" / "versions" / "0006_board_tallies.py"


def _values(b) -> list:
    return [(f.key, f.label, tuple(sorted(f.link.params.items())), f.value) for f in _every_figure(b)]


def _direct(s, who, now=NOW):
    """The board as counted on ``instances`` (the tallies switched off)."""
    tallied = figures._tallied
    figures._tallied = lambda *a, **kw: None
    try:
        return board(s, actor=who, now=now)
    finally:
        figures._tallied = tallied


def _assert_tallied_equals_direct(s, usernames=VIEWERS, now=NOW) -> int:
    """Compare both boards for each viewer; return how many were answered from the tallies."""
    answered = 0
    for username in usernames:
        who = actor_for(s, username=username)
        calls = []
        tallied = figures._tallied
        figures._tallied = lambda *a, **kw: calls.append(tallied(*a, **kw)) or calls[-1]
        try:
            fast = board(s, actor=who, now=now)
        finally:
            figures._tallied = tallied
        answered += calls[0] is not None
        assert _values(fast) == _values(_direct(s, who, now)), username
    return answered


def test_every_viewer_gets_the_same_figures_from_the_tallies_as_from_the_cases(seeded):  # noqa: F811
    s = seeded
    assert s.scalar(select(func.count()).select_from(BoardTallyDelta)) > 0
    # The county and township leaders, the inspector and the unit handler are read from the tallies.
    assert _assert_tallied_equals_direct(s) >= 4


def test_folding_the_deltas_per_township_changes_no_figure(seeded):  # noqa: F811
    s = seeded
    nested = s.begin_nested()
    try:
        before = {u: _values(board(s, actor=actor_for(s, username=u), now=NOW)) for u in VIEWERS}
        deltas = aggregates.delta_rows(s)
        assert aggregates.compact(s) == deltas > 0
        assert aggregates.delta_rows(s) == 0
        townships = set(s.scalars(select(Org.id).where(Org.kind == "township")))
        folded_orgs = set(s.scalars(select(BoardTally.org_id)))
        villages = set(s.scalars(select(Org.id).where(Org.kind == "village")))
        assert folded_orgs & townships and not folded_orgs & villages
        assert {u: _values(board(s, actor=actor_for(s, username=u), now=NOW)) for u in VIEWERS} == before
        _assert_tallied_equals_direct(s)
    finally:
        nested.rollback()


def test_changed_moved_and_deleted_cases_and_steps_keep_the_tallies_exact(seeded):  # noqa: F811
    s = seeded
    nested = s.begin_nested()
    try:
        aggregates.compact(s)  # half folded, half new deltas afterwards
        running = list(s.scalars(select(Instance).where(Instance.status == InstanceStatus.RUNNING)
                                 .order_by(Instance.id).limit(6)))
        other_org = s.scalar(select(Org.id).where(Org.code == "xinzhuang"))
        running[0].status = InstanceStatus.CANCELLED
        running[0].ended_at = NOW - timedelta(days=1)
        running[1].org_id = other_org
        running[2].status = InstanceStatus.COMPLETED
        running[2].ended_at = NOW - timedelta(hours=1)
        running[3].started_at = running[3].started_at - timedelta(days=40)
        s.flush()
        # A step's deadline moves, another closes, a third is deleted with its case.
        s.execute(update(HumanTask).where(HumanTask.instance_id == running[4].id, HumanTask.status == TaskStatus.OPEN)
                  .values(due_at=NOW - timedelta(days=2)))
        s.execute(update(HumanTask).where(HumanTask.instance_id == running[5].id, HumanTask.status == TaskStatus.OPEN)
                  .values(status=TaskStatus.COMPLETED, completed_at=NOW))
        closed = s.scalar(select(Instance.id).where(Instance.status == InstanceStatus.COMPLETED).order_by(Instance.id))
        for table in ("audit_entries", "case_fields", "task_actors", "notifications", "event_waits", "human_tasks",
                      "carbon_copies"):
            s.execute(text(f"DELETE FROM {table} WHERE instance_id IN (:a, :b)"), {"a": running[4].id, "b": closed})
        s.execute(delete(Instance).where(Instance.id.in_((running[4].id, closed))))
        s.flush()
        _assert_tallied_equals_direct(s)
        expected = dict(s.execute(
            select(HumanTask.instance_id, func.min(HumanTask.due_at))
            .join(Instance, Instance.id == HumanTask.instance_id)
            .where(Instance.status == InstanceStatus.RUNNING, HumanTask.status == TaskStatus.OPEN,
                   HumanTask.due_at.is_not(None)).group_by(HumanTask.instance_id)).all())
        assert dict(s.execute(select(BoardOpenCase.instance_id, BoardOpenCase.due_at)).all()) == expected
    finally:
        nested.rollback()


def test_a_case_in_a_village_or_grid_due_today_counts_in_its_township(seeded):  # noqa: F811
    # Today's deadlines are read per case and grouped by the org's township without loading every village.
    s = seeded
    nested = s.begin_nested()
    try:
        aggregates.compact(s)
        running = list(s.scalars(select(Instance).where(Instance.status == InstanceStatus.RUNNING)
                                 .order_by(Instance.id.desc()).limit(3)))
        for case_, code, hours in ((running[0], "dongjie", 3), (running[1], "liushu-1", -1),  # a village; a grid
                                   (running[2], "xinzhuang", 2)):  # and a township itself
            case_.org_id = s.scalar(select(Org.id).where(Org.code == code))
            s.flush()
            s.execute(update(HumanTask).where(HumanTask.instance_id == case_.id, HumanTask.status == TaskStatus.OPEN)
                      .values(due_at=NOW + timedelta(hours=hours)))
        s.flush()
        assert _assert_tallied_equals_direct(s, ["he.ld", "lin.ld", "cao.ld"]) == 3
        rows = {r.code: r for r in board(s, actor=actor_for(s, username="he.ld"), now=NOW).by_area}
        due = {key: {code: r.counts[i].value for code, r in rows.items()} for i, (key, *_) in enumerate(figures.COUNTS)}
        assert due["due_soon"]["chengguan"] >= 1 and due["overdue"]["hexi"] >= 1 and due["due_soon"]["xinzhuang"] >= 1
    finally:
        nested.rollback()


@pytest.mark.parametrize("days", [-14, -1, 12, 16, 45])
def test_any_day_of_the_month_gives_the_same_figures_both_ways(seeded, days):  # noqa: F811
    # The 1st, mid-month and month-end read the tallies' months and days in different mixes.
    assert _assert_tallied_equals_direct(seeded, ["he.ld", "lin.ld"], now=NOW + timedelta(days=days)) == 2


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_a_period_bound_off_the_tallies_days_is_counted_on_the_cases(seeded, zone, monkeypatch):  # noqa: F811
    s = seeded
    context = s.info["pingan"]
    monkeypatch.setattr(context, "settings", replace(context.settings, timezone=zone))
    answered = _assert_tallied_equals_direct(s, ["he.ld"])
    assert answered == (1 if zone == "Asia/Shanghai" else 0)


def test_the_migration_seeds_what_the_triggers_keep(seeded):  # noqa: F811
    s = seeded
    spec = importlib.util.spec_from_file_location("migration_0006", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    nested = s.begin_nested()
    try:
        aggregates.compact(s)
        kept = {(t.kind, t.period, t.org_id, t.process_key): t.count for t in s.scalars(select(BoardTally))}
        kept = {k: n for k, n in kept.items() if n}
        opened = dict(s.execute(select(BoardOpenCase.instance_id, BoardOpenCase.due_at)).all())
        s.execute(delete(BoardTally))
        s.execute(delete(BoardOpenCase))
        postgresql = s.get_bind().dialect.name == "postgresql"
        s.execute(text(migration._POSTGRESQL_SEED if postgresql else migration._SQLITE_SEED))
        s.execute(text(migration._OPEN_SEED))
        s.execute(text(migration._POSTGRESQL_DUE_SEED if postgresql else migration._SQLITE_DUE_SEED))
        seeded_rows = {(t.kind, t.period, t.org_id, t.process_key): t.count for t in s.scalars(select(BoardTally))}
        assert seeded_rows == kept and len(kept) > 50
        assert dict(s.execute(select(BoardOpenCase.instance_id, BoardOpenCase.due_at)).all()) == opened
    finally:
        nested.rollback()

