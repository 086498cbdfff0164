"""Case migration under Celery: the task runs a job the web request queued, in the app's own database.

These tests commit (a worker sees only committed rows), so the process they deploy gets a key of
its own and everything they made is deleted afterwards: the shared test database keeps no trace.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from engine.context import Services
from engine.definitions.deployment import deploy
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store.models import (
    AuditEntry, CarbonCopy, CaseField, EventWait, HumanTask, Instance, InstanceTally, Notification, ProcessDefinition,
    TaskActor,
)
from engine.studio.migration import get_job, start_migration
from engine.studio.migration_models import JobStatus, MigrationCase, MigrationJob
from tests.factories import only_task
from tests.worker.test_celery import broker_url, celery_app, spawn, stop  # noqa: F401 (fixture)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "repo"
ROOT = Path(__file__).resolve().parents[2]


def _write(repo: Path, key: str, *, with_check: bool) -> None:
    """The fixture `review` process under a key of its own; v2 puts a 核对 step after registration."""
    bpmn = (FIXTURE / "processes" / "review.bpmn").read_text(encoding="utf-8").replace('id="review"', f'id="{key}"')
    forms = repo / "forms" / key
    forms.mkdir(parents=True, exist_ok=True)
    for name in ("register", "approve"):
        (forms / f"{name}.yaml").write_text((FIXTURE / "forms" / "review" / f"{name}.yaml").read_text(encoding="utf-8"),
                                            encoding="utf-8")
    if with_check:
        bpmn = bpmn.replace('<bpmn:flowNodeRef>register</bpmn:flowNodeRef>',
                            '<bpmn:flowNodeRef>register</bpmn:flowNodeRef>\n        <bpmn:flowNodeRef>check</bpmn:flowNodeRef>')
        bpmn = bpmn.replace('<bpmn:sequenceFlow id="f2" sourceRef="register" targetRef="classify" />',
                            '<bpmn:sequenceFlow id="f2" sourceRef="register" targetRef="check" />\n'
                            '    <bpmn:sequenceFlow id="f2b" sourceRef="check" targetRef="classify" />\n'
                            '    <bpmn:userTask id="check" name="核对"><bpmn:incoming>f2</bpmn:incoming>'
                            '<bpmn:outgoing>f2b</bpmn:outgoing></bpmn:userTask>')
        (forms / "check.yaml").write_text("title: 核对\nfields:\n  - {name: checked, label: 已核对, type: boolean, required: true}\n",
                                          encoding="utf-8")
    (repo / "processes").mkdir(parents=True, exist_ok=True)
    (repo / "processes" / f"{key}.bpmn").write_text(bpmn, encoding="utf-8")
    (repo / "processes" / f"{key}.yaml").write_text(f"name: 迁移测试 {key}\nstart_roles: [dispatcher]\n", encoding="utf-8")


@pytest.fixture
def two_versions(committed, tmp_path):
    """A process of its own at v1 with two cases at registration, then its v2; all removed afterwards."""
    key = f"migrate_{uuid.uuid4().hex[:8]}"
    repo = tmp_path / "repo"
    _write(repo, key, with_check=False)
    with committed.session() as s:
        deploy(s, paths=[repo])
        li = actor_for(s, username="li.sl")
        cases = [lifecycle.start_instance(s, process_key=key, actor=li).id for _ in range(2)]
    _write(repo, key, with_check=True)
    with committed.session() as s:
        (result,) = deploy(s, paths=[repo])
    yield key, result.version, cases
    # Before the committed fixture's own clean-up: the definitions go too, so their cases first.
    with committed.session() as s:
        jobs = list(s.scalars(select(MigrationJob.id).where(MigrationJob.process_key == key)))
        s.execute(delete(MigrationCase).where(MigrationCase.job_id.in_(jobs)))
        s.execute(delete(MigrationJob).where(MigrationJob.id.in_(jobs)))
        definitions = list(s.scalars(select(ProcessDefinition.id).where(ProcessDefinition.key == key)))
        ids = list(s.scalars(select(Instance.id).where(Instance.definition_id.in_(definitions))))
        for model in (AuditEntry, HumanTask, EventWait, CaseField, TaskActor, CarbonCopy, Notification):
            s.execute(delete(model).where(model.instance_id.in_(ids)))
        s.execute(delete(Instance).where(Instance.id.in_(ids)))
        s.execute(delete(InstanceTally).where(InstanceTally.definition_id.in_(definitions)))
        s.execute(delete(ProcessDefinition).where(ProcessDefinition.id.in_(definitions)))


def _check_moved(services, key: str, version: int, cases: list[int]) -> None:
    with services.session() as s:
        for case in cases:
            instance = s.get(Instance, case)
            assert instance.definition.version == version
            task = only_task(s, case, "register")
            lifecycle.complete_task(s, task_id=task.id, data={"subject": "围墙", "amount": 5}, actor=actor_for(s, username="li.sl"))
            only_task(s, case, "check")


def test_the_celery_task_runs_a_job(committed, celery_app, two_versions):  # noqa: F811
    key, v2, cases = two_versions
    with committed.session() as s:
        job = start_migration(s, actor=actor_for(s, username="designer"), process_key=key, to_version=v2).id
    celery_app.loader.import_default_modules()
    assert celery_app.tasks["pingan.run_migration_job"].apply(args=[job]).get() == JobStatus.DONE.value
    with committed.session() as s:
        view = get_job(s, job_id=job, actor=actor_for(s, username="designer"))
        assert (view.job.status, view.job.done, view.job.moved) == (JobStatus.DONE, 2, 2)
    _check_moved(committed, key, v2, cases)


@pytest.mark.celery
@pytest.mark.slow
def test_the_api_queues_the_job_for_a_worker_process(committed, two_versions, tmp_path, monkeypatch):
    """POST /api/v1/migrations with timers under Celery: a real worker, through a real broker, moves the cases."""
    from engine.org.auth import issue_token
    from web.app import create_app

    key, v2, cases = two_versions
    url, settings = broker_url(), committed.settings
    queue = f"pingan-e2e-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PINGAN_DATABASE_URL": settings.database_url, "PINGAN_DATABASE_SCHEMA": settings.database_schema or "",
           "PINGAN_BROKER_URL": url, "PINGAN_CELERY_QUEUE": queue, "PINGAN_INSTANCE_PATH": str(settings.instance_path),
           "PYTHONPATH": str(ROOT), "PINGAN_DEVELOPMENT": "1"}
    worker = spawn(["worker", "--pool=threads", "--concurrency=1", "--loglevel=INFO", "-n", f"{queue}@%h",
                    "--without-gossip", "--without-mingle"], env, tmp_path / "worker.log")
    monkeypatch.setenv("PINGAN_CELERY_QUEUE", queue)  # the web app sends to the queue this worker listens on
    try:
        web_services = Services(settings.with_(timer_mode="celery", broker_url=url), committed.engine,
                                committed.session_factory, committed.context, committed.read_session_factory)
        app = create_app(services=web_services)
        with committed.session() as s:
            token = issue_token(s, username="designer", label="e2e")
        client = app.test_client()
        started = client.post("/api/v1/migrations", json={"process": key, "to_version": v2, "dry_run": False},
                              headers={"Authorization": f"Bearer {token}"})
        assert started.status_code == 202, started.get_json()
        job = started.get_json()["job"]
        deadline, body = time.monotonic() + 60, {}
        while time.monotonic() < deadline and worker.poll() is None:
            body = client.get(f"/api/v1/migrations/{job}", headers={"Authorization": f"Bearer {token}"}).get_json()
            if body["status"] in ("done", "failed"):
                break
            time.sleep(0.3)
        log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
        assert (body.get("status"), body.get("done"), body.get("moved")) == ("done", 2, 2), log
    finally:
        stop(worker)
    assert "pingan.run_migration_job" in (tmp_path / "worker.log").read_text(errors="replace")
    _check_moved(committed, key, v2, cases)


def test_the_embedded_mode_runs_the_job_in_a_thread_of_the_web_process(committed, two_versions):
    """Timers embedded (pingan run): the request answers at once, a thread of the process moves the cases."""
    from engine.org.auth import issue_token
    from web.app import create_app

    key, v2, cases = two_versions
    app = create_app(services=committed)
    assert committed.settings.timer_mode == "embedded" and not app.testing
    with committed.session() as s:
        headers = {"Authorization": f"Bearer {issue_token(s, username='designer', label='thread')}"}
    client = app.test_client()
    started = client.post("/api/v1/migrations", json={"process": key, "to_version": v2, "dry_run": False}, headers=headers)
    assert started.status_code == 202
    job = started.get_json()["job"]
    deadline, body = time.monotonic() + 30, {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/migrations/{job}", headers=headers).get_json()
        if body["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert (body["status"], body["done"], body["total"], body["moved"]) == ("done", 2, 2, 2)
    _check_moved(committed, key, v2, cases)
