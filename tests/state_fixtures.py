"""Stored workflow states of shipped processes, kept so that an upgrade is tested against them.

Each fixture is one case of a scenario (tests/scenarios/) played up to a chosen step and saved
as the engine stores it: ``instances.state`` (the serialized workflow, without its spec), the
case data, the files the process was deployed from (so later edits to processes/ do not change
what the state belongs to), what was open and waiting at that moment, and the rest of the
scenario. tests/engine/test_state_fixtures.py restores every fixture with today's code, checks
the same tasks and waits come back, and plays the case to its end.

Save a new set when the state format changes (a SpiffWorkflow upgrade, a new serializer version,
a change to engine/spiff/values.py), keeping the old sets::

    .venv/bin/python -m tests.state_fixtures            # writes tests/fixtures/states/<date>_serializer-<v>/

It plays on a throwaway SQLite sandbox and never touches a configured database.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import SpiffWorkflow
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.clock import FrozenClock
from engine.org.orgs import SYSTEM
from engine.runtime import lifecycle
from engine.spiff.workflow import SERIALIZER_VERSION
from engine.store import case_state
from engine.store.models import EventWait, Instance
from engine.studio.player import Player
from engine.studio.sandbox import open_sandbox
from engine.studio.scenarios import _start_moment
from tests.scenario_player import SCENARIOS, library_files, load_scenario

STATES = Path(__file__).resolve().parent / "fixtures" / "states"


@dataclass(frozen=True)
class Cut:
    """Where to stop a scenario and what the saved state then shows."""

    name: str
    scenario: str  # <process>/<scenario file stem>
    after_steps: int
    shows: str


CUTS = [
    Cut("grid_event_user_task_waiting", "grid_event/overdue_red_escalated", 1,
        "a user task (dispatch) waiting in the pool, nothing else"),
    Cut("grid_event_timer_waiting", "grid_event/overdue_red_escalated", 2,
        "a user task (handle) with its boundary timer (handle_overdue) waiting; the next step fires it"),
    Cut("assessment_countersign_half_done", "assessment/normal_no_objection", 4,
        "a parallel multi-instance scoring (unit_score) with one of two units done"),
    Cut("mediation_subprocess_waiting", "mediation/village_agreement_court_confirmed", 8,
        "inside the follow-up subprocess: a message (await_court) and two timers waiting"),
    Cut("supervision_subprocess_assist_half_done", "supervision/on_time_with_assisting_units", 4,
        "inside the handling subprocess with a multi-instance assist half done and three timers waiting"),
]


def open_elements(session: Session, player: Player) -> list[str]:
    """Return the open tasks' element ids, one per task (multi-instance tasks repeat)."""
    return sorted(t.element_id for t in player.open_tasks())


def waits(session: Session, instance_id: int) -> list[list]:
    """Return the case's waits as [kind, element id, due time or None], sorted."""
    rows = session.scalars(select(EventWait).where(EventWait.instance_id == instance_id))
    return sorted([w.kind, w.element_id, w.due_at.isoformat() if w.due_at else None] for w in rows)


def process_files(process: str) -> dict[str, str]:
    """Return the files that deploy ``process``: its BPMN, config and forms, and every DMN."""
    return {path: text for path, text in library_files(process).items() if not path.startswith("tests/")}


def save(cut: Cut) -> dict:
    """Play a scenario up to the cut on a throwaway database and return the fixture."""
    scenario = load_scenario(SCENARIOS / f"{cut.scenario}.yaml")
    if not 0 <= cut.after_steps < len(scenario.steps):
        raise ValueError(f"{cut.name}: the scenario has {len(scenario.steps)} steps; cut after {cut.after_steps}")
    files = process_files(scenario.process)
    box = open_sandbox(files)
    sim = FrozenClock(_start_moment(scenario.start))
    try:
        with clock.using(sim), box.services.session() as session:
            player = Player(session, sim)
            player.start(scenario.start, process=scenario.process)
            for step in scenario.steps[:cut.after_steps]:
                player.run_step(step)
            session.flush()
            instance = player.instance
            return {
                "name": cut.name, "shows": cut.shows, "scenario": cut.scenario, "process": scenario.process,
                "saved_with": {"date": date.today().isoformat(), "spiffworkflow": SpiffWorkflow.__version__,
                               "serializer_version": instance.serializer_version},
                "files": files, "start": scenario.start, "clock": sim.now().isoformat(),
                "state": case_state.read(session.connection(), instance.id, instance.state)[0], "data": instance.data,
                "open_tasks": open_elements(session, player), "waits": waits(session, instance.id),
                "steps": scenario.steps[cut.after_steps:], "expect": scenario.expect,
            }
    finally:
        box.close()


def restore(session: Session, player: Player, fixture: dict) -> Instance:
    """Start a case of the fixture's process, put the stored state in its place and rebuild its tasks and waits."""
    player.start(fixture["start"], process=fixture["process"])
    player.clock.set(datetime.fromisoformat(fixture["clock"]))
    instance = player.instance
    instance.state, instance.data = fixture["state"], fixture["data"]
    session.flush()
    loaded = lifecycle.load(session, instance_id=instance.id)
    lifecycle.save(session, loaded, actor=SYSTEM, error=None)
    return player.instance


def fixture_files() -> list[Path]:
    """Return every stored fixture, oldest set first."""
    return sorted(STATES.glob("*/*.json"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Save the workflow states of shipped processes as test fixtures.")
    parser.add_argument("--into", type=Path, default=None,
                        help="folder to write (default tests/fixtures/states/<today>_serializer-<version>)")
    args = parser.parse_args(argv)
    folder = args.into or STATES / f"{date.today().isoformat()}_serializer-{SERIALIZER_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    for cut in CUTS:
        fixture = save(cut)
        path = folder / f"{cut.name}.json"
        path.write_text(json.dumps(fixture, ensure_ascii=False, indent=1, sort_keys=True, default=str) + "\n",
                        encoding="utf-8")
        print(f"{path}: {fixture['open_tasks']} open, {len(fixture['waits'])} waiting")


if __name__ == "__main__":
    main()
