"""A running workflow behind Pingan's own small types: the runtime never sees SpiffWorkflow."""
from __future__ import annotations

import copy
import marshal
from dataclasses import dataclass, field
from datetime import datetime, timezone
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.simple import TerminateEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from . import timer_clock  # noqa: F401  (patches SpiffWorkflow's timers before any runs)
from . import internals, values
from .compaction import compact
from .copying import SCALARS, copy_data
from .loops import inject_loop_counts, loop_index, loops_user_task, remove_injected
from .ordering import parents_first, restored_order
from .steps import COMPACT_EVERY, DEFAULT_STEP_BUDGET, MAX_NESTING, Breather, CheckedScripts, StepBudgetSpent

__all__ = ["SERIALIZER_VERSION", "Runner", "ReadyUserTask", "StepError", "WaitingEvent",
           "dump_spec", "load_spec"]


# A timer that is due again at once (a zero-length cycle) must not keep a step spinning.
_MAX_ENGINE_PASSES = 100
def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = internals.CachedSpecConverter
    config[Task] = internals.task_data_converter(values.encode)
    config[BpmnSubWorkflow] = internals.subworkflow_data_converter(values.encode)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
    values.register_restorers(serializer.registry)
    return serializer


_SERIALIZER = _make_serializer()


def dump_spec(spec, subprocess_specs: dict) -> dict:
    """Serialize a process spec and its subprocess specs to JSON-ready data."""
    return {
        "spec": _SERIALIZER.registry.convert(spec),
        "subprocess_specs": {k: _SERIALIZER.registry.convert(v) for k, v in subprocess_specs.items()},
    }


def load_spec(data: dict) -> tuple[object, dict]:
    """Restore spec objects from ``dump_spec`` output."""
    spec = _SERIALIZER.registry.restore(copy.deepcopy(data["spec"]))
    subs = {k: _SERIALIZER.registry.restore(copy.deepcopy(v)) for k, v in data["subprocess_specs"].items()}
    return spec, subs


def _with_own_correlations(dct: dict) -> dict:
    """A shallow copy of a stored workflow's dict, with a copy of its correlations (see ``Runner.restore``)."""
    out = dict(dct)
    if "correlations" in out:
        out["correlations"] = copy_data(out["correlations"])
    return out


@dataclass(frozen=True)
class ReadyUserTask:
    id: str
    element_id: str
    name: str
    lane: str | None
    properties: dict[str, str]
    data: dict
    multi_index: int | None


@dataclass(frozen=True)
class WaitingEvent:
    task_id: str
    element_id: str
    kind: str  # timer | message
    name: str
    due_at: datetime | None = None
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StepError:
    message: str
    element_id: str | None
    element_name: str | None
    task_id: str | None
    line: int | None
    error_line: str | None
    trace: list[str]
    cause: Exception | None = None

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "cause"}
        return out


class _DetachedScripts(CheckedScripts):
    """Run each script on data of its own task only, as it would run after a restore.

    SpiffWorkflow gives a task a shallow copy of its parent's data, so a list inside it is the
    parent's list; a restore rebuilds some of those and shares others. A script changing such a
    value in place (``items.append``) would then change another task's data in a workflow kept in
    memory and not in a restored one. Detached first, it changes its own task's data only; what it
    leaves is put in its restored form by ``values.check`` (CheckedScripts).
    """

    def execute(self, task, script, external_context=None):
        values.detach(task.data)
        return super().execute(task, script, external_context)


