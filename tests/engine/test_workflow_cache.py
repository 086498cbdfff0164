"""The per-process cache of live workflows: bounded, one version only, kept only after a real commit."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.context import context_of
from engine.definitions.deployment import runtime_spec
from engine.errors import FormInvalid
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.spiff.cache import WorkflowCache, keep_after_commit, live_workflows, take
from engine.spiff.workflow import Runner
from engine.store import case_state
from engine.store.models import Instance, InstanceStatus, TaskStatus
from tests.factories import only_task


class Workflow:
    """Stands for a live workflow: the cache never looks inside one."""

    def __init__(self, name: str):
        self.name = name


def test_a_workflow_comes_back_only_at_its_version_and_fingerprint():
    cache = WorkflowCache(4)
    kept = Workflow("v3")
    cache.put(7, version=3, workflow=kept, fingerprint=("def-1", "root-a"))
    assert cache.take(7, version=4, fingerprint=("def-1", "root-a")) is None
    # A mismatch drops it: the row moved on, the workflow can never match again.
    assert 7 not in cache
    cache.put(7, version=3, workflow=kept, fingerprint=("def-1", "root-a"))
    assert cache.take(7, version=3, fingerprint=("def-1", "root-b")) is None
    cache.put(7, version=3, workflow=kept, fingerprint=("def-1", "root-a"))
    assert cache.take(7, version=3, fingerprint=("def-1", "root-a")) is kept
    assert (cache.hits, cache.misses) == (1, 2)


def test_taking_removes_it_so_no_two_requests_share_one():
    cache = WorkflowCache(4)
    cache.put(1, version=1, workflow=Workflow("a"))
    assert cache.take(1, version=1) is not None
    assert cache.take(1, version=1) is None


def test_least_recently_kept_goes_first_beyond_the_size():
    cache = WorkflowCache(2)
    for instance_id in (1, 2, 3):
        cache.put(instance_id, version=1, workflow=Workflow(str(instance_id)))
    assert len(cache) == 2 and 1 not in cache and 2 in cache and 3 in cache
    cache.put(2, version=2, workflow=Workflow("2 again"))  # kept again: now the most recent
    cache.put(4, version=1, workflow=Workflow("4"))
    assert 3 not in cache and 2 in cache and 4 in cache
    assert cache.take(2, version=2).name == "2 again"


def test_size_zero_keeps_nothing_and_negative_is_refused():
    cache = WorkflowCache(0)
    cache.put(1, version=1, workflow=Workflow("a"))
    assert len(cache) == 0 and cache.take(1, version=1) is None
    with pytest.raises(ValueError):
        WorkflowCache(-1)


def test_threads_never_get_the_same_workflow_and_the_bound_holds():
    cache = WorkflowCache(8)
    taken: list[Workflow] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(2000):
                instance_id = (n + offset) % 20
                cache.put(instance_id, version=n, workflow=Workflow(f"{offset}-{n}"))
                got = cache.take((n * 7 + offset) % 20, version=n)
                if got is not None:
                    with lock:
                        taken.append(got)
                assert len(cache) <= 8
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(taken) == len({id(w) for w in taken})  # each kept workflow taken at most once
    assert len(cache) <= 8


def test_a_committed_transaction_keeps_the_workflow(services):
    cache = WorkflowCache(4)
    workflow = Workflow("saved")
    with services.session() as s:
        s.execute(text("SELECT 1"))
        keep_after_commit(s, instance_id=11, version=5, workflow=workflow, fingerprint=("f",), cache=cache)
        assert 11 not in cache  # not before the commit
    assert take(11, version=5, fingerprint=("f",), cache=cache) is workflow


def test_a_failed_completion_evicts_and_keeps_nothing(services):
    """A workflow a failing transaction took and changed is gone; the new one it saved is not kept."""
    cache = WorkflowCache(4)
    cache.put(12, version=5, workflow=Workflow("as committed"), fingerprint=("f",))
    with pytest.raises(RuntimeError):
        with services.session() as s:
            used = take(12, version=5, fingerprint=("f",), cache=cache)
            assert used is not None
            used.name = "changed by the step that fails"
            keep_after_commit(s, instance_id=12, version=6, workflow=used, fingerprint=("f",), cache=cache)
            raise RuntimeError("the completion failed after saving")
    assert 12 not in cache
    assert take(12, version=5, fingerprint=("f",), cache=cache) is None
    assert take(12, version=6, fingerprint=("f",), cache=cache) is None


def test_a_savepoint_rolled_back_inside_the_transaction_keeps_nothing(services):
    cache = WorkflowCache(4)
    with services.session() as s:
        s.execute(text("SELECT 1"))
        keep_after_commit(s, instance_id=13, version=2, workflow=Workflow("x"), cache=cache)
        nested = s.begin_nested()
        nested.rollback()
    assert 13 not in cache


def test_a_session_closed_without_commit_keeps_nothing_later(services):
    cache = WorkflowCache(4)
    s = services.session_factory()
    try:
        s.execute(text("SELECT 1"))
        keep_after_commit(s, instance_id=14, version=2, workflow=Workflow("abandoned"), cache=cache)
        s.close()
        s.execute(text("SELECT 1"))  # the same session, a new transaction
        s.commit()
    finally:
        s.close()
    assert 14 not in cache


def test_releasing_a_savepoint_is_not_a_commit(session):
    """Inside an outer transaction (tests, the studio's sandbox) a session's commit may still be rolled back."""
    cache = WorkflowCache(4)
    session.execute(text("SELECT 1"))
    keep_after_commit(session, instance_id=15, version=2, workflow=Workflow("x"), cache=cache)
    session.commit()
    assert 15 not in cache


def test_the_last_save_of_a_case_in_a_transaction_wins(services):
    cache = WorkflowCache(4)
    first, second = Workflow("first"), Workflow("second")
    with services.session() as s:
        s.execute(text("SELECT 1"))
        keep_after_commit(s, instance_id=16, version=2, workflow=first, cache=cache)
        keep_after_commit(s, instance_id=16, version=3, workflow=second, cache=cache)
    assert take(16, version=3, cache=cache) is second


def test_plain_session_without_pingan_info_works(services):
    cache = WorkflowCache(4)
    with Session(services.engine) as s:
        s.execute(text("SELECT 1"))
        keep_after_commit(s, instance_id=17, version=1, workflow=Workflow("x"), cache=cache)
        s.commit()
    assert take(17, version=1, cache=cache) is not None


# -- the engine's completion path (engine/runtime/lifecycle.py) ------------------------------------------------

def _register(svc, li):
    with svc.session() as s:
        inst = lifecycle.start_instance(s, process_key="review", actor=li(s))
        task_id = only_task(s, inst.id, "register").id
    return inst.id, task_id


def test_a_completion_takes_the_workflow_its_case_was_saved_with(committed):
    svc = committed
    li = lambda s: actor_for(s, username="li.sl")  # noqa: E731
    instance_id, task_id = _register(svc, li)
    assert instance_id in live_workflows  # kept by the start's commit
    hits = live_workflows.hits
    with svc.session() as s:
        lifecycle.complete_task(s, task_id=task_id, data={"subject": "修缮围墙", "amount": 50000}, actor=li(s))
    assert live_workflows.hits == hits + 1
    with svc.session() as s:
        approve_id = only_task(s, instance_id, "approve").id
        row = s.get(Instance, instance_id)
        loaded = lifecycle.load(s, instance_id=instance_id)  # the kept workflow (taken: the rollback drops it)
        assert live_workflows.hits == hits + 2
        stored, _rows = case_state.read(s.connection(), instance_id, row.state)
        assert loaded.runner.dump() == stored
        spec, subs = runtime_spec(row.definition)
        restored = Runner.restore(stored, spec, subs, context_of(s).script_engine)
        assert restored.dump() == stored
        s.rollback()
    assert instance_id not in live_workflows
    with svc.session() as s:
        done = lifecycle.complete_task(s, task_id=approve_id, data={"approved": True}, actor=actor_for(s, username="lin.ld"))
        assert (done.status, done.end_event) == (InstanceStatus.COMPLETED, "end_approved")
    assert instance_id not in live_workflows  # a finished case is not kept


def test_a_failed_completion_leaves_nothing_to_reuse_and_the_next_one_restores(committed):
    svc = committed
    li = lambda s: actor_for(s, username="li.sl")  # noqa: E731
    instance_id, task_id = _register(svc, li)
    with pytest.raises(FormInvalid):
        with svc.session() as s:
            lifecycle.complete_task(s, task_id=task_id, data={"subject": "", "amount": "很多"}, actor=li(s))
    assert instance_id not in live_workflows  # taken by the failed request, never put back
    hits = live_workflows.hits
    with svc.session() as s:
        lifecycle.complete_task(s, task_id=task_id, data={"subject": "修缮围墙", "amount": 50000}, actor=li(s))
    assert live_workflows.hits == hits
    with svc.session() as s:
        assert only_task(s, instance_id, "approve").status == TaskStatus.OPEN


def test_a_row_changed_elsewhere_is_restored_not_taken(committed):
    svc = committed
    li = lambda s: actor_for(s, username="li.sl")  # noqa: E731
    instance_id, task_id = _register(svc, li)
    with svc.session() as s:
        s.get(Instance, instance_id).title = "另一个进程改过"  # bumps lock_version
    hits, misses = live_workflows.hits, live_workflows.misses
    with svc.session() as s:
        lifecycle.complete_task(s, task_id=task_id, data={"subject": "修缮围墙", "amount": 50000}, actor=li(s))
    assert (live_workflows.hits, live_workflows.misses) == (hits, misses + 1)
    with svc.session() as s:
        assert only_task(s, instance_id, "approve").status == TaskStatus.OPEN


# -- the state read as text by the completion's lock read (lifecycle._LOCK_TASK_CASE) ----------------------

def _li(s):
    return actor_for(s, username="li.sl")


def _counting_decodes(monkeypatch) -> list:
    decoded = []
    original = lifecycle._decoded

    def counting(state_text):
        decoded.append(state_text)
        return original(state_text)
    monkeypatch.setattr(lifecycle, "_decoded", counting)
    return decoded


def test_a_completion_taking_the_kept_workflow_never_decodes_the_state(committed, monkeypatch):
    svc = committed
    instance_id, task_id = _register(svc, _li)
    decoded = _counting_decodes(monkeypatch)
    hits = live_workflows.hits
    with svc.session() as s:
        lifecycle.complete_task(s, task_id=task_id, data={"subject": "修缮围墙", "amount": 50000}, actor=_li(s))
    assert live_workflows.hits == hits + 1 and decoded == []
    with svc.session() as s:
        assert only_task(s, instance_id, "approve").status == TaskStatus.OPEN


def test_without_a_kept_workflow_the_state_text_is_decoded_and_restored(committed, monkeypatch):
    svc = committed
    instance_id, task_id = _register(svc, _li)
    live_workflows.evict(instance_id)
    decoded = _counting_decodes(monkeypatch)
    with svc.session() as s:
        stored = s.get(Instance, instance_id).state
        s.expunge_all()
        lifecycle.complete_task(s, task_id=task_id, data={"subject": "修缮围墙", "amount": 50000}, actor=_li(s))
    assert len(decoded) == 1 and lifecycle._decoded(decoded[0]) == stored
    with svc.session() as s:
        assert only_task(s, instance_id, "approve").status == TaskStatus.OPEN
    assert instance_id in live_workflows


def test_a_kept_workflow_of_another_root_is_not_taken_from_the_state_text(committed):
    """An id used again at the same version (SQLite after a deletion) meets another case's workflow: restored instead."""
    svc = committed
    instance_id, task_id = _register(svc, _li)
    with svc.session() as s:
        row = s.get(Instance, instance_id)
        version, definition_id, root = row.lock_version, row.definition_id, row.state["root"]
    stranger = Workflow("another case's")
    live_workflows.put(instance_id, version=version, workflow=stranger, fingerprint=(definition_id, root[::-1]))
    misses = live_workflows.misses
    with svc.session() as s:
        lifecycle.complete_task(s, task_id=task_id, data={"subject": "修缮围墙", "amount": 50000}, actor=_li(s))
    assert live_workflows.misses == misses + 1
    with svc.session() as s:
        assert only_task(s, instance_id, "approve").status == TaskStatus.OPEN
    # The text names its root as the store writes it; another definition's workflow is refused too.
    with svc.session() as s:
        instance = s.get(Instance, instance_id)
        text_of = s.scalar(text("SELECT CAST(state AS TEXT) FROM instances WHERE id = :id"), {"id": instance_id})
        root = instance.state["root"]
        assert lifecycle._fingerprint_in(instance, (instance.definition_id, root), text_of)
        assert not lifecycle._fingerprint_in(instance, (instance.definition_id + 1, root), text_of)
        assert not lifecycle._fingerprint_in(instance, (instance.definition_id, None), text_of)
        assert not lifecycle._fingerprint_in(instance, (instance.definition_id, root), None)


@pytest.mark.parametrize("kept", [True, False], ids=["kept", "restored"])
def test_a_case_the_session_held_takes_the_state_the_lock_read(committed, monkeypatch, kept):
    """Read under the lock, the state replaces one the session held from before (another transaction
    may have moved it), decoded once whether the kept workflow is taken or the case restored."""
    svc = committed
    instance_id, task_id = _register(svc, _li)
    if not kept:
        live_workflows.evict(instance_id)
    with svc.session() as s:
        held = s.get(Instance, instance_id)
        stored = dict(held.state)
        lifecycle.put(held, state={"root": "an older read"})
        decoded = _counting_decodes(monkeypatch)
        row, loaded = lifecycle.open_task_for_update(s, task_id=task_id, actor=_li(s))
        assert loaded.instance is held and held.state == stored
        assert len(decoded) == 1
        assert loaded.runner.dump() == case_state.read(s.connection(), instance_id, stored)[0]
        s.rollback()
