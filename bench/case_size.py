"""Case size: one case with N parallel instances of a user task, persisted and in memory.

`bench_multi` (bench/fixtures) opens one task per item of the list given at start, all at once.
For N = 10, 100 and 1,000 (quick: 10, 50 and 200) it measures, on one database:

* the cost of one completion, p50 over the completions in the middle half of the case
  (the N/4-th to the 3N/4-th), where the case is neither freshly started nor nearly done;
* the whole case: the start plus all N completions, one session and one COMMIT each, as
  requests do (looking the task ids up once after the start is not counted);
* the same case run by SpiffWorkflow alone in memory (the ceiling, as bench/ceiling.py does for
  the other processes: Pingan's parsed spec and script engine, form data cleaned beforehand,
  nothing serialized). Ceiling cases run before, at each quarter of and after every persisted
  case, in the same stretch of time, so a busy machine slows both sides alike.

Two ratios carry the issue's goals: cost per completion at the largest N ÷ at the middle N
(≤ 1.5: a completion should not cost more because the case is large), and the whole largest
case ÷ its in-memory ceiling (≤ 3).
"""
from __future__ import annotations

import copy
import statistics
import time

from sqlalchemy import select

from .common import DURABILITY, Driver, Plan, Result, Step, at_most, open_bench_services, percentile, result

SIZES = (10, 100, 1000)
QUICK_SIZES = (10, 50, 200)
# Persisted cases per size: enough middle completions at small N, one case at the largest.
REPEATS = {10: 8, 100: 3, 1000: 1}
QUICK_REPEATS = {10: 3, 50: 1, 200: 1}
CHECKPOINTS = 4  # a ceiling case before the persisted one, at each quarter of it, and after
PER_COMPLETION_GOAL = at_most(1.5)
WHOLE_CASE_GOAL = at_most(3.0)

STEP = Step("check", "li.sl", {"result": "已核查"})


def plan_of(n: int) -> Plan:
    """A bench_multi case whose start form lists ``n`` items: ``n`` open tasks after the start."""
    return Plan(label=f"case_size_{n}", process="bench_multi", starter="li.sl",
                start_data={"subject": "逐项核查", "items": [{"name": f"事项{i + 1}"} for i in range(n)]},
                steps=(STEP,))


def run(*, kind: str, quick: bool) -> list[Result]:
    """Play cases of every size on ``kind``, ceiling cases interleaved; return the records."""
    from engine.definitions.scripting import build_script_engine
    from engine.org.calendar import WorkCalendar

    sizes, repeats = (QUICK_SIZES, QUICK_REPEATS) if quick else (SIZES, REPEATS)
    calendar = WorkCalendar()
    script_engine = build_script_engine(calendar=lambda: calendar)
    svc = open_bench_services(kind)
    out, per_completion, whole, ceiling = [], {}, {}, {}
    try:
        driver = Driver(svc)
        driver.play(plan_of(3))  # warm the caches: spec, calendar, actor, statement cache
        for n in sizes:
            memory = InMemory(plan_of(n), script_engine, calendar)
            memory.play()  # warm-up, outside the figures
            middle, cases, memory_cases, memory_middle = [], [], [], []

            def ceiling_case():
                seconds, mid = memory.play()
                memory_cases.append(seconds)
                memory_middle.extend(mid)

            for _ in range(repeats[n]):
                seconds, mid = persisted_case(driver, n, between=ceiling_case)
                cases.append(seconds)
                middle.extend(mid)
            per_completion[n] = percentile(middle, 50)
            whole[n] = statistics.median(cases)
            ceiling[n] = statistics.median(memory_cases)
            label = f"{kind}.case_size.n{n}"
            note = (f"bench_multi, {n} parallel instances in one case, {len(cases)} case(s); "
                    f"{DURABILITY[kind]}")
            out += [
                result(f"{label}.complete_p50_ms", per_completion[n], "ms", kind,
                       note=f"p50 of {len(middle)} completions in the middle half of the case; {note}"),
                result(f"{label}.case_s", whole[n], "s", kind, ratio=ceiling[n] / whole[n],
                       note=f"start + {n} completions, median of {len(cases)} case(s); {note}"),
                result(f"{label}.ceiling_case_s", ceiling[n], "s", kind, ratio=1.0,
                       note=f"the same case by SpiffWorkflow in memory, median of {len(memory_cases)} runs "
                            f"interleaved with the persisted case(s)"),
                result(f"{label}.ceiling_complete_p50_ms", percentile(memory_middle, 50), "ms", kind,
                       note="one completion in memory (task.run + do_engine_steps), middle half, p50"),
            ]
    finally:
        svc.dispose()
    mid_n, big_n = sizes[1], sizes[-1]
    out += [
        result(f"{kind}.case_size.complete_ratio_n{big_n}_vs_n{mid_n}", per_completion[big_n] / per_completion[mid_n],
               "×", kind, goal=PER_COMPLETION_GOAL,
               note=f"{per_completion[big_n]:.1f} ms ÷ {per_completion[mid_n]:.1f} ms per completion "
                    f"(in memory: the ceiling's own growth is in ceiling_complete_p50_ms)"),
        result(f"{kind}.case_size.case_vs_ceiling_n{big_n}", whole[big_n] / ceiling[big_n], "×", kind,
               goal=WHOLE_CASE_GOAL, ratio=ceiling[big_n] / whole[big_n],
               note=f"whole case {whole[big_n]:.1f} s persisted ÷ {ceiling[big_n]:.2f} s in memory"),
    ]
    return out