class Runner:
    """One loaded workflow: advance it, read its tasks and events, dump its state."""

    def __init__(self, workflow: BpmnWorkflow):
        self.wf = workflow
        engine = workflow.script_engine
        if not isinstance(engine, _DetachedScripts):
            workflow.script_engine = _DetachedScripts(engine.engine if isinstance(engine, CheckedScripts) else engine)
        # Per Runner, and a Runner lives for one request: every step entry point shares it.
        self.step_budget = getattr(engine, "step_budget", None) or DEFAULT_STEP_BUDGET
        self.steps_left = self.step_budget
        # Set by reset_to: a task done earlier is ready again under its own id, so its stored row
        # is there to reopen (engine/runtime/sync.py reads the rows then). No other way makes a
        # task ready twice: SpiffWorkflow gives a looped or repeated task a new id.
        self.went_back = False

    @classmethod
    def start(cls, spec, subprocess_specs: dict, script_engine, data: dict) -> Runner:
        """Create a new workflow with initial data (not yet advanced)."""
        wf = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine)
        wf.task_tree.data.update(copy.deepcopy(data))
        for task in wf.get_tasks(state=TaskState.READY):
            task.data.update(copy.deepcopy(data))
        return cls(wf)

    @classmethod
    def restore(cls, state: dict, spec, subprocess_specs: dict, script_engine) -> Runner:
        """Rebuild a workflow from stored state around already-loaded specs."""
        current = state.get(_SERIALIZER.VERSION_KEY) == SERIALIZER_VERSION
        if current:
            # Nothing to migrate, and the converters build new objects from what they read (the
            # registry copies a tagged dict before taking its tag off; task data, internal data
            # and events come back new), except the correlations, which the workflow takes as
            # they are: copied here with the dicts this method changes, instead of the whole
            # state, whose copy was a fifth of a restore.
            dct = _with_own_correlations(state)
            dct["subprocesses"] = {k: _with_own_correlations(v) for k, v in state.get("subprocesses", {}).items()}
        else:
            dct = copy_data(state)  # a migration rewrites the state in place
        _SERIALIZER.migrate(dct)
        dct["spec"], dct["subprocess_specs"] = spec, subprocess_specs
        # A task's data is stored as a delta against its parent and rebuilt only if the parent
        # was restored first; PostgreSQL's JSONB does not keep key order, so put it back.
        dct["tasks"] = parents_first(dct["tasks"], dct["root"])
        for sub in dct.get("subprocesses", {}).values():
            sub["tasks"] = parents_first(sub["tasks"], sub["root"])
        wf = _SERIALIZER.from_dict(dct)
        wf.script_engine = script_engine
        if current:
            _TaskForms.seed(wf, state)
        return cls(wf)

    @classmethod
    def resume(cls, workflow: BpmnWorkflow, script_engine) -> Runner:
        """Go on with a workflow kept in memory since it was saved (engine/spiff/cache.py)."""
        workflow.script_engine = script_engine
        return cls(workflow)

    @property
    def stored_tasks(self) -> dict | None:
        """What the store holds of each task (id -> the form last written), None if not known.

        Set by the store (engine/store/case_state.py) and kept with the workflow, so a kept
        workflow knows which of its dumped forms are already written: those that ``is`` them.
        """
        return self.wf.__dict__.get(_STORED_TASKS)

    @stored_tasks.setter
    def stored_tasks(self, value: dict | None) -> None:
        self.wf.__dict__[_STORED_TASKS] = value

    def dump(self) -> dict:
        """Serialize the workflow without its spec (the spec is stored once per definition).

        Only tasks whose stored form may have changed since the workflow's last dump are
        converted again (``_TaskForms``); the result is what converting every task gives
        (tests/engine/test_incremental_dump.py). Treat it as read-only: the next dump shares
        the unchanged tasks' dicts with it.
        """
        compact(self.wf)
        forms = _TaskForms.of(self.wf)
        if forms.reorder_needed(self.wf):
            restored_order(self.wf)
        forms.ordered(self.wf)
        subprocesses = {str(k): _subprocess_dict(v, forms.tasks_of(v)) for k, v in self.wf.subprocesses.items()}
        return self._workflow_dict(forms.tasks_of(self.wf), subprocesses)

    def full_dump(self) -> dict:
        """``dump`` converting every task afresh: what ``dump`` must equal (kept for the tests)."""
        compact(self.wf)
        restored_order(self.wf)
        converter = _SERIALIZER.registry.convert
        return self._workflow_dict({str(k): converter(v) for k, v in self.wf.tasks.items()},
                                   {str(k): converter(v) for k, v in self.wf.subprocesses.items()})

    def _workflow_dict(self, tasks: dict, subprocesses: dict) -> dict:
        # Never the registry's encoder mode: it is one flag for the whole process, so a thread
        # dumping while another finished would see it switched off under it. Task data goes
        # through values.encode (in the converters above) instead, which the mode was for.
        registry = _SERIALIZER.registry
        return {
            "data": values.encode(self.wf.data),
            "correlations": self.wf.correlations,
            "last_task": str(self.wf.last_task.id) if self.wf.last_task is not None else None,
            "success": self.wf.success,
            "completed": self.wf.completed,
            "tasks": tasks,
            "root": str(self.wf.task_tree.id),
            "subprocesses": subprocesses,
            "bpmn_events": registry.convert(self.wf.bpmn_events),
            _SERIALIZER.VERSION_KEY: SERIALIZER_VERSION,
            "typename": registry.typenames[BpmnWorkflow],
        }

    # -- advancing -------------------------------------------------------------------------

    def run_engine_steps(self) -> StepError | None:
        """Run automatic tasks until only people or events are awaited; stop at the first failure.

        A failing task keeps the data it had before it ran, so nothing is half-applied; the
        tasks that succeeded before it stay done.
        """
        snapshot: dict = {}

        def before(task):
            if self.steps_left <= 0:
                raise StepBudgetSpent(self.step_budget, task)
            if task.workflow.depth > MAX_NESTING:
                raise StepBudgetSpent(self.step_budget, task, reason="nesting")
            ran = self.step_budget - self.steps_left
            if ran and ran % COMPACT_EVERY == 0 and not snapshot.get("breathed") == ran:
                snapshot["breathed"] = ran
                raise Breather  # before the task runs: it stays READY for the next pass
            self.steps_left -= 1
            snapshot["task"], snapshot["data"] = task, copy_data(task.data)

        try:
            self._do_engine_steps(before)
            # do_engine_steps ends by checking timers: one found due there is READY but not run,
            # and, no longer waiting, no sweep would ever run it. Go on until nothing is ready.
            for _ in range(_MAX_ENGINE_PASSES):
                # One look at every task first: almost always none is ready, and then none the
                # library's walk of the tree (a part of them) could find either.
                hidden = self._ready_out_of_sight()
                if hidden is None:
                    break
                if not self.wf.get_tasks(state=TaskState.READY, manual=False):
                    # A loop without a wait state grew the tree past the depth SpiffWorkflow
                    # looks (1,000): it would stop silently, a "running" case with no task.
                    # Prune the history and go on; the budget ends a loop that never stops.
                    if not compact(self.wf):
                        return _step_error(StepBudgetSpent(self.step_budget - self.steps_left, hidden, reason="depth"), hidden)
                self._do_engine_steps(before)
        except StepBudgetSpent as exc:
            return _step_error(exc, exc.task)
        except (SpiffWorkflowException, Exception) as exc:  # scripts may raise anything
            task = getattr(exc, "task", None) or snapshot.get("task")
            if task is not None and snapshot.get("task") is task:
                task.data = snapshot["data"]
                if task.state == TaskState.ERROR:
                    internals.force_state(task, TaskState.READY)
            return _step_error(exc, task)
        return None

    def _do_engine_steps(self, before) -> None:
        while True:
            try:
                self.wf.do_engine_steps(will_complete_task=before)
                return
            except Breather:
                compact(self.wf)

    def _ready_out_of_sight(self):
        for task in self._all_tasks():
            if task.state == TaskState.READY and not task.task_spec.manual:
                return task
        return None

    def complete_user_task(self, task_id: str, data: dict) -> StepError | None:
        """Complete a READY user task with data, then advance."""
        task = self.wf.get_task_from_id(UUID(task_id))
        task.data.update(copy_data(data))
        injected = inject_loop_counts(task)
        try:
            task.run()
        except StepBudgetSpent as exc:  # the next task could not start: the case is in error
            return _step_error(exc, exc.task)
        except Exception as exc:  # post-scripts and completion conditions run here
            return _step_error(exc, task)
        finally:
            remove_injected(task, injected)
        return self.run_engine_steps()

    def patch_task_data(self, task_id: str, data: dict) -> None:
        """Correct the data of a (failed) task before it is run again."""
        self.wf.get_task_from_id(UUID(task_id)).data.update(copy.deepcopy(data))

    def run_after_error(self) -> StepError | None:
        """Run again from where a failure stopped the workflow."""
        return self.refresh_timers()

    def refresh_timers(self) -> StepError | None:
        """Let due timers fire, then advance."""
        try:
            self.wf.refresh_timers()
        except Exception as exc:
            return _step_error(exc, None)
        return self.run_engine_steps()

    def catch_message(self, name: str, payload: dict, correlations: dict | None = None, *,
                      task_ids: list[str] | None = None) -> int:
        """Deliver a message to this workflow; return how many events caught it.

        With ``task_ids`` only those waiting events may catch it: the caller has matched their
        correlation already, and a wait that is gone (caught by an earlier copy of the message)
        catches nothing. Without a ``messageVariable`` the payload is merged into the case data.
        """
        if task_ids is None:
            event = BpmnEvent(MessageEventDefinition(name), payload=copy.deepcopy(payload),
                              correlations=correlations or {})
            return self.wf.event_manager.catch(event, internal=False)
        caught = 0
        for task_id in task_ids:
            task = self._waiting_task(task_id)
            event_def = _message_definition(getattr(getattr(task, "task_spec", None), "event_definition", None), name)
            if task is None or not task.has_state(TaskState.WAITING) or event_def is None:
                continue
            # SpiffWorkflow computes correlations from the payload, so the matched keys go in it.
            body = copy.deepcopy({**(correlations or {}), **payload})
            task.task_spec.catch(task, BpmnEvent(event_def, payload=body, correlations={}))
            internals.update_after_catch(task)
            if getattr(event_def, "message_var", None) is None:
                # After _update: inheriting the parent's data would overwrite the payload's keys.
                task.data.update(copy.deepcopy(body))
            caught += 1
        return caught

    def _waiting_task(self, wait_id: str):
        """The task that catches for a wait: itself, or the event-based gateway before its catch event."""
        task = self.wf.event_manager.tasks.get(UUID(wait_id))
        if task is None:
            branch = self.wf.get_task_from_id(UUID(wait_id)) if self.task_exists(wait_id, ready=False) else None
            parent = getattr(branch, "parent", None)
            if parent is not None and self.wf.event_manager.tasks.get(parent.id) is parent:
                task = parent
        return task

    def reset_to(self, task_id: str, data: dict | None = None) -> bool:
        """Go back to an earlier task; everything after it is discarded. False if it is gone.

        A user task reopens with the data it had when it was done (the form as submitted):
        SpiffWorkflow's reset would re-inherit its parent's, older values. A multi-instance
        task starts its instances afresh from the data before it.
        """
        try:
            task = self.wf.get_task_from_id(UUID(task_id))
            keep = copy.deepcopy(task.data) if data is None and isinstance(task.task_spec, UserTask) else None
            self.wf.reset_from_task_id(UUID(task_id), data=data)
        except TaskNotFoundException:
            return False  # pruned from the tree by compaction: too far back to return to
        self.went_back = True
        if keep is not None:
            task.data = keep
            if task.workflow is self.wf:
                self.wf.last_task = task  # the case data is again what that step was given
        # SpiffWorkflow leaves waiting events of discarded tasks registered (a boundary timer
        # below the reset point); the next engine step would then trip over a task that is gone.
        live = {t.id for t in self._all_tasks()}
        for stale in [tid for tid in self.wf.event_manager.tasks if tid not in live]:
            self.wf.event_manager.tasks.pop(stale, None)
        return True

    def _all_tasks(self):
        yield from self.wf.tasks.values()
        for sub in self.wf.subprocesses.values():
            yield from sub.tasks.values()

    def cancel(self) -> None:
        """Cancel the whole workflow."""
        self.wf.cancel()

    # -- reading ---------------------------------------------------------------------------

    @property
    def completed(self) -> bool:
        return self.wf.completed

    def end_event(self) -> str | None:
        """Return the id of the end event the case finished at: a terminate end event if one was
        reached, else the end event reached last (parallel paths may each reach one of their own)."""
        ends = [t for t in self.wf.get_tasks(state=TaskState.COMPLETED, spec_class=EndEvent)
                if t.workflow is self.wf and t.task_spec.bpmn_id]
        terminating = [t for t in ends if isinstance(t.task_spec.event_definition, TerminateEventDefinition)]
        if not ends:
            return None
        return max(terminating or ends, key=lambda t: t.last_state_change).task_spec.bpmn_id

    def data(self) -> dict:
        """Return the case data as of the most recent step, as JSON (dates as ISO text, decimals as text).

        The most recent step may be inside an embedded subprocess still running: it shares the
        case's data, so what it set is shown while its tasks wait (a call activity's process has
        data of its own and is not read here).
        """
        if self.wf.completed:
            return values.jsonable(self.wf.data)
        source = self._latest_step()
        if source is None:
            source = next(iter(self._ready_user_task_objects()), None) or self.wf.task_tree
        return values.jsonable({k: v for k, v in source.data.items() if not k.startswith("_")})

    def _latest_step(self) -> Task | None:
        latest = self.wf.last_task
        for sp in self.wf.subprocesses.values():
            if sp.completed or not self._shares_case_data(sp):
                continue
            done = sp.last_task
            if done is None:
                finished = [t for t in sp.tasks.values() if t.has_state(TaskState.COMPLETED)]
                done = max(finished, key=lambda t: t.last_state_change) if finished else None
            if done is not None and (latest is None or done.last_state_change > latest.last_state_change):
                latest = done
        return latest

    def _shares_case_data(self, sp: BpmnSubWorkflow) -> bool:
        """Tell whether a subworkflow is an embedded subprocess of the case, not inside a call activity."""
        while sp is not self.wf:
            owner = sp.parent_workflow.tasks.get(sp.parent_task_id)
            if owner is None or isinstance(owner.task_spec, CallActivity):
                return False
            sp = sp.parent_workflow
        return True

    def reached_steps(self) -> list[tuple[str, bool, str | None]]:
        """Return (element id, completed?, element it came from) of every BPMN element the case has
        reached (done, ready or waiting), oldest first: what a scenario's path draws."""
        reached = TaskState.COMPLETED | TaskState.READY | TaskState.STARTED | TaskState.WAITING
        tasks = sorted((t for t in self.wf.get_tasks(state=reached) if t.task_spec.bpmn_id),
                       key=lambda t: t.last_state_change)
        out = []
        for task in tasks:
            # Its nearest ancestor that is a BPMN element: the library puts internal tasks, such as
            # the split that arms boundary events, in between.
            parent = task.parent
            while parent is not None and not parent.task_spec.bpmn_id:
                parent = parent.parent
            out.append((task.task_spec.bpmn_id, task.state == TaskState.COMPLETED,
                        parent.task_spec.bpmn_id if parent is not None else None))
        return out

    def end_events_reached(self) -> list[str]:
        """Return every end event of the top process reached so far (side branches end too)."""
        return sorted({t.task_spec.bpmn_id for t in self.wf.get_tasks(state=TaskState.COMPLETED, spec_class=EndEvent)
                       if t.workflow is self.wf and t.task_spec.bpmn_id})

    def ready_user_tasks(self) -> list[ReadyUserTask]:
        """Return the user tasks waiting for a person.

        Each task's ``ReadyUserTask`` is kept with the workflow while the task stays ready with
        the same data object: a case of a thousand parallel tasks lists them at every step,
        and building each anew was a tenth of a completion there.
        """
        kept = self.wf.__dict__.get(_READY_TASKS) or {}
        out, now = [], {}
        for task in self._ready_user_task_objects():
            seen = kept.get(task)
            if seen is None or seen.data is not task.data:
                spec = task.task_spec
                props = dict((getattr(spec, "extensions", None) or {}).get("properties", {}))
                seen = ReadyUserTask(
                    id=str(task.id), element_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id,
                    lane=spec.lane, properties=props, data=task.data, multi_index=loop_index(task))
            now[task] = seen
            out.append(seen)
        self.wf.__dict__[_READY_TASKS] = now
        return out

    def _ready_user_task_objects(self) -> list[Task]:
        """The READY user tasks, in the order ``get_tasks(state=READY, manual=True)`` gives them.

        That order is the tree's, and a step leaves the order of the tasks already ready as it
        was: when the tree has as many tasks as at the last listing and no task is ready that
        was not ready then, the answer is the last one less the tasks no longer ready. One look
        at each task's state instead of a walk of the tree, which in a case of a thousand
        parallel tasks was most of the listing. Otherwise (a task became ready, one came or
        went) the tree is walked. tests/engine/test_ready_tasks.py compares both at every step
        of every shipped scenario.
        """
        count = len(self.wf.tasks) + sum(len(sub.tasks) for sub in self.wf.subprocesses.values())
        last = self.wf.__dict__.get(_READY_ORDER)
        if last is not None and last[0] == count:
            before = last[1]
            ready = {id(t) for t in self._all_tasks() if t.state == TaskState.READY and _is_user_task(t.task_spec)}
            if ready <= before.keys():
                found = [t for t in before.values() if id(t) in ready]
                self.wf.__dict__[_READY_ORDER] = (count, {id(t): t for t in found})
                return found
        found = [t for t in self._tree_walk() if t.state == TaskState.READY and _is_user_task(t.task_spec)]
        self.wf.__dict__[_READY_ORDER] = (count, {id(t): t for t in found})
        return found

    def _tree_walk(self, max_depth: int = 1000):
        """Walk the tasks as SpiffWorkflow's iterator does looking for READY ones, without its list copying.

        Depth first from the root; a subprocess's tasks come before the children of the task
        that runs it; no descent below a predicted (MAYBE, LIKELY) task or past ``max_depth``
        levels (BpmnTaskIterator's rules; its copying of the pending list made a walk of a
        task with a thousand children cost a thousand copies). A task's depth here is its
        level; the library's count can be one more after a subprocess, which matters only
        near 1,000 levels, a depth compaction keeps far away.
        """
        subprocesses = self.wf.subprocesses
        stack = [(self.wf.task_tree, 0)]
        while stack:
            task, depth = stack.pop()
            yield task
            sub = subprocesses.get(task.id)
            if sub is None:
                if not internals.child_ids(task) or task.state < TaskState.FUTURE or depth >= max_depth:
                    continue
                below = task.children
            elif depth >= max_depth:
                continue
            else:
                below = [sub.task_tree, *task.children]
            depth += 1
            stack.extend((child, depth) for child in reversed(below))

    def task_exists(self, task_id: str, *, ready: bool = True) -> bool:
        try:
            task = self.wf.get_task_from_id(UUID(task_id))
        except Exception:
            return False
        return task is not None and (not ready or task.state == TaskState.READY)

    def earlier_steps(self, task_id: str) -> list[tuple[str, str]]:
        """Return (task id, element id) of the finished user tasks a task came through, nearest first.

        These are the steps a return (退回) may go back to: resetting one discards the task. A
        multi-instance step is represented by its loop task, so returning to it starts every
        instance again.
        """
        node = self.wf.get_task_from_id(UUID(task_id)).parent
        out = []
        while node is not None:
            spec = node.task_spec
            if node.has_state(TaskState.COMPLETED) and (
                    isinstance(spec, UserTask) or (isinstance(spec, LoopTask) and loops_user_task(node))):
                out.append((str(node.id), spec.bpmn_id))
            node = node.parent
        return out

    def is_loop_instance(self, task_id: str) -> bool:
        """Tell whether the task is one instance of a multi-instance or loop task."""
        parent = self.wf.get_task_from_id(UUID(task_id)).parent
        return parent is not None and isinstance(parent.task_spec, LoopTask)

    def completed_user_tasks(self) -> list[tuple[str, str]]:
        """Return (task id, element id) of completed user tasks, oldest first."""
        tasks = self.wf.get_tasks(state=TaskState.COMPLETED, manual=True)
        tasks = [t for t in tasks if isinstance(t.task_spec, UserTask)]
        tasks.sort(key=lambda t: t.last_state_change)
        return [(str(t.id), t.task_spec.bpmn_id) for t in tasks]

    def waiting_events(self) -> list[WaitingEvent]:
        """Return the timers and messages the workflow is waiting for."""
        out = []
        for task in list(self.wf.event_manager.tasks.values()):
            if not task.has_state(TaskState.WAITING):
                continue
            spec = task.task_spec
            event_def = spec.event_definition
            if isinstance(event_def, MultipleEventDefinition) and not event_def.parallel:
                # An event-based gateway waits for each of its events at once; the first to come wins
                # and the others are withdrawn. Each is listed under the catch event it leads to.
                # Each wait is keyed by the task of its catch event (one wait per task is stored).
                for index, child in enumerate(event_def.event_definitions):
                    branch = task.children[index] if index < len(task.children) else task
                    out += _waits_for(task, child, branch.task_spec.bpmn_id or branch.task_spec.name,
                                      wait_id=str(branch.id))
                continue
            out += _waits_for(task, event_def, spec.bpmn_id or spec.name)
        return out

    def evaluate(self, expression: str, data: dict):
        """Evaluate an expression in the workflow's sandbox against ``data``."""
        return self.wf.script_engine.environment.evaluate(expression, copy_data(data))


