"""Long-lived cases: SpiffWorkflow's limits on looping cases, and what compact() does about them."""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine.spiff.compaction import DEFAULT_KEEP_DEPTH, compact

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "loop.bpmn"
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
# Fixture processes whose every round is a single user task.
ONE_TASK_LOOPS = {"loop_calling": "review_call", "loop_deadline": "review_due"}


@pytest.fixture(scope="module")
def parser():
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(FIXTURE))
    return parser


def start_case(parser, *, parallel=False, process="loop"):
    workflow = BpmnWorkflow(parser.get_spec(process), parser.get_subprocess_specs(process))
    workflow.task_tree.data["parallel"] = parallel
    workflow.do_engine_steps()
    return workflow


def ready_names(workflow):
    return sorted(t.task_spec.name for t in workflow.get_tasks(state=TaskState.READY, manual=True))


def complete(workflow, name, *, keep_depth=DEFAULT_KEEP_DEPTH, compacting=True, **data):
    """Complete the one ready user task called ``name``, run the engine, compact; return removed."""
    [task] = [t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
              if t.task_spec.name == name]
    task.data.update(data)
    task.run()
    workflow.do_engine_steps()
    return compact(workflow, keep_depth=keep_depth) if compacting else 0


def play_round(workflow, number, *, approve=False, **kwargs):
    """Submit, run the checks (parallel variant, order alternating), review; return removed."""
    removed = complete(workflow, "submit", submit=number, **kwargs)
    if workflow.task_tree.data["parallel"]:
        for name in ("check_a", "check_b")[::1 if number % 2 else -1]:
            removed += complete(workflow, name, **{name: number}, **kwargs)
    return removed + complete(workflow, "review", approved=approve, **kwargs)


def tree_depth(workflow):
    return max(task.depth for task in workflow.tasks.values())


def snapshot(workflow):
    """Everything compaction or a round trip could disturb, for the tree and every subprocess."""
    trees = {None: workflow, **workflow.subprocesses}
    return {
        str(key): {
            str(t.id): (str(t._parent), [str(c) for c in t._children], t.state, t.task_spec.name,
                        copy.deepcopy(t.data))
            for t in tree.tasks.values()
        } | {"root": str(tree.task_tree.id), "data": copy.deepcopy(tree.data)}
        for key, tree in trees.items()
    }


def round_trip(workflow):
    return SERIALIZER.from_dict(json.loads(json.dumps(SERIALIZER.to_dict(workflow))))


def completed_names(workflow):
    return [t.task_spec.name for t in workflow.tasks.values() if t.state == TaskState.COMPLETED]


# SpiffWorkflow 3.2.0 on its own


def test_without_compaction_a_loop_stalls_and_spiff_reports_the_case_completed(parser):
    workflow = start_case(parser)
    for _ in range(2 * 600):
        names = ready_names(workflow)
        if not names:
            break
        complete(workflow, names[0], compacting=False, approved=False)
    else:
        pytest.fail("SpiffWorkflow no longer stalls; compaction may be unnecessary")

    # Each round adds 6 levels, so the frontier passes TaskIterator's max_depth=1000 at ~round 166.
    assert completed_names(workflow).count("review") < 200
    hidden = [t for t in workflow.tasks.values() if t.state == TaskState.READY]
    assert hidden and min(t.depth for t in hidden) > 1000
    # The same blind iterator decides completion: the case claims to be done, yet never ended.
    assert workflow.is_completed()
    assert "end" not in completed_names(workflow)


def test_without_compaction_a_parallel_gateway_deep_in_a_long_case_overflows_the_stack(parser):
    workflow = start_case(parser)
    for number in range(160):
        play_round(workflow, number, compacting=False)
    assert 950 < tree_depth(workflow) < 1000

    # A parallel gateway, even the split, checks its inputs with the recursive
    # Task.is_descendant_of: one Python frame per tree level.
    with pytest.raises(RecursionError):
        complete(workflow, "submit", compacting=False, parallel=True)


def test_spiff_counts_earlier_join_instances_as_tokens_so_a_looped_join_fires_early(parser):
    workflow = start_case(parser, parallel=True)
    complete(workflow, "submit", compacting=False)
    complete(workflow, "check_a", compacting=False)
    assert ready_names(workflow) == ["check_b"]
    complete(workflow, "check_b", compacting=False)
    complete(workflow, "review", compacting=False, approved=False)

    complete(workflow, "submit", compacting=False)
    complete(workflow, "check_b", compacting=False)
    # Round 1 left a finished join instance below check_a; Spiff takes it as check_a's token.
    assert ready_names(workflow) == ["check_a", "review"]
    complete(workflow, "check_a", compacting=False)
    assert ready_names(workflow) == ["review"]


