"""Limits on what one request may make the engine do, so no definition can stall the server.

A request restores a case, advances it and saves it while holding the case's lock (on SQLite,
the database's only write lock). A gateway loop without a wait state, or a call activity that
calls its own process, would advance for ever: every other write would then fail after 30 s.
So each request gets a budget of automatic tasks and a nesting limit; spending either ends the
step as an error on the case (status ``error``, listed for the admin), and the request ends.
Scripts are also checked to leave only values that can be stored (``values.check``).
"""
from __future__ import annotations

from collections.abc import Sized

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import ParallelMultiInstanceTask

from . import values

__all__ = ["COMPACT_EVERY", "DEFAULT_STEP_BUDGET", "MAX_NESTING", "Breather", "CheckedScripts", "StepBudgetSpent"]

# Automatic tasks one request may run (PINGAN_MAX_ENGINE_STEPS): a loop without a wait state,
# or a call activity calling itself, must end as a case in error, not hold the write lock.
DEFAULT_STEP_BUDGET = 10_000
# Each level of call activity makes every later step walk one more subprocess: a process that
# calls itself costs quadratic time long before the budget is spent. No real procedure nests so deep.
MAX_NESTING = 30
# A loop grows the task tree one level per task, and every step walks the tree: prune the
# history this often within one request, not only when the state is saved.
COMPACT_EVERY = 200


class StepBudgetSpent(Exception):
    """A request ran more automatic tasks than its budget allows, nested calls too deep, or lost sight of its tasks."""

    def __init__(self, budget: int, task=None, *, reason: str = "budget"):
        if reason == "instances":
            message = (f"多实例任务要同时创建 {budget} 个实例，超过一次处理的步骤上限"
                       f" (a multi-instance task would create {budget} instances at once, beyond one request's step budget)")
        elif reason == "nesting":
            message = (f"子流程嵌套超过 {MAX_NESTING} 层，可能存在循环调用的调用活动"
                       f" (subprocesses nested deeper than {MAX_NESTING} levels: probably a call activity calling itself)")
        elif reason == "depth":
            # SpiffWorkflow stops looking 1,000 levels down and the history above could not be
            # pruned (a loop beside a branch that is still open): ``budget`` is the steps run.
            message = (f"流程在一次处理中执行了 {budget} 个步骤后超出引擎可追踪的深度，可能存在没有等待节点的循环"
                       f" (after {budget} steps in one request the process outgrew the depth the engine can follow:"
                       f" probably a loop without a wait state)")
        else:
            message = (f"流程在一次处理中执行了超过 {budget} 个步骤，可能存在没有等待节点的循环"
                       f" (the process ran more than {budget} steps in one request: probably a loop without a wait state)")
        super().__init__(message)
        self.budget, self.task = budget, task


class Breather(Exception):
    """Raised between two tasks to leave do_engine_steps, prune the tree and go on."""


class CheckedScripts:
    """A case's script engine, failing the script that leaves a value which cannot be stored."""

    def __init__(self, engine):
        self.engine = engine

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def execute(self, task, script, external_context=None):
        result = self.engine.execute(task, script, external_context)
        try:
            values.check(task.data)
        except values.UnstorableValue as exc:
            # As a script error: the task keeps its data from before and can be retried.
            raise WorkflowTaskException(str(exc), task=task, exception=exc) from None
        return result


def _limit_parallel_instances() -> None:
    """Refuse a parallel multi-instance task that would create more instances than the budget.

    Its instances are all created in one go, inside the step before it (``loopCardinality``
    ``10**9`` would fill the memory before the budget could count a single one of them).
    """
    original = ParallelMultiInstanceTask.create_children
    if getattr(original, "_pingan", False):
        return

    def create_children(self, my_task):
        if self.data_input is not None:
            items = self.data_input.get(my_task) if self.data_input.exists(my_task) else ()
            count = len(items) if isinstance(items, Sized) else 0
        else:
            count = my_task.internal_data.get("cardinality")
            if count is None:
                count = my_task.workflow.script_engine.evaluate(my_task, self.cardinality)
        budget = getattr(my_task.workflow.script_engine, "step_budget", None) or DEFAULT_STEP_BUDGET
        if isinstance(count, int) and count > budget:
            raise StepBudgetSpent(count, my_task, reason="instances")
        return original(self, my_task)

    create_children._pingan = True
    ParallelMultiInstanceTask.create_children = create_children


_limit_parallel_instances()
