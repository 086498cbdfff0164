"""Studio fixtures: the shipped library deployed into the test's transaction, designers and others."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine import definitions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def library(session):
    """Deploy the shipped processes (with their forms) into the test's transaction."""
    definitions.deploy(session, paths=[*sorted((ROOT / "processes").glob("*.bpmn")),
                                       *sorted((ROOT / "processes").glob("*.dmn")),
                                       *sorted((ROOT / "processes").glob("*.yaml")), ROOT / "forms"])
    session.flush()