_STORED_TASKS = "_pingan_stored_tasks"
_READY_TASKS = "_pingan_ready_tasks"  # task (the object) -> its ReadyUserTask, as last listed
_READY_ORDER = "_pingan_ready_order"  # (tasks in the tree, the ready user tasks by id() in order), as last listed


def _is_user_task(spec) -> bool:
    return spec.manual and isinstance(spec, UserTask)


class _TaskForms:
    """Each task's stored form as a workflow's last dump made it, with what it was made from.

    Kept on the workflow object, which engine/spiff/cache.py keeps between requests, so a
    completion in a case of a thousand open tasks converts the few tasks it changed, not all.

    A task's form (SpiffWorkflow's TaskConverter, data through values.encode) is made of its
    parent's id and its children's, its state, last state change, spec, ``triggered``, its
    internal data and, below the root, the delta of its data against its parent's (keys updated
    and deleted). The key a form is kept under holds each of those: the data parts written out
    (``marshal``, else ``repr``: see ``_form_key``) from the very delta the converter would
    compute now, so data a script or the library changed in place, or a parent whose data
    changed under its children, are seen. Both name type and value of everything
    ``values.encode`` and the registry store (1 is not True, Decimal("1.10") is not
    Decimal("1.1"), key order shows); a ``repr`` that shows an object's identity instead
    (``<… object at 0x…>``) does not say what it holds, and such a task is converted at every
    dump.
    """

    _ATTRIBUTE = "_pingan_task_forms"

    def __init__(self):
        # Keyed by the Task objects, which hash by identity in C: a UUID's hash is Python code,
        # and keyed by ids a case of a thousand tasks hashed each id three times a dump.
        self.entries: dict = {}  # task -> (key, task id as text, form)
        self.layout: tuple | None = None  # the orders the last dump left (see _layout)
        self.structure_changed = True

    @classmethod
    def seed(cls, wf: BpmnWorkflow, state: dict) -> None:
        """Take the stored forms of a state just restored as the tasks' forms: no conversion at its first dump.

        They are what converting the restored tasks gives (restore is lossless:
        tests/engine/test_incremental_dump.py), and the very dicts the store read, so the store
        sees them unchanged. A task the state does not hold leaves the workflow unseeded.
        """
        stored = dict(state.get("tasks", {}))
        for sub in state.get("subprocesses", {}).values():
            stored.update(sub.get("tasks", {}))
        forms = cls()
        for workflow in (wf, *wf.subprocesses.values()):
            for task_id, task in workflow.tasks.items():
                text = str(task_id)
                form = stored.get(text)
                if form is None:
                    return
                forms.entries[task] = (_form_key(task), text, form)
        setattr(wf, cls._ATTRIBUTE, forms)

    @classmethod
    def of(cls, wf: BpmnWorkflow) -> _TaskForms:
        """The workflow's forms, brought up to date with it."""
        forms = wf.__dict__.get(cls._ATTRIBUTE)
        if forms is None:
            forms = cls()
            setattr(wf, cls._ATTRIBUTE, forms)
        forms._refresh(wf)
        return forms

    def _refresh(self, wf: BpmnWorkflow) -> None:
        old, new, moved = self.entries, {}, False
        for workflow in (wf, *wf.subprocesses.values()):
            tasks = workflow.tasks
            for task in tasks.values():
                key = _form_key(task, tasks)
                entry = old.get(task)
                placed = entry is not None and entry[0][0] == key[0]
                if not placed:
                    moved = True  # a new task, or one moved or given other children
                if entry is None or key[1] is None or entry[0] != key:
                    # In its place with the same children, their ids as text are the last form's
                    # (a loop task of a thousand instances is converted again at every step).
                    entry = (key, str(task.id), _task_form(task, tasks, entry[2]["children"] if placed else None))
                new[task] = entry
        # Assigned only now: a conversion that failed (an unstorable value) keeps nothing half-done.
        self.entries, self.structure_changed = new, moved or len(new) != len(old)

    def reorder_needed(self, wf: BpmnWorkflow) -> bool:
        """Whether ``restored_order`` may change anything: a task came or went, or an order moved."""
        layout = _layout(wf)
        if not self.structure_changed and layout == self.layout:
            return False
        self.layout = None  # set again by ``ordered``
        return True

    def ordered(self, wf: BpmnWorkflow) -> None:
        """Note the orders the workflow has once put in restored order."""
        if self.layout is None:
            self.layout = _layout(wf)

    def tasks_of(self, workflow) -> dict:
        entries = self.entries
        return {entry[1]: entry[2] for entry in map(entries.__getitem__, workflow.tasks.values())}