# compact()


@pytest.mark.slow
def test_compaction_keeps_a_2000_round_case_moving_with_a_bounded_tree(parser):
    workflow = start_case(parser)
    removed, largest, deepest = 0, 0, 0
    for number in range(2000):
        assert ready_names(workflow) == ["submit"]
        removed += play_round(workflow, number, approve=number == 1999)
        largest = max(largest, len(workflow.tasks))
        if number % 97 == 0:
            deepest = max(deepest, tree_depth(workflow))

    assert workflow.is_completed()
    assert "end" in completed_names(workflow)
    assert workflow.data["submit"] == 1999 and workflow.data["approved"] is True
    assert removed > 10_000
    assert largest <= 120
    assert deepest <= 2 * DEFAULT_KEEP_DEPTH + 10


def test_a_looped_parallel_join_fires_every_round_with_compaction(parser):
    orders = random.Random(7)
    workflow = start_case(parser, parallel=True)
    removed, largest = 0, 0
    for number in range(300):
        checks = orders.sample(["check_a", "check_b"], 2)
        removed += complete(workflow, "submit", submit=number)
        assert ready_names(workflow) == ["check_a", "check_b"]
        for name in checks:
            removed += complete(workflow, name, **{name: number})
        assert ready_names(workflow) == ["review"]
        [review] = workflow.get_tasks(state=TaskState.READY, manual=True)
        join = review.parent.parent
        assert join.task_spec.name == "checks_join" and join.state == TaskState.COMPLETED
        assert join.parent.task_spec.name == checks[-1]
        removed += complete(workflow, "review", approved=number == 299)
        largest = max(largest, len(workflow.tasks))

    assert workflow.is_completed() and "end" in completed_names(workflow)
    assert removed > 2_000
    assert largest <= 140


@pytest.mark.parametrize(
    ("parallel", "rounds", "keep_depth"),
    [(False, 150, 10), (True, 30, 10), (True, 30, 3), (True, 40, DEFAULT_KEEP_DEPTH)],
)
def test_compaction_does_not_change_what_the_case_does(parser, parallel, rounds, keep_depth):
    plain, compacted = start_case(parser, parallel=parallel), start_case(parser, parallel=parallel)
    choices = random.Random(rounds + keep_depth)
    removed = 0

    def open_tasks(workflow):
        return sorted((t.task_spec.name, json.dumps(t.data, sort_keys=True))
                      for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING))

    def both(name, **data):
        nonlocal removed
        complete(plain, name, compacting=False, **data)
        removed += complete(compacted, name, keep_depth=keep_depth, **data)
        assert open_tasks(compacted) == open_tasks(plain)
        assert compacted.data == plain.data

    for number in range(rounds):
        both("submit", submit=number, note={"round": number, "items": list(range(number % 4))})
        if parallel:
            for name in choices.sample(["check_a", "check_b"], 2):
                both(name, **{name: number})
        both("review", approved=number == rounds - 1)

    assert removed > 0
    assert plain.is_completed() and compacted.is_completed()


@pytest.mark.parametrize("keep_depth", [2, 3, 5, 7])
def test_the_kept_window_never_starts_inside_a_parallel_section(parser, keep_depth):
    workflow = start_case(parser, parallel=True)
    window_tops = set()
    for number in range(40):
        for name in ["submit", *random.Random(number).sample(["check_a", "check_b"], 2), "review"]:
            if complete(workflow, name, keep_depth=keep_depth, approved=False):
                window_tops.add(workflow.task_tree.children[0].children[0].task_spec.name)

    assert window_tops
    assert not window_tops & {"check_a", "check_b", "checks_join"}


@pytest.mark.parametrize("keep_depth", [2, 3, 7])
def test_the_kept_window_keeps_a_boundary_event_with_its_task(parser, keep_depth):
    workflow = start_case(parser, process="loop_deadline")
    window_tops = set()
    for _ in range(40):
        if complete(workflow, "review_due", keep_depth=keep_depth, approved=False):
            window_tops.add(workflow.task_tree.children[0].children[0].task_spec.name)

    # reset_from_task_id resets a boundary event together with its task only via their split.
    assert window_tops
    assert not window_tops & {"review_due", "review_overdue"}
    assert [event.name for event in workflow.waiting_events()] == ["review_overdue"]
    complete(workflow, "review_due", approved=True)
    assert workflow.is_completed() and "deadline_end" in completed_names(workflow)


