"""Pingan's own walk of a task tree meets the tasks SpiffWorkflow's iterator meets, in its order.

``Runner.ready_user_tasks`` and ``Runner.data`` walk the tree themselves (``Runner._tree_walk``)
instead of through ``get_tasks``, whose copying of its pending list made a task with a thousand
children cost a thousand copies. At every save of every shipped scenario the walk is compared
with the library's iterator looking for READY tasks, and what the runner reads with what the
library's ``get_tasks`` gives.
"""
from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter, BpmnTaskIterator
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.definitions.scripting import build_script_engine
from engine.spiff import values
from engine.spiff.workflow import Runner
from tests.engine.test_incremental_dump import _PROCESS  # a start, a script, five instances, a last task
from tests.scenario_player import all_scenarios, play_on_its_clock

SCENARIO_LIST = all_scenarios()


class _EveryTask(BpmnTaskFilter):
    """Looks for READY tasks (so the iterator prunes as it does then) but lets every task it meets through."""

    def __init__(self):
        super().__init__(state=TaskState.READY)

    def matches(self, task):
        return True


def check_walks(runner: Runner, where: str) -> None:
    wf = runner.wf
    library = [t.id for t in BpmnTaskIterator(wf.task_tree, task_filter=_EveryTask())]
    assert [t.id for t in runner._tree_walk()] == library, where
    ready = [t for t in wf.get_tasks(state=TaskState.READY, manual=True) if isinstance(t.task_spec, UserTask)]
    assert [t.id for t in runner._ready_user_task_objects()] == [t.id for t in ready], where
    assert [t.id for t in runner.ready_user_tasks()] == [str(t.id) for t in ready], where
    if not wf.completed:  # Runner.data as it read before: the latest step, else the first ready user task
        last = runner._latest_step()
        source = last.data if last is not None else (ready[0].data if ready else wf.task_tree.data)
        assert runner.data() == values.jsonable({k: v for k, v in source.items() if not k.startswith("_")}), where


@pytest.mark.parametrize("scenario", SCENARIO_LIST, ids=[s.id for s in SCENARIO_LIST])
def test_the_walk_is_the_library_iterators(scenario, services, monkeypatch):
    checked = [0]
    original_dump = Runner.dump

    def checking_dump(self):
        check_walks(self, f"{scenario.id} save {checked[0] + 1}")
        checked[0] += 1
        return original_dump(self)

    monkeypatch.setattr(Runner, "dump", checking_dump)
    play_on_its_clock(services, scenario)
    assert checked[0] > 0


def test_the_walk_stops_at_the_depth_given():
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(_PROCESS.encode(), "many.bpmn")
    runner = Runner.start(parser.get_spec("many"), parser.get_subprocess_specs("many"), build_script_engine(),
                          {"items": [{"n": i} for i in range(5)]})
    assert runner.run_engine_steps() is None
    check_walks(runner, "five open instances")
    for depth in range(8):
        library = [t.id for t in BpmnTaskIterator(runner.wf.task_tree, max_depth=depth, task_filter=_EveryTask())]
        assert [t.id for t in runner._tree_walk(max_depth=depth)] == library, depth
