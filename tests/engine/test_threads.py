"""Threads, as gunicorn runs them (docs/operations.md): no cross-talk, no lost data, no shared state changed."""
from __future__ import annotations

import copy
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from engine.definitions import deployment
from engine.definitions.deployment import deploy, get_definition, runtime_spec, with_cached_json
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store import audit
from engine.store.models import CaseField, Instance, InstanceStatus, InstanceTally, ProcessDefinition
from tests.engine.test_value_types import CASES
from tests.factories import only_task

VALUES = Path(__file__).resolve().parents[1] / "fixtures" / "hostile" / "values"
THREADS, ROUNDS = 8, 8
KINDS = sorted(kind for kind in CASES if kind != "nan")  # NaN is not equal to itself


@pytest.fixture
def committed_values(services):
    """The `values` process, deployed for real; removed again after the cases (see `committed`)."""
    with services.session() as s:
        before = {d for (d,) in s.execute(select(ProcessDefinition.id).where(ProcessDefinition.key == "values"))}
        deploy(s, paths=[VALUES])
    yield
    with services.session() as s:
        ids = [d for (d,) in s.execute(select(ProcessDefinition.id).where(ProcessDefinition.key == "values"))
               if d not in before]
        s.execute(delete(InstanceTally).where(InstanceTally.definition_id.in_(ids)))
        s.execute(delete(ProcessDefinition).where(ProcessDefinition.id.in_(ids)))


@pytest.fixture
def eager_thread_switches():
    """Switch threads every microsecond instead of every 5 ms, so races show within a test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_many_threads_completing_tasks_of_many_cases_keep_each_cases_own_data(
        committed_values, committed, eager_thread_switches):
    svc = committed
    # Start cold: the threads race on the definition caches as a freshly started server does.
    for cache in (deployment._JSON_CACHE, deployment._SPEC_CACHE, deployment._FORM_CACHE):
        cache.clear()
    with svc.session() as s:
        li, lin = actor_for(s, username="li.sl"), actor_for(s, username="lin.ld")
    barrier = threading.Barrier(THREADS)

    def work(n: int) -> list[tuple[int, dict]]:
        made = []
        barrier.wait()
        for i in range(ROUNDS):
            subject, amount = f"线程{n}-第{i}件", 20000 + n * 100 + i if i % 2 else n * 100 + i
            with svc.session() as s:
                review = lifecycle.start_instance(s, process_key="review", actor=li)
            with svc.session() as s:
                lifecycle.complete_task(s, task_id=only_task(s, review.id, "register").id,
                                      data={"subject": subject, "amount": amount}, actor=li)
            if amount > 10000:
                with svc.session() as s:
                    lifecycle.complete_task(s, task_id=only_task(s, review.id, "approve").id,
                                          data={"approved": n % 2 == 0}, actor=lin, opinion=f"意见{n}-{i}")
            made.append((review.id, {"subject": subject, "amount": amount}))
            kind = KINDS[(n * ROUNDS + i) % len(KINDS)]
            with svc.session() as s:
                case = lifecycle.start_instance(s, process_key="values", actor=li)
            with svc.session() as s:
                lifecycle.complete_task(s, task_id=only_task(s, case.id, "choose").id, data={"kind": kind}, actor=li)
            with svc.session() as s:
                lifecycle.complete_task(s, task_id=only_task(s, case.id, "check").id, data={"seen": True}, actor=li)
            made.append((case.id, {"kind": kind}))
        return made

    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for made in pool.map(work, range(THREADS)) for r in made]

    assert len(results) == THREADS * ROUNDS * 2
    with svc.session(read_only=True) as s:
        for case_id, given in results:
            inst = s.get(Instance, case_id)
            assert inst.status == InstanceStatus.COMPLETED, (case_id, inst.status, inst.error)
            kinds = [e.kind for e in audit.history(s, instance_id=case_id)]
            if "kind" in given:
                assert inst.data["kind"] == given["kind"]
                assert inst.data["value"] == CASES[given["kind"]][1]
                assert inst.data["echo"] == [CASES[given["kind"]][1]]
                assert kinds == ["started", "task_completed", "task_completed", "finished"]
                continue
            assert {k: inst.data[k] for k in given} == given
            assert s.scalars(select(CaseField.value).where(CaseField.instance_id == case_id)).all() == [given["subject"]]
            high = given["amount"] > 10000
            assert kinds == ["started", "task_completed"] + ["task_completed"] * high + ["finished"]
            entries = audit.history(s, instance_id=case_id)
            assert entries[1].payload["data"] == given
            if high:
                n, i = given["subject"].removeprefix("线程").removesuffix("件").split("-第")
                assert entries[2].opinion == f"意见{n}-{i}"
                assert inst.end_event == ("end_approved" if int(n) % 2 == 0 else "end_rejected")
            checked, breaks = audit.verify(s, instance_id=case_id)
            assert (checked, breaks) == (len(kinds), [])


def test_cached_forms_and_config_cannot_be_changed_in_place_by_one_request_for_the_next(services):
    with services.session(read_only=True) as s:
        first = get_definition(s, key="review")
        with pytest.raises(TypeError):
            first.config["title"] = "'改掉了'"
        with pytest.raises(TypeError):
            first.config["search_fields"].append({"name": "x"})
        with pytest.raises(TypeError):
            first.forms["review/register"]["fields"][0]["required"] = False
        mine = copy.deepcopy(first.config)  # the way to change it: a copy, an ordinary dict
        mine["title"] = "'改掉了'"
    with services.session(read_only=True) as s:
        again = get_definition(s, key="review")
        assert again.config["title"] == "'审批：' + subject"
        assert again.forms["review/register"]["fields"][0]["required"] is True


class _SlowLookups(OrderedDict):
    """A cache whose lookups give other threads a turn right after finding an entry: the worst moment."""

    def get(self, key, default=None):
        found = super().get(key, default)
        time.sleep(0.0002)
        return found


def test_the_definition_caches_stay_consistent_under_threads(services, monkeypatch):
    # A tiny cache and more definitions than it holds: threads evict what others just found.
    monkeypatch.setattr(deployment, "_SPEC_CACHE_SIZE", 2)
    monkeypatch.setattr(deployment, "_SPEC_CACHE", _SlowLookups())
    with services.session(read_only=True) as s:
        defs = [with_cached_json(d) for d in deployment.latest_definitions(s)]
        for d in defs:
            d.spec  # load the deferred column here, not in the threads  # noqa: B018
    assert len(defs) > 4
    errors, barrier = [], threading.Barrier(THREADS)

    def hammer(n: int) -> None:
        barrier.wait()
        try:
            for i in range(100):
                d = defs[(n + i // 10) % len(defs)]  # ten lookups of one, then the next
                spec, _ = runtime_spec(d)
                assert spec.name == d.key
        except Exception as exc:  # collected: an exception in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(deployment._SPEC_CACHE) <= 2
