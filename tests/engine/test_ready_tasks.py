"""The ready user tasks a step lists without walking the tree are the ones a walk finds, in its order.

``Runner._ready_user_task_objects`` answers from its last listing when the tree has as many
tasks as then and no task became ready since; ``ready_user_tasks`` keeps each task's
``ReadyUserTask`` while the task keeps its data object. Every shipped scenario is played with
workflows kept from step to step (as a running server keeps them), and at every listing the
answer is compared with a fresh walk of the tree.
"""
from __future__ import annotations

import pytest
from SpiffWorkflow.util.task import TaskState

from engine.spiff import cache as workflow_cache
from engine.spiff import workflow as spiff_workflow
from engine.spiff.workflow import Runner
from tests.engine.test_incremental_dump import ready_task, runner  # noqa: F401  (runner: the fixture)
from tests.scenario_player import all_scenarios, keep_at_once, play_on_its_clock

SCENARIO_LIST = all_scenarios()


def walked(runner: Runner) -> list:
    return [t for t in runner._tree_walk()
            if t.state == TaskState.READY and spiff_workflow._is_user_task(t.task_spec)]


@pytest.fixture
def compared(monkeypatch):
    """Check every listing against a walk; count the listings that answered without walking the tree."""
    listed = {"all": 0, "reused": 0, "walks": 0}
    original, original_walk = Runner._ready_user_task_objects, Runner._tree_walk

    def counted_walk(self, *args, **kwargs):
        listed["walks"] += 1
        return original_walk(self, *args, **kwargs)

    def checked(self):
        walks = listed["walks"]
        found = original(self)
        if found and listed["walks"] == walks:
            listed["reused"] += 1
        expected = walked(self)
        assert [t.id for t in found] == [t.id for t in expected]
        assert all(a is b for a, b in zip(found, expected))
        listed["all"] += 1
        return found

    monkeypatch.setattr(Runner, "_tree_walk", counted_walk)
    monkeypatch.setattr(Runner, "_ready_user_task_objects", checked)
    return listed


@pytest.mark.parametrize("scenario", SCENARIO_LIST, ids=[s.id for s in SCENARIO_LIST])
def test_the_ready_tasks_listed_are_a_walks_at_every_step_of_every_scenario(scenario, services, monkeypatch, compared):
    keep_at_once(monkeypatch)
    try:
        play_on_its_clock(services, scenario)
    finally:
        workflow_cache.live_workflows.clear()
    assert compared["all"] > 0


def test_parallel_instances_are_listed_from_the_last_listing(services, monkeypatch, compared):
    """Countersigning by several townships: completing one leaves the others' order as it was."""
    chosen = [s for s in SCENARIO_LIST if s.process in ("assessment", "supervision")]
    assert chosen, "a shipped scenario with parallel multi-instance tasks"
    keep_at_once(monkeypatch)
    try:
        for scenario in chosen:
            play_on_its_clock(services, scenario)
    finally:
        workflow_cache.live_workflows.clear()
    assert compared["reused"] > 0


def test_a_ready_task_keeps_its_listing_while_its_data_object_stays(runner):  # noqa: F811
    first = runner.ready_user_tasks()
    again = runner.ready_user_tasks()
    assert len(first) == 5 and all(a is b for a, b in zip(first, again))
    task = ready_task(runner, 1)
    task.data = dict(task.data, note="换了")
    third = runner.ready_user_tasks()
    assert third[1] is not first[1] and third[1].data["note"] == "换了"
    assert third[0] is first[0]
    assert runner.complete_user_task(first[0].id, {"result": "已核查"}) is None
    after = runner.ready_user_tasks()
    assert [t.id for t in after] == [t.id for t in third[1:]]