# What ``object.__repr__`` (and a function's) shows: identity, not what the object holds.
_IDENTITY_REPR = " at 0x"


def _delta(data: dict, above: dict) -> tuple[dict, list]:
    """A task's data against its parent's as TaskConverter stores it: the keys updated (with their
    values) and deleted, by the comparisons ``DeepMerge.get_updated_keys`` and ``get_deleted_keys`` make."""
    return ({k: v for k, v in data.items() if k not in above or v != above[k]},
            [k for k in above if k not in data])


def _form_key(task, tasks: dict | None = None) -> tuple:
    """Return (where the task sits, what else its stored form is made of, or None if unsure).

    ``tasks`` is the task's workflow's tasks, passed by a caller keying a whole workflow. Called
    for every task at every dump, so it is written out: the parent looked up once, the data delta
    computed as the converter computes it (``_delta``), and the three parts written by ``marshal``
    in its format 0, which writes no back-references and does not mark interned text, so the same
    values give the same bytes; it names every type it takes (``1``, ``True`` and ``1.0`` differ)
    and keeps key order. What it does not take (dates, decimals, subclasses) is written by
    ``repr``: about three times slower, and in a case of a thousand tasks this key is made a
    thousand times a step.
    """
    parent_id = task._parent
    parent = None if parent_id is None else (task.workflow.tasks if tasks is None else tasks).get(parent_id)
    children = task._children
    place = (None if parent is None else parent_id, tuple(children) if children else ())
    try:
        data = task.data
        if parent is None:
            parts = (task.internal_data, data)
        else:  # what TaskConverter stores below the root: the delta against the parent's data
            parts = (task.internal_data, *_delta(data, parent.data))
        try:
            text = marshal.dumps(parts, 0)
        except ValueError:  # a value marshal does not take (a date, a Decimal, a subclass)
            text = repr(parts)
            if _IDENTITY_REPR in text:
                return place, None
    except Exception:  # the converter will say what is wrong
        return place, None
    return place, (task._state, task.last_state_change, task.triggered, task.task_spec.name, text)


