"""Bulk 催办 from the ledger: each item urged through engine.runtime.tasks.urge_task; a refusal is reported for its item only."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from engine.board.ledger import LedgerFilter, ledger
from engine.board.urging import urge_items
from engine.runtime.tasks import URGE_INTERVAL
from engine.store.audit import EntryKind
from engine.store.models import AuditEntry, Notification


def _urges(session, instance_id):
    return session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.instance_id == instance_id, AuditEntry.kind == EntryKind.URGED))


def test_bulk_urge_reminds_each_items_handlers_and_refuses_a_second_urge_per_item(session, actors, frozen, start_item):
    a = start_item("消防通道整治", "housing", assisting=["police"])
    b = start_item("食品安全专项检查", "market")
    before = session.scalar(select(func.count()).select_from(Notification))
    results = urge_items(session, instance_ids=[a.id, b.id], actor=actors("zheng.dc"), opinion="请加快办理")
    assert [(r.instance_id, r.ok, r.reminded) for r in results] == [(a.id, True, 2), (b.id, True, 1)]
    assert (_urges(session, a.id), _urges(session, b.id)) == (2, 1)   # a: receipt and the police's assist step
    assert session.scalar(select(func.count()).select_from(Notification)) == before + 3
    # The ledger counts them.
    items, _ = ledger(session, actor=actors("zheng.dc"), flt=LedgerFilter(sort="business_key"))
    assert [i.urge_count for i in items] == [2, 1]

    # Within the interval: refused per item, in Chinese, nothing recorded; the batch itself does not fail.
    frozen.advance(URGE_INTERVAL - timedelta(minutes=1))
    c = start_item("欠薪问题化解", "hrss")
    again = urge_items(session, instance_ids=[a.id, c.id, b.id], actor=actors("zheng.dc"))
    assert [(r.instance_id, r.ok) for r in again] == [(a.id, False), (c.id, True), (b.id, False)]
    assert again[0].message == "协办反馈：该任务 10 分钟内已催办过，请稍后再试"
    assert (_urges(session, a.id), _urges(session, b.id), _urges(session, c.id)) == (2, 1, 1)

    # After the interval it works again.
    frozen.advance(timedelta(minutes=2))
    assert [r.ok for r in urge_items(session, instance_ids=[a.id], actor=actors("zheng.dc"))] == [True]
    assert _urges(session, a.id) == 4


def test_bulk_urge_refuses_items_the_actor_may_not_see_or_urge(session, actors, start_item):
    a = start_item("消防通道整治", "housing")
    b = start_item("食品安全专项检查", "market")
    # A unit handler sees its own item but may not urge it; another unit's item is not found for it.
    results = urge_items(session, instance_ids=[a.id, b.id], actor=actors("wu.zj"))
    assert [(r.ok, r.message) for r in results] == [
        (False, "签收：只有发起人、委派人、领导、督查员或调度员可以催办"), (False, f"督办事项 {b.id} 不存在")]
    assert (_urges(session, a.id), _urges(session, b.id)) == (0, 0)