def persisted_case(driver: Driver, n: int, *, between) -> tuple[float, list[float]]:
    """Start one case of ``n`` items and complete its tasks one by one; call ``between`` at each checkpoint.

    Returns the case's seconds (start + completions) and the milliseconds of its middle completions.
    """
    from engine.store.models import HumanTask, TaskStatus

    between()
    t0 = time.perf_counter()
    instance_id = driver.start(plan_of(n))
    spent = time.perf_counter() - t0
    with driver.services.session() as s:
        task_ids = list(s.scalars(select(HumanTask.id).where(
            HumanTask.instance_id == instance_id, HumanTask.element_id == STEP.element_id,
            HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.created_at, HumanTask.id)))
    if len(task_ids) != n:
        raise RuntimeError(f"bench_multi opened {len(task_ids)} tasks for {n} items")
    marks = {n * k // CHECKPOINTS for k in range(1, CHECKPOINTS)}
    middle = []
    for index, task_id in enumerate(task_ids):
        if index in marks:
            between()
        t0 = time.perf_counter()
        driver.complete(task_id, STEP)
        elapsed = time.perf_counter() - t0
        spent += elapsed
        if n // 4 <= index < n - n // 4:
            middle.append(elapsed * 1000)
    between()
    _check_completed(driver, instance_id)
    return spent, middle


def _check_completed(driver: Driver, instance_id: int) -> None:
    from engine.store.models import Instance

    with driver.services.session() as s:
        status = s.scalar(select(Instance.status).where(Instance.id == instance_id))
    if status != "completed":
        raise RuntimeError(f"bench_multi case {instance_id} ended {status}, not completed")


class InMemory:
    """The same case by SpiffWorkflow alone: Pingan's spec and script engine, nothing persisted."""

    def __init__(self, plan: Plan, script_engine, calendar):
        from engine.definitions.scripting import use_calendar

        from .ceiling import prepared

        self.script_engine, self.calendar = script_engine, calendar
        with use_calendar(calendar):
            self.spec, self.subs, cleaned = prepared(plan, script_engine)
        self.start_data, self.step_data = cleaned.start_data, cleaned.steps[0].data
        self.n = len(plan.start_data["items"])

    def play(self) -> tuple[float, list[float]]:
        """Run one case start to end; return its seconds and its middle completions' milliseconds."""
        from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
        from SpiffWorkflow.util.task import TaskState

        from engine.definitions.scripting import use_calendar

        n, middle = self.n, []
        with use_calendar(self.calendar):
            t0 = time.perf_counter()
            wf = BpmnWorkflow(self.spec, self.subs, script_engine=self.script_engine)
            wf.task_tree.data.update(copy.deepcopy(self.start_data))
            for task in wf.get_tasks(state=TaskState.READY):
                task.data.update(copy.deepcopy(self.start_data))
            wf.do_engine_steps()
            # Pingan finds a task by its id too (its human_tasks row carries it).
            task_ids = [t.id for t in wf.get_tasks(state=TaskState.READY, manual=True)]
            for index, task_id in enumerate(task_ids):
                t1 = time.perf_counter()
                task = wf.get_task_from_id(task_id)
                task.data.update(copy.deepcopy(self.step_data))
                task.run()
                wf.do_engine_steps()
                if n // 4 <= index < n - n // 4:
                    middle.append((time.perf_counter() - t1) * 1000)
            seconds = time.perf_counter() - t0
        if len(task_ids) != n or not wf.completed:
            raise RuntimeError(f"bench_multi did not finish in memory ({len(task_ids)} tasks for {n} items)")
        return seconds, middle