_TASK_TYPENAME = _SERIALIZER.registry.typenames[Task]


def _task_form(task, tasks: dict, children: list | None = None) -> dict:
    """Return what the serializer's task converter makes of the task (``internals.task_data_converter``).

    Written out for the dump, which converts a task whenever its key changed: the library's
    converter goes through the registry's generic dispatch, looks the parent up four times and
    cleans the internal data even when it holds only text and numbers, about three times the
    cost. ``Runner.full_dump`` still converts with the library's converter, and
    tests/engine/test_incremental_dump.py compares the two at every dump of every shipped scenario.
    ``children``: the task's children's ids as text, known when they are the last form's.
    """
    parent_id = task._parent
    parent = None if parent_id is None else tasks.get(parent_id)
    internal = task.internal_data
    if type(internal) is dict and all(type(v) in SCALARS for v in internal.values()):
        internal = dict(internal)  # what cleaning and converting such a dict gives: a copy
    else:
        internal = _SERIALIZER.registry.convert(internal)
    if parent is None:
        data, delta = values.encode(task.data), {}
    else:
        updates, deletions = _delta(task.data, parent.data)
        data, delta = {}, {"updates": values.encode(updates), "deletions": sorted(deletions)}
    return {
        "id": str(task.id),
        "parent": None if parent is None else str(parent_id),
        "children": [str(child) for child in task._children] if children is None else list(children),
        "last_state_change": task.last_state_change,
        "state": task._state,
        "task_spec": task.task_spec.name,
        "triggered": task.triggered,
        "internal_data": internal,
        "data": data,
        "delta": delta,
        "typename": _TASK_TYPENAME,
    }


