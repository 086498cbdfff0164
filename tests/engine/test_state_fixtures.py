"""Cases stored by earlier code come back with today's: the same tasks and waits, and they play to their end.

The fixtures are tests/fixtures/states/<date>_serializer-<version>/*.json (tests/state_fixtures.py says
what each shows and how to save a new set). Every set ever saved stays: a stored case of that
age may be waiting in a database now.
"""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from SpiffWorkflow.util.task import TaskState

from engine.store.models import InstanceStatus
from engine.studio.player import Player
from engine.studio.sandbox import open_sandbox
from engine.studio.scenarios import _start_moment
from tests.state_fixtures import CUTS, fixture_files, open_elements, restore, waits

FIXTURES = fixture_files()


def test_every_kind_of_stored_state_has_a_fixture():
    names = {path.stem for path in FIXTURES}
    assert {cut.name for cut in CUTS} <= names, "run .venv/bin/python -m tests.state_fixtures"
    fixtures = [json.loads(path.read_text(encoding="utf-8")) for path in FIXTURES]
    # What the set covers, read from the stored states themselves, not from their names.
    assert any(f["waits"] and any(kind == "timer" for kind, _, _ in f["waits"]) for f in fixtures)
    assert any(f["state"]["subprocesses"] for f in fixtures)
    assert any(_multi_instance_half_done(f) for f in fixtures)


def _multi_instance_half_done(fixture: dict) -> bool:
    """A multi-instance task with some instances completed and others still open."""
    states: dict[str, set[int]] = {}
    for task in fixture["state"]["tasks"].values():
        states.setdefault(task["task_spec"], set()).add(task["state"])
    # SpiffWorkflow names the instances' spec "<task> [child]".
    return any({TaskState.COMPLETED, TaskState.READY} <= states.get(f"{element} [child]", set())
               for element in fixture["open_tasks"])


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_stored_state_restores_and_plays_to_its_end(services, path):
    fixture = json.loads(path.read_text(encoding="utf-8"))
    box = open_sandbox(fixture["files"], within=services, start_at=_start_moment(fixture["start"]))
    try:
        with box.session() as session:
            player = Player(session, box.clock)

            instance = restore(session, player, fixture)

            assert box.clock.now() == datetime.fromisoformat(fixture["clock"])
            assert instance.status == InstanceStatus.RUNNING, instance.error
            assert open_elements(session, player) == fixture["open_tasks"]
            assert waits(session, instance.id) == [list(w) for w in fixture["waits"]]
            for step in fixture["steps"]:
                player.run_step(step)
                if "expect" in step:
                    player.check(step["expect"])
            player.check(fixture["expect"])
            assert player.instance.status == InstanceStatus.COMPLETED
            assert player.instance.end_event == fixture["expect"]["end"]
    finally:
        box.close()