@pytest.mark.parametrize(
    ("process", "parallel", "rounds", "most_tasks"),
    [("loop", False, 600, 120), ("loop", True, 300, 140), ("loop_called", False, 300, 120),
     # Every kept call activity keeps its finished subprocess tree.
     ("loop_calling", False, 600, 320), ("loop_deadline", False, 600, 170)],
)
def test_serialization_round_trip_every_100_rounds_keeps_tree_and_data(
        parser, process, parallel, rounds, most_tasks):
    workflow = start_case(parser, parallel=parallel, process=process)
    removed, trips, largest = 0, 0, 0
    for number in range(rounds):
        approve = number == rounds - 1
        if process in ONE_TASK_LOOPS:
            removed += complete(workflow, ONE_TASK_LOOPS[process], approved=approve, round=number)
        else:
            removed += play_round(workflow, number, approve=approve)
        trees = [workflow, *workflow.subprocesses.values()]
        largest = max(largest, sum(len(tree.tasks) for tree in trees))
        if number % 100 == 99 and not approve:
            before = snapshot(workflow)
            workflow = round_trip(workflow)
            assert snapshot(workflow) == before
            trips += 1

    assert trips == rounds // 100 - 1
    assert removed > 0 and largest <= most_tasks
    assert workflow.is_completed()
    assert workflow.data["approved"] is True


def test_reset_to_the_latest_submit_after_compaction(parser):
    workflow = start_case(parser)
    removed = sum(play_round(workflow, number) for number in range(300))
    complete(workflow, "submit", submit=300)
    [review] = workflow.get_tasks(state=TaskState.READY, manual=True)
    submit = review.parent.parent.parent
    assert removed > 0 and submit.task_spec.name == "submit"

    workflow.reset_from_task_id(submit.id)

    assert review.id not in workflow.tasks
    assert submit.state == TaskState.READY
    assert ready_names(workflow) == ["submit"]
    assert submit.data == submit.parent.data
    complete(workflow, "submit", submit=301)
    complete(workflow, "review", approved=True)
    assert workflow.is_completed() and workflow.data["submit"] == 301


def test_reset_to_the_top_of_the_kept_window_sees_the_data_it_saw_before(parser):
    workflow = start_case(parser)
    removed, number = 0, 0
    while not removed:
        parent_data = {t.id: copy.deepcopy(t.parent.data)
                       for t in workflow.tasks.values() if t.parent}
        removed, number = play_round(workflow, number, keep_depth=10), number + 1
    anchor = workflow.task_tree.children[0]
    top = anchor.children[0]

    workflow.reset_from_task_id(top.id)

    assert top.parent is anchor and top.id in parent_data
    assert top.data == parent_data[top.id]
    workflow.do_engine_steps()
    while not workflow.is_completed():
        [name] = ready_names(workflow)
        complete(workflow, name, approved=True)
    assert "end" in completed_names(workflow)


@pytest.mark.parametrize("parallel", [False, True])
def test_compact_is_a_no_op_on_a_short_case(parser, parallel):
    workflow = start_case(parser, parallel=parallel)
    for number in range(5):
        play_round(workflow, number, compacting=False)
    before = snapshot(workflow)

    assert compact(workflow) == 0
    assert snapshot(workflow) == before


def test_compact_refuses_while_a_join_is_waiting(parser):
    workflow = start_case(parser, parallel=True)
    complete(workflow, "submit", compacting=False)
    complete(workflow, "check_a", compacting=False)
    assert any(t.task_spec.name == "checks_join" and t.state == TaskState.WAITING
               for t in workflow.tasks.values())
    before = snapshot(workflow)

    assert compact(workflow, keep_depth=2) == 0
    assert snapshot(workflow) == before
    assert complete(workflow, "check_b", keep_depth=2) > 0
    assert ready_names(workflow) == ["review"]


@pytest.mark.parametrize("keep_depth", [0, 201])
def test_keep_depth_out_of_range_is_rejected(parser, keep_depth):
    with pytest.raises(ValueError):
        compact(start_case(parser), keep_depth=keep_depth)
