"""Fixtures for the supervision ledger: the shipped library deployed, and items started through the engine."""
from __future__ import annotations

from datetime import datetime

import pytest
import yaml

from engine.definitions import deployment
from engine.runtime import lifecycle
from tests.factories import only_task
from tests.scenario_player import ROOT

THRESHOLDS = yaml.safe_load((ROOT / "processes" / "supervision.yaml").read_text(encoding="utf-8"))["variables"]


@pytest.fixture
def library(session):
    """Deploy the shipped processes (with their forms) into the test's transaction."""
    deployment.deploy(session, paths=[*sorted((ROOT / "processes").glob("*.bpmn")),
                                       *sorted((ROOT / "processes").glob("*.dmn")),
                                       *sorted((ROOT / "processes").glob("*.yaml")), ROOT / "forms"])
    session.commit()


@pytest.fixture
def start_item(session, actors, library, frozen):
    """Return ``start_item(title, lead, ...)``: a supervision item started by the county inspector (approved unless told)."""
    def _start(title: str, lead: str, *, assisting=(), source="领导批示", days=10, org=None, approve=True):
        inst = lifecycle.start_instance(session, process_key="supervision", actor=actors("zheng.dc"), org_code=org, data={
            "item_title": title, "source": source, "content": f"{title}的督办内容", "requirements": "按期办结",
            "lead_unit": lead, "assisting": [{"unit": u} for u in assisting], "time_limit_workdays": days})
        if approve:
            task = only_task(session, inst.id, "approve")
            lifecycle.complete_task(session, task_id=task.id, data={"approved": True, "leader_opinion": "同意"},
                                  actor=actors("he.ld"))
        session.flush()
        return inst
    return _start


def beijing(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00")
