"""The sweeper (beat's scheduler that sleeps until the next timer) and fire tasks racing on PostgreSQL."""
from __future__ import annotations

import os
import re
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine.org.orgs import actor_for
from engine.runtime import lifecycle, timers
from engine.store.models import AuditEntry, Instance, InstanceStatus
from tests.conftest import T0
from tests.worker.test_celery import ROOT, broker_url, celery_app, spawn, stop  # noqa: F401 (fixture)
from worker import sweeper
from worker.app import create_celery


def start_date_case(session, *, fire_at: datetime) -> int:
    return lifecycle.start_instance(session, process_key="timers_date", actor=actor_for(session, username="li.sl"),
                                  data={"fire_at": fire_at.isoformat(), "divisor": 4}).id


def test_beat_runs_the_sweeper_and_the_worker_knows_the_fire_task(services):
    app = create_celery(services.settings.with_(broker_url="redis://127.0.0.1:6379/15"), queue="q1")
    assert app.conf.beat_scheduler == "worker.sweeper:TimerScheduler"
    app.loader.import_default_modules()
    assert {"pingan.fire_timers", "pingan.sweep_timers"} <= set(app.tasks)


def test_the_sweeper_sleeps_until_the_timer_then_sends_its_work_once(committed, frozen, celery_app):
    sent: list[int] = []
    dispatcher = sweeper.TimerDispatcher(celery_app, send=lambda tasks, now: sent.append(tasks), recheck=3600)
    assert dispatcher.tick() == sweeper.POLL  # nothing waits: look again after POLL
    with committed.session() as s:
        case = start_date_case(s, fire_at=T0 + timedelta(seconds=0.05))
    assert dispatcher.tick() == pytest.approx(0.05)  # sooner than POLL: sleep exactly until then
    frozen.advance(timedelta(seconds=0.05))
    assert (dispatcher.tick(), sent) == (0.0, [1])
    # Still unclaimed (the task is in the queue): not sent again.
    assert (dispatcher.tick(), sent) == (sweeper.POLL, [1])
    summary = timers.fire_timers(committed).summary()
    assert (summary["fired"], summary["not_ok"], summary["more"]) == (1, 0, False)
    with committed.session() as s:
        assert s.get(Instance, case).status == InstanceStatus.COMPLETED
    assert (dispatcher.tick(), sent) == (sweeper.POLL, [1])


def test_a_burst_is_sent_as_one_task_per_claim_up_to_the_fanout(committed, frozen, celery_app, monkeypatch):
    monkeypatch.setattr(sweeper, "CLAIM", 2)
    monkeypatch.setattr(timers, "CLAIM", 2)  # fire_timers claims two at a time as well
    sent: list[int] = []
    dispatcher = sweeper.TimerDispatcher(celery_app, send=lambda tasks, now: sent.append(tasks), fanout=2)
    with committed.session() as s:
        ids = [start_date_case(s, fire_at=T0 + timedelta(minutes=1)) for _ in range(5)]
    frozen.advance(timedelta(minutes=1))
    dispatcher.tick()
    assert sent == [2]  # five due, two a claim: three tasks' worth, capped at the fanout of two
    report = timers.fire_timers(committed)
    assert sorted(f.instance_id for f in report.fired) == ids and report.more is False


def test_due_timers_nobody_claims_are_sent_again_when_their_number_does_not_fall(committed, frozen, celery_app):
    sent: list[int] = []
    dispatcher = sweeper.TimerDispatcher(celery_app, send=lambda tasks, now: sent.append(tasks), recheck=0)
    with committed.session() as s:
        case = start_date_case(s, fire_at=T0 + timedelta(minutes=1))
    frozen.advance(timedelta(minutes=1))
    dispatcher.tick()
    assert sent == [1]
    dispatcher.tick()  # the task was lost: still one due and unclaimed
    assert sent == [1, 1]
    timers.fire_timers(committed)
    dispatcher.tick()
    assert sent == [1, 1]  # fired: nothing to send
    with committed.session() as s:
        assert s.get(Instance, case).status == InstanceStatus.COMPLETED


