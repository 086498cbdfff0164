"""The timer sweep folds the board's deltas (engine/board/aggregates.py) together with the case tallies.

Its own module: it commits, which on SQLite must not wait on test_aggregates.py's seeded history.
"""
from __future__ import annotations

from sqlalchemy import func, select

from engine.board import aggregates
from engine.board.aggregates import BoardTally
from engine.org.orgs import actor_for
from engine.runtime import timers
from engine.store import tallies
from engine.store.models import Instance, Org
from tests.factories import start_review


def test_the_sweep_folds_the_board_deltas_with_the_case_tallies(committed, monkeypatch):
    with committed.session() as s:
        start_review(s, actor_for(s, username="li.sl"), amount=100)
        case_id = s.scalar(select(func.max(Instance.id)))
        township = s.scalar(select(Org.id).where(Org.code == "chengguan"))
        assert aggregates.delta_rows(s) > 0
    monkeypatch.setattr(tallies, "COMPACT_ABOVE", 0)
    timers.sweep(committed)
    with committed.session() as s:
        assert aggregates.delta_rows(s) == 0
        started = s.scalar(select(Instance.started_at).where(Instance.id == case_id))
        day = (started + aggregates.OFFSET).date().isoformat()
        assert s.scalar(select(BoardTally.count).where(BoardTally.kind == "started", BoardTally.period == day,
                                                       BoardTally.org_id == township,
                                                       BoardTally.process_key == "review")) >= 1
