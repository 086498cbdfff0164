"""The Celery front door: configuration, thin tasks, and one end-to-end run with real processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store import audit
from engine.store.models import AuditEntry, Instance, InstanceStatus
from tests.conftest import T0
from worker.app import SWEEP_EVERY, create_celery
from worker.tasks import close_services

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BROKER = "redis://127.0.0.1:6379/15"


@pytest.fixture
def celery_app(services):
    app = create_celery(services.settings.with_(broker_url=DEFAULT_BROKER), queue=f"pingan-test-{uuid.uuid4().hex[:8]}")
    yield app
    close_services()


def test_the_app_takes_its_broker_queue_and_beat_schedule_from_settings(services):
    app = create_celery(services.settings.with_(broker_url="amqp://guest:guest@127.0.0.1:5672//"), queue="q1")
    assert (app.conf.broker_url, app.conf.task_default_queue) == ("amqp://guest:guest@127.0.0.1:5672//", "q1")
    entry = app.conf.beat_schedule["sweep-timers"]
    assert (entry["task"], entry["schedule"], SWEEP_EVERY) == ("pingan.sweep_timers", 1.0, 1.0)
    assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
    app.loader.import_default_modules()
    assert {"pingan.sweep_timers", "pingan.run_instance_steps"} <= set(app.tasks)


def test_sweep_task_fires_due_timers_in_the_apps_database(committed, frozen, celery_app):
    with committed.session() as s:
        inst = lifecycle.start_instance(s, process_key="timers_date", actor=actor_for(s, username="li.sl"),
                                      data={"fire_at": (T0 + timedelta(hours=1)).isoformat(), "divisor": 4})
    frozen.advance(timedelta(hours=1))
    celery_app.loader.import_default_modules()
    summary = celery_app.tasks["pingan.sweep_timers"].apply().get()
    assert (summary["fired"], summary["not_ok"], summary["more"]) == (1, 0, False)
    assert summary["migrations_taken_up"] == []      # the same sweep looks for case migrations nobody runs
    with committed.session() as s:
        assert s.get(Instance, inst.id).status == InstanceStatus.COMPLETED


def test_run_instance_steps_task_advances_one_case(committed, frozen, celery_app):
    with committed.session() as s:
        inst = lifecycle.start_instance(s, process_key="timers_date", actor=actor_for(s, username="li.sl"),
                                      data={"fire_at": (T0 + timedelta(hours=1)).isoformat(), "divisor": 4})
    frozen.advance(timedelta(hours=2))
    celery_app.loader.import_default_modules()
    celery_app.tasks["pingan.run_instance_steps"].apply(args=[inst.id]).get()
    with committed.session() as s:
        assert s.get(Instance, inst.id).status == InstanceStatus.COMPLETED
        assert [e.kind for e in audit.history(s, instance_id=inst.id)] == ["started", "timer_fired", "finished"]


# -- end to end: a real worker process, a real beat process, a real Redis broker ------------------

def broker_url() -> str:
    """Return the test broker; skip only when none is configured and the default one is down."""
    url = os.environ.get("PINGAN_TEST_BROKER_URL")
    if url:
        return url
    import redis

    try:
        redis.Redis.from_url(DEFAULT_BROKER, socket_connect_timeout=1).ping()
    except Exception:
        pytest.skip("no PINGAN_TEST_BROKER_URL and no Redis at 127.0.0.1:6379")
    return DEFAULT_BROKER


def spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker.app", *args], cwd=ROOT, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.mark.celery
@pytest.mark.slow
def test_worker_and_beat_processes_fire_timers_in_real_seconds(committed, tmp_path):
    url, settings = broker_url(), committed.settings
    queue = f"pingan-e2e-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PINGAN_DATABASE_URL": settings.database_url, "PINGAN_DATABASE_SCHEMA": settings.database_schema or "",
           "PINGAN_BROKER_URL": url, "PINGAN_CELERY_QUEUE": queue, "PINGAN_INSTANCE_PATH": str(settings.instance_path),
           "PYTHONPATH": str(ROOT), "PINGAN_DEVELOPMENT": "1"}  # the test database's audit key is the default one
    worker = spawn(["worker", "--pool=threads", "--concurrency=2", "--loglevel=INFO", "-n", f"{queue}@%h",
                    "--without-gossip", "--without-mingle"], env, tmp_path / "worker.log")
    beat = spawn(["beat", "--loglevel=INFO", "-s", str(tmp_path / "beat-schedule")], env, tmp_path / "beat.log")
    try:
        start = datetime.now(timezone.utc)
        due = [start + timedelta(seconds=3 + i) for i in range(5)]
        with committed.session() as s:
            li = actor_for(s, username="li.sl")
            ids = [lifecycle.start_instance(s, process_key="timers_date", actor=li,
                                          data={"fire_at": d.isoformat(), "divisor": 4}).id for d in due]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with committed.session() as s:
                done = s.scalar(select(func.count()).where(Instance.id.in_(ids), Instance.status == InstanceStatus.COMPLETED))
            if done == len(ids) or worker.poll() is not None or beat.poll() is not None:
                break
            time.sleep(0.2)
        with committed.session() as s:
            entries = s.scalars(select(AuditEntry).where(AuditEntry.instance_id.in_(ids), AuditEntry.kind == "timer_fired")).all()
            statuses = Counter(s.scalars(select(Instance.status).where(Instance.id.in_(ids))))
        logs = "\n".join((tmp_path / f).read_text(errors="replace")[-3000:] for f in ("worker.log", "beat.log"))
        assert statuses == {InstanceStatus.COMPLETED: 5}, logs
        assert Counter(e.instance_id for e in entries) == Counter({i: 1 for i in ids})
        for entry in entries:  # fired by the worker, after (never before) the time it was due
            fired_at, due_at = (datetime.fromisoformat(entry.payload[k]) for k in ("fired_at", "due_at"))
            assert fired_at >= due_at
    finally:
        stop(beat)
        stop(worker)
    assert "pingan.sweep_timers" in (tmp_path / "worker.log").read_text(errors="replace")