def _layout(wf: BpmnWorkflow) -> tuple:
    """The orders ``restored_order`` sets, with the roots it starts from."""
    subs = wf.subprocesses.values()
    return (wf.task_tree.id, tuple(wf.tasks), tuple(wf.subprocesses),
            tuple((s.task_tree.id, tuple(s.tasks)) for s in subs), tuple(wf.event_manager.tasks))


def _subprocess_dict(sub: BpmnSubWorkflow, tasks: dict) -> dict:
    """What the serializer makes of a subworkflow (SubWorkflowDataConverter), around tasks converted already."""
    return {
        "data": values.encode(sub.data),
        "correlations": sub.correlations,
        "last_task": str(sub.last_task.id) if sub.last_task is not None else None,
        "success": sub.success,
        "completed": sub.completed,
        "tasks": tasks,
        "root": str(sub.task_tree.id),
        "parent_task_id": str(sub.parent_task_id),
        "spec": sub.spec.name,
        "typename": _SERIALIZER.registry.typenames[BpmnSubWorkflow],
    }


def _waits_for(task, event_def, element_id: str, *, wait_id: str | None = None) -> list[WaitingEvent]:
    wait_id = wait_id or str(task.id)
    if isinstance(event_def, TimerEventDefinition):
        return [WaitingEvent(wait_id, element_id, "timer", event_def.name or "", _timer_due(task))]
    if isinstance(event_def, MessageEventDefinition):
        props = {p.name: p.retrieval_expression for p in event_def.correlation_properties}
        return [WaitingEvent(wait_id, element_id, "message", event_def.name, None,
                             {"properties": props, "data": task.data})]
    return []