def test_a_timer_already_claimed_or_retrying_is_left_to_the_periodic_sweep(committed, frozen, celery_app):
    with committed.session() as s:
        case = start_date_case(s, fire_at=T0 + timedelta(minutes=1))
    frozen.advance(timedelta(minutes=1))
    ids, more = timers._claim(committed, now=frozen.now(), limit=10)  # a worker holds it now
    assert (ids, more) == ([case], False)
    with committed.session(read_only=True) as s:
        assert timers.first_due_after(s, after=None) is None
        assert timers.count_due(s, now=frozen.now(), after=None, cap=10) == 0


# -- real processes: two workers racing on the same due timers, the sweeper in a real beat -------

def count_fired(svc, ids: list[int]) -> Counter:
    with svc.session() as s:
        rows = s.execute(select(AuditEntry.instance_id, func.count()).where(
            AuditEntry.kind == "timer_fired", AuditEntry.instance_id.in_(ids)).group_by(AuditEntry.instance_id))
        return Counter(dict(rows.all()))


@pytest.mark.celery
@pytest.mark.slow
def test_two_worker_processes_race_on_the_same_due_timers_and_fire_each_once(committed, tmp_path):
    if not committed.settings.database_url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED races need PostgreSQL (SQLite serialises every writer)")
    url, settings = broker_url(), committed.settings
    queue = f"pingan-race-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PINGAN_DATABASE_URL": settings.database_url, "PINGAN_DATABASE_SCHEMA": settings.database_schema or "",
           "PINGAN_BROKER_URL": url, "PINGAN_CELERY_QUEUE": queue, "PINGAN_INSTANCE_PATH": str(settings.instance_path),
           "PYTHONPATH": str(ROOT), "PINGAN_DEVELOPMENT": "1"}
    n = 200  # two claims' worth: the sweeper sends two fire tasks, one for each worker
    due = datetime.now(timezone.utc) + timedelta(seconds=30)
    with committed.session() as s:
        ids = [start_date_case(s, fire_at=due) for _ in range(n)]
    assert datetime.now(timezone.utc) < due - timedelta(seconds=5), "creating the cases took too long"
    workers = [spawn(["worker", "--pool=prefork", "--concurrency=1", "--loglevel=INFO", "-n", f"{queue}-{i}@%h",
                      "--without-gossip", "--without-mingle"], env, tmp_path / f"worker{i}.log") for i in (1, 2)]
    beat = spawn(["beat", "--loglevel=INFO", "-s", str(tmp_path / "beat-schedule")], env, tmp_path / "beat.log")
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            if sum(count_fired(committed, ids).values()) >= n or any(p.poll() is not None for p in (*workers, beat)):
                break
            time.sleep(0.5)
        time.sleep(2)  # a double firing, if there were one, would land now
    finally:
        stop(beat)
        for worker in workers:
            stop(worker)
    logs = {f: (tmp_path / f).read_text(errors="replace") for f in ("worker1.log", "worker2.log", "beat.log")}
    assert count_fired(committed, ids) == Counter({i: 1 for i in ids}), "\n".join(v[-2000:] for v in logs.values())
    with committed.session() as s:
        assert Counter(s.scalars(select(Instance.status).where(Instance.id.in_(ids)))) == {InstanceStatus.COMPLETED: n}
    # Both processes fired some of them: the sweeper's tasks shared the burst.
    fired_by = [sum(int(m) for m in re.findall(r"pingan\.fire_timers\[[^\]]+\] succeeded[^{]*\{'fired': (\d+)", logs[f]))
                + sum(int(m) for m in re.findall(r"pingan\.sweep_timers\[[^\]]+\] succeeded[^{]*\{'fired': (\d+)", logs[f]))
                for f in ("worker1.log", "worker2.log")]
    tasks = [line[:160] for f in ("worker1.log", "worker2.log") for line in logs[f].splitlines() if "succeeded" in line]
    assert sum(fired_by) == n and min(fired_by) > 0, (fired_by, tasks)

