"""`pingan migrate KEY --to N`: a dry run, a real run with its progress line, JSON, and exit 1 when a case stays."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.context import Services
from engine.org.orgs import actor_for
from engine.store.audit import EntryKind
from engine.store.db import make_session_factory
from engine.store.models import AuditEntry, Instance
from tests.studio.mediation_versions import (
    add_review_step, copy_mediation, deploy_version, remove_leader_step, start_at,
)
from web import cli


@pytest.fixture
def cli_services(services, session, monkeypatch):
    """The command's sessions on the test's connection, rolled back with the test."""
    options = dict(join_transaction_mode="create_savepoint", info={"pingan": services.context})
    svc = Services(services.settings, services.engine, make_session_factory(session.bind, **options), services.context,
                   make_session_factory(session.bind, read_only=True, **options))
    monkeypatch.setattr(cli, "_services", lambda: svc)
    return svc


@pytest.fixture
def mediation(session, tmp_path):
    repo = copy_mediation(tmp_path / "repo")
    v1 = deploy_version(session, repo)
    actors = lambda name: actor_for(session, username=name)  # noqa: E731
    movable = start_at(session, actors, "assign", version=v1)
    stuck = start_at(session, actors, "alerts", version=v1)
    add_review_step(repo)
    remove_leader_step(repo)
    v2 = deploy_version(session, repo)
    session.commit()
    return {"v1": v1, "v2": v2, "movable": movable, "stuck": stuck}


def _version(session, instance_id: int) -> int:
    session.expire_all()
    return session.get(Instance, instance_id).definition.version


def test_dry_run_prints_each_case_and_exits_1(cli_services, session, mediation):
    m = mediation
    result = CliRunner().invoke(cli.main, ["migrate", "mediation", "--to", str(m["v2"]), "--from", str(m["v1"]),
                                           "--case", str(m["movable"].id), "--case", str(m["stuck"].id), "--dry-run"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert f"✓ {m['movable'].business_key} (#{m['movable'].id}, v{m['v1']}) 可以迁移到 v{m['v2']}，迁移后待办：指派调解员" in lines
    assert f"✗ {m['stuck'].business_key} (#{m['stuck'].id}, v{m['v1']}) 当前步骤“领导阅批”在 v{m['v2']} 中已删除" in lines
    assert "共 2 个案件：1 个可以迁移，1 个不能迁移" in lines[-1]
    assert _version(session, m["movable"].id) == m["v1"]


def test_real_run_moves_with_a_progress_line_and_json(cli_services, session, mediation):
    m = mediation
    result = CliRunner().invoke(cli.main, ["migrate", "mediation", "--to", str(m["v2"]), "--case", str(m["movable"].id),
                                           "--json", "--actor", "designer"])
    assert result.exit_code == 0, result.output
    assert "迁移中 (migrating) 1/1" in result.stderr
    body = json.loads(result.stdout)
    assert (body["status"], body["done"], body["total"], body["moved"]) == ("done", 1, 1, 1)
    assert body["cases"][0]["reason"] == f"已迁移到 v{m['v2']}，当前待办：指派调解员"
    assert _version(session, m["movable"].id) == m["v2"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.instance_id == m["movable"].id)
                            .order_by(AuditEntry.seq.desc())).first()
    assert (entry.kind, entry.actor, entry.payload["to_version"]) == (EntryKind.MIGRATED, "designer", m["v2"])


def test_a_run_with_a_case_left_behind_exits_1(cli_services, session, mediation):
    m = mediation
    result = CliRunner().invoke(cli.main, ["migrate", "mediation", "--to", str(m["v2"]), "--from", str(m["v1"]),
                                           "--step", "alert_leader"])
    assert result.exit_code == 1, result.output
    assert f"✗ {m['stuck'].business_key}" in result.stdout and "共 1 个案件：0 个已迁移，1 个不能迁移" in result.stdout
    assert _version(session, m["stuck"].id) == m["v1"]


def test_an_unknown_version_is_refused(cli_services, mediation):
    result = CliRunner().invoke(cli.main, ["migrate", "mediation", "--to", "999"])
    assert result.exit_code == 1
    assert "未部署" in result.stderr or "没有版本" in result.stderr


def test_a_stopped_job_is_resumed_with_job(cli_services, session, mediation):
    from engine.studio.migration import start_migration
    from engine.studio.migration_models import JobStatus, MigrationJob

    m = mediation
    with cli_services.session() as s:
        job = start_migration(s, actor=actor_for(s, username="designer"), process_key="mediation",
                              to_version=m["v2"], instance_ids=[m["movable"].id])
        job.status = JobStatus.FAILED  # its runner stopped before moving anything
    wrong = CliRunner().invoke(cli.main, ["migrate", "review", "--job", str(job.id)])
    assert wrong.exit_code == 2 and "属于流程 mediation" in wrong.output
    result = CliRunner().invoke(cli.main, ["migrate", "mediation", "--job", str(job.id)])
    assert result.exit_code == 0, result.output
    assert "共 1 个案件：1 个已迁移，0 个不能迁移" in result.stdout
    session.expire_all()
    assert session.get(MigrationJob, job.id).status == JobStatus.DONE
    assert _version(session, m["movable"].id) == m["v2"]
    assert CliRunner().invoke(cli.main, ["migrate", "mediation"]).exit_code == 2  # neither --to nor --job