def _message_definition(event_def, name: str) -> MessageEventDefinition | None:
    """The definition of message ``name`` an event waits for, also among an event-based gateway's events."""
    if isinstance(event_def, MessageEventDefinition):
        return event_def if event_def.name == name else None
    if isinstance(event_def, MultipleEventDefinition) and not event_def.parallel:
        return next((d for d in event_def.event_definitions
                     if isinstance(d, MessageEventDefinition) and d.name == name), None)
    return None


def _timer_due(task) -> datetime | None:
    value = internals.internal_value(task, "event_value")
    if value is None:
        # Not yet evaluated: ask the spec, which evaluates and stores it.
        task.task_spec.event_definition.has_fired(task) if hasattr(task.task_spec.event_definition, "has_fired") else None
        value = internals.internal_value(task, "event_value")
    if isinstance(value, dict):  # cycles keep their next due time
        value = value.get("next")
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # as the library reads it when deciding whether it fired
        moment = moment.replace(tzinfo=timer_clock.timer_zone())
    return moment.astimezone(timezone.utc)


def _step_error(exc: Exception, task) -> StepError:
    task = getattr(exc, "task", None) or task
    spec = getattr(task, "task_spec", None)
    cause = exc
    while getattr(cause, "exception", None) is not None and cause.exception is not cause:
        cause = cause.exception
    message = str(cause) if cause is not exc else (getattr(exc, "error_msg", None) or str(exc))
    trace = list(getattr(exc, "task_trace", None) or [])
    return StepError(
        message=message.split("\n")[0] or type(cause).__name__,
        element_id=getattr(spec, "bpmn_id", None) or getattr(spec, "name", None),
        element_name=getattr(spec, "bpmn_name", None),
        task_id=str(task.id) if task is not None else None,
        line=getattr(exc, "line_number", None) or None,
        error_line=getattr(exc, "error_line", None) or None,
        trace=trace,
        cause=cause,
    )
