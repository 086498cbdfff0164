"""The test suite's handle on the scenario player that lives in the product (engine/studio/player.py).

Scenario files are tests/scenarios/<process>/<path>.yaml; their format is described in
engine/studio/scenarios.py, which also runs them (``run_scenarios``, used by tests/test_scenarios.py,
``pingan test`` and the studio). This module keeps what other tests build on: the library's paths,
``all_scenarios`` and a ``Player`` bound to the test database for tests that drive a case across
two versions of a definition (tests/test_change_without_code.py) or measure one (bench/).

``Player`` runs the steps in one database transaction that ``close`` rolls back. With
``restore=True`` every step runs in a fresh Session and with the parsed-spec cache emptied, so the
workflow, tasks and waits of each step come from what the previous step stored.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from engine import clock as engine_clock
from engine.clock import FrozenClock
from engine.definitions import deployment
from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from engine.store.models import Instance
from engine.studio import player as engine_player
from engine.spiff import cache as workflow_cache
from engine.studio.scenarios import Scenario, _start_moment, parse_scenario

ROOT = Path(__file__).resolve().parents[1]
PROCESSES = ROOT / "processes"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"

ScenarioFailed = engine_player.StepFailed


def all_scenarios() -> list[Scenario]:
    """Return every scenario file under tests/scenarios, sorted by process and name."""
    return [load_scenario(p) for p in sorted(SCENARIOS.glob("*/*.yaml"))]


def load_scenario(path: Path) -> Scenario:
    """Read and check one scenario file; unknown keys are errors, never silently ignored."""
    return parse_scenario(path.read_text(encoding="utf-8"), file=path.relative_to(ROOT).as_posix())


def process_files(key: str) -> list[Path]:
    """Return the files that deploy one process of the library: its BPMN, config and the DMNs."""
    files = [PROCESSES / f"{key}.bpmn", *sorted(PROCESSES.glob("*.dmn"))]
    config = PROCESSES / f"{key}.yaml"
    return files + ([config] if config.exists() else [])


def library_files(*keys: str) -> dict[str, str]:
    """Return the library's files (processes, forms, scenarios) as a file set, all or of ``keys``."""
    out = {}
    for pattern in ("processes/*.bpmn", "processes/*.dmn", "processes/*.yaml", "forms/*/*.yaml",
                    "tests/scenarios/*/*.yaml"):
        for f in sorted(ROOT.glob(pattern)):
            rel = f.relative_to(ROOT).as_posix()
            owner = f.stem if rel.startswith("processes/") else f.parent.name
            if not keys or f.suffix == ".dmn" or owner in keys:
                out[rel] = f.read_text(encoding="utf-8")
    return out


class Player(engine_player.Player):
    """The product's player on the test database, in one rolled-back transaction."""

    def __init__(self, services, clock, *, restore: bool):
        self.services, self.restore = services, restore
        self.conn = services.engine.connect()
        self.trans = self.conn.begin()
        super().__init__(self._new_session(), clock)

    def _new_session(self) -> Session:
        return Session(bind=self.conn, join_transaction_mode="create_savepoint", expire_on_commit=False,
                       info={"pingan": self.services.context})

    def close(self) -> None:
        self.session.close()
        self.trans.rollback()
        self.conn.close()

    def checkpoint(self) -> None:
        """End a step: in restore mode forget every object and parsed spec held in memory."""
        self.session.flush()
        if self.restore:
            self.session.commit()  # releases this step's savepoint; the outer transaction stays open
            self.session.close()
            deployment._SPEC_CACHE.clear()
            self.session = self._new_session()

    def deploy(self, key: str) -> None:
        deployment.deploy(self.session, paths=process_files(key), actor="scenario")
        self.checkpoint()

    def play(self, scenario: Scenario) -> Instance:
        self.deploy(scenario.process)
        start = scenario.start
        instance = lifecycle.start_instance(self.session, process_key=scenario.process, data=start.get("data") or {},
                                          actor=actor_for(self.session, username=start["as"]),
                                          org_code=start.get("org"))
        self.instance_id = instance.id
        self.checkpoint()
        for step in scenario.steps:
            self.run_step(step)
            if "expect" in step:
                self.check(step["expect"])
            self.checkpoint()
        self.check(scenario.expect)
        return self.instance


def play_on_its_clock(services, scenario: Scenario) -> Instance:
    """Play a scenario in one rolled-back transaction, on a frozen clock set to its start moment."""
    sim = FrozenClock(_start_moment(scenario.start))
    player = Player(services, sim, restore=False)
    try:
        with engine_clock.using(sim):
            return player.play(scenario)
    finally:
        player.close()


def keep_at_once(monkeypatch, *, check=None) -> None:
    """Keep each save's workflow (with its known rows) at once, as a real commit would keep it.

    The tests' commits only release savepoints, which keep nothing (engine/spiff/cache.py), so
    without this each step would restore. ``check(session, instance_id, version, companion)``,
    if given, runs on every keep first. The cache starts empty.
    """
    def keep_now(session, *, instance_id, version, workflow, fingerprint=(), cache=None, companion=None):
        if check is not None:
            check(session, instance_id, version, companion)
        (cache or workflow_cache.live_workflows).put(instance_id, version=version, workflow=workflow,
                                                     fingerprint=fingerprint, companion=companion)

    monkeypatch.setattr(workflow_cache, "keep_after_commit", keep_now)
    workflow_cache.live_workflows.clear()
