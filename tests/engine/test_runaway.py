"""No definition stalls the server: call cycles are refused, every request has a step budget."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from engine import clock
from engine.definitions.deployment import _meta, collect_sources, deploy, validate
from engine.errors import DefinitionInvalid
from engine.org.orgs import actor_for
from engine.runtime import admin, lifecycle
from engine.spiff.parser import parse_bundle
from engine.spiff.workflow import dump_spec
from engine.store import audit
from engine.store.models import Instance, InstanceStatus, InstanceTally, ProcessDefinition, TaskStatus
from tests.factories import only_task, open_tasks

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def _store_without_validation(session, folder: Path, key: str) -> ProcessDefinition:
    """Store a definition the way deploy does, minus validation: what a hand-edited database holds."""
    files = {f.name: f.read_bytes() for f in sorted(folder.glob("*.bpmn"))}
    parsed = parse_bundle(files, {})[key]
    definition = ProcessDefinition(
        key=key, version=1, name=parsed.name, content_hash=hashlib.sha256(b"".join(files.values())).hexdigest(),
        spec=dump_spec(parsed.spec, parsed.subprocess_specs) | {"meta": _meta(parsed)},
        sources={k: v.decode() for k, v in files.items()}, forms={}, config={}, deployed_at=clock.now())
    session.add(definition)
    session.flush()
    return definition


@pytest.fixture
def budget(services, monkeypatch):
    """Set the step budget (PINGAN_MAX_ENGINE_STEPS) for this test."""
    def set_budget(steps: int) -> None:
        monkeypatch.setattr(services.context.script_engine, "step_budget", steps)
    return set_budget


def test_a_cycle_of_call_activities_is_refused_with_the_cycle_its_element_and_line():
    with pytest.raises(DefinitionInvalid) as err:
        validate(collect_sources([HOSTILE / "cycle"]))
    problems = [d.as_dict() for d in err.value.details]
    assert problems == [{
        "message": "调用活动形成循环：cycle_a → cycle_b → cycle_c → cycle_a",
        "message_en": "call activities form a cycle: cycle_a → cycle_b → cycle_c → cycle_a",
        "file": "cycle_a.bpmn", "line": _line_of(HOSTILE / "cycle" / "cycle_a.bpmn", 'id="call_b"'),
        "element_id": "call_b",
        "hint": "循环中至少要有一个流程不再调用回来 (one process in the cycle must not call back)"}]


def test_a_process_calling_itself_is_refused(session):
    with pytest.raises(DefinitionInvalid) as err:
        deploy(session, paths=[HOSTILE / "selfcall"])
    [problem] = err.value.details
    assert (problem.message, problem.element_id, problem.file) == (
        "调用活动形成循环：selfcall → selfcall", "call_again", "selfcall.bpmn")
    assert session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == "selfcall")) is None


def test_a_call_resolves_inside_its_bundle_so_no_deploy_can_close_a_cycle_later(session):
    # cycle_a calls cycle_b: deployed alone, the call has nothing to resolve to, stored or not.
    with pytest.raises(DefinitionInvalid):
        deploy(session, paths=[HOSTILE / "cycle" / "cycle_a.bpmn"])


def test_a_gateway_loop_without_a_wait_state_ends_in_error_instead_of_a_silent_running_case(session, budget):
    # 3,000 steps are 1,000 rounds of three elements: past the depth where SpiffWorkflow stops looking.
    budget(3000)
    deploy(session, paths=[HOSTILE / "spin"])
    inst = lifecycle.start_instance(session, process_key="spin", actor=actor_for(session, username="li.sl"))
    assert inst.status == InstanceStatus.ERROR
    assert inst.error["message"].startswith("流程在一次处理中执行了超过 3000 个步骤，可能存在没有等待节点的循环")
    assert inst.error["element_id"] in {"merge", "count", "again"}
    # Two start tasks, then three elements a round: the rounds done before the budget ran out are kept.
    assert inst.data["rounds"] == (3000 - 2) // 3
    assert open_tasks(session, inst.id) == []
    errored, _ = admin.errored_instances(session, limit=1000)
    assert inst.id in {i.id for i in errored}
    assert [e.kind for e in audit.history(session, instance_id=inst.id)] == ["started", "error"]


def test_a_retry_gets_a_fresh_budget_and_stops_again(session, budget):
    budget(300)
    deploy(session, paths=[HOSTILE / "spin"])
    inst = lifecycle.start_instance(session, process_key="spin", actor=actor_for(session, username="li.sl"))
    assert inst.data["rounds"] == (300 - 2) // 3
    inst = lifecycle.retry_instance(session, instance_id=inst.id, actor=actor_for(session, username="admin"))
    assert inst.status == InstanceStatus.ERROR and inst.data["rounds"] == (300 - 2) // 3 + 300 // 3
    assert "超过 300 个步骤" in inst.error["message"]


@pytest.fixture
def stored_selfcall(services):
    """Definitions stored without validation are removed again after the test."""
    yield
    with services.session() as s:
        ids = list(s.scalars(select(ProcessDefinition.id).where(ProcessDefinition.key == "selfcall")))
        s.execute(delete(InstanceTally).where(InstanceTally.definition_id.in_(ids)))
        s.execute(delete(ProcessDefinition).where(ProcessDefinition.id.in_(ids)))


def test_a_self_calling_process_stored_without_validation_ends_in_error_and_frees_the_database(
        stored_selfcall, committed):
    svc = committed
    with svc.session() as s:
        _store_without_validation(s, HOSTILE / "selfcall", "selfcall")
    with svc.session() as s:
        inst = lifecycle.start_instance(s, process_key="selfcall", actor=actor_for(s, username="li.sl"))
        case_id = inst.id
    with svc.session() as s:
        inst = s.get(Instance, case_id)
        assert inst.status == InstanceStatus.ERROR
        assert inst.error["message"].startswith("子流程嵌套超过 30 层，可能存在循环调用的调用活动")
        assert inst.error["element_id"] == "start"
        assert case_id in {i.id for i in admin.errored_instances(s, limit=1000)[0]}
    # The request ended and released the write lock: the next writer gets in at once.
    with svc.session() as s:
        other = lifecycle.start_instance(s, process_key="review", actor=actor_for(s, username="li.sl"))
    with svc.session() as s:
        assert s.get(Instance, other.id).status == InstanceStatus.RUNNING


def test_a_self_calling_process_is_stopped_by_the_step_budget_too(session, budget):
    # Each level runs one task through the engine loop (the called process starts inside the
    # call activity): 20 steps stay below the nesting limit, so the budget alone ends the run.
    budget(20)
    _store_without_validation(session, HOSTILE / "selfcall", "selfcall")
    inst = lifecycle.start_instance(session, process_key="selfcall", actor=actor_for(session, username="li.sl"))
    assert inst.status == InstanceStatus.ERROR
    assert inst.error["message"].startswith("流程在一次处理中执行了超过 20 个步骤")


def test_a_loop_beside_an_open_branch_ends_in_error_when_the_engine_would_lose_sight_of_it(session):
    # The other branch waits for a person, so the history above the split cannot be pruned:
    # at SpiffWorkflow's 1,000 levels the loop would stop silently, a running case with no task.
    deploy(session, paths=[HOSTILE / "spin_beside"])
    inst = lifecycle.start_instance(session, process_key="spin_beside", actor=actor_for(session, username="li.sl"))
    assert inst.status == InstanceStatus.ERROR
    assert inst.error["message"].startswith("流程在一次处理中执行了 ")
    assert "个步骤后超出引擎可追踪的深度，可能存在没有等待节点的循环" in inst.error["message"]
    assert inst.error["element_id"] in {"merge", "count", "again"}
    assert inst.id in {i.id for i in admin.errored_instances(session, limit=1000)[0]}


@pytest.mark.parametrize("count, status", [(50, InstanceStatus.COMPLETED), (101, InstanceStatus.ERROR)])
def test_a_parallel_multi_instance_task_may_not_create_more_instances_than_the_budget(session, budget, count, status):
    # All instances are created at once, before any of them runs: 10**9 would fill the memory.
    budget(100)
    deploy(session, paths=[HOSTILE / "fanout"])
    inst = lifecycle.start_instance(session, process_key="fanout", data={"count": count},
                                  actor=actor_for(session, username="li.sl"))
    assert inst.status == status
    if status == InstanceStatus.ERROR:
        assert inst.error["message"].startswith("多实例任务要同时创建 101 个实例，超过一次处理的步骤上限")
        assert inst.error["element_id"] == "each"


def test_a_fan_out_started_by_a_persons_step_keeps_the_step_and_puts_the_case_in_error(session, budget):
    budget(100)
    deploy(session, paths=[HOSTILE / "fanout"])
    li = actor_for(session, username="li.sl")
    inst = lifecycle.start_instance(session, process_key="fanout_after", actor=li)
    task = only_task(session, inst.id, "ask")
    inst = lifecycle.complete_task(session, task_id=task.id, data={"count": 10**9}, actor=li)
    assert (inst.status, inst.error["element_id"]) == (InstanceStatus.ERROR, "each")
    assert inst.error["message"].startswith("多实例任务要同时创建 1000000000 个实例")
    session.refresh(task)
    assert task.status == TaskStatus.COMPLETED
    assert [e.kind for e in audit.history(session, instance_id=inst.id)] == ["started", "task_completed", "error"]
