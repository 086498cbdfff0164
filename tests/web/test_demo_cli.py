"""`pingan init` then `pingan demo seed` on a brand-new instance folder, as `make run` does.

This runs the real commands against their own SQLite database in a temporary folder (the
command reads its settings from the environment, like `make run`), whatever database the rest
of the suite uses; tests/engine/test_seed.py checks the history itself on both databases.
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.context import open_services
from engine.seed import MIN_CASES
from engine.settings import load_settings
from engine.store.models import Instance, InstanceStatus


@pytest.fixture
def fresh_instance(tmp_path, monkeypatch):
    for name in ("PINGAN_DATABASE_URL", "PINGAN_DATABASE_SCHEMA", "PINGAN_PROCESSES_DIR", "PINGAN_FORMS_DIR",
                 "PINGAN_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PINGAN_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PINGAN_DEVELOPMENT", "1")
    return tmp_path


def _statuses(instance_path) -> dict[str, int]:
    svc = open_services(load_settings(env={"PINGAN_INSTANCE_PATH": str(instance_path)}))
    try:
        with svc.session() as s:
            return {str(st): n for st, n in s.execute(select(Instance.status, func.count()).group_by(Instance.status))}
    finally:
        svc.dispose()


def test_seed_on_a_new_database_then_a_second_run_does_nothing(fresh_instance):
    from web.cli import main

    runner = CliRunner()
    init = runner.invoke(main, ["init"])
    assert init.exit_code == 0, init.output
    first = runner.invoke(main, ["demo", "seed", "--cases", "5", "--months", "2"])
    assert first.exit_code == 0, first.output
    # Fewer cases than the demo needs to show every situation: raised to the minimum, and said so.
    assert f"至少需要 {MIN_CASES} 个案件" in first.output and f"已生成 {MIN_CASES} 个示范案件" in first.output
    after_first = _statuses(fresh_instance)
    assert sum(after_first.values()) == MIN_CASES
    assert after_first[InstanceStatus.RUNNING] > 0 and after_first[InstanceStatus.COMPLETED] > 0
    assert InstanceStatus.ERROR not in after_first
    second = runner.invoke(main, ["demo", "seed"])
    assert second.exit_code == 0, second.output
    assert "未生成示范数据" in second.output
    assert _statuses(fresh_instance) == after_first


def test_seed_without_the_demo_county_says_what_to_do(fresh_instance):
    from web.cli import main

    runner = CliRunner()
    assert runner.invoke(main, ["init", "--no-demo"]).exit_code == 0
    result = runner.invoke(main, ["demo", "seed", "--cases", "24"])
    assert result.exit_code == 1
    assert "示范县的组织和用户尚未载入" in result.output
    assert _statuses(fresh_instance) == {}
