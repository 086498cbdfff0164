"""Part 1, the engine ceiling: the same cases run by SpiffWorkflow in memory, nothing persisted.

This module imports SpiffWorkflow directly on purpose: the ceiling is the library's own speed,
without Pingan's adapter. It runs the specs Pingan parsed and Pingan's sandboxed script engine,
because that is what evaluates the processes' expressions in production; a second figure adds
Pingan's state round trip (dump + restore, no database) to show what serialization costs.
"""
from __future__ import annotations

import copy
import time

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from .common import ONE_TASK, Plan, Result, at_least, result

MIN_SECONDS = 1.5
ROUND_TRIP_GOAL = at_least(0.90)  # issue 14: Pingan's dump + restore alone, ÷ the ceiling


def prepared(plan: Plan, script_engine) -> tuple:
    """Parse the plan's process as a deployment does and clean its data as the forms would.

    Returns (spec, subprocess specs, plan with cleaned data). The forms run once here, outside
    the timed loop, so the in-memory case sees the same data a persisted one does: the process
    config's ``variables`` plus the start form's output, and each task form's output.
    """
    from dataclasses import replace

    from engine.definitions.deployment import collect_sources, validate
    from engine.definitions.forms import form_from_dict, validate_form_data
    from engine.definitions.lint import form_key_for

    valid = next((v for v in validate(collect_sources([plan.repo])) if v.parsed.key == plan.process), None)
    if valid is None:
        raise LookupError(f"process {plan.process} not found under {plan.repo}")
    evaluate = lambda expr, ctx: script_engine.environment.evaluate(expr, dict(ctx))  # noqa: E731

    def clean(form_key: str, data: dict, context: dict) -> dict:
        raw = valid.forms.get(form_key)
        return validate_form_data(form_from_dict(raw), data, context=context, evaluate=evaluate) if raw else data

    start = dict(valid.config.get("variables") or {})
    start.update(clean(f"{plan.process}/start", dict(plan.start_data), {}))
    context, steps = dict(start), []
    for step in plan.steps:
        info = valid.parsed.user_tasks.get(step.element_id)
        key = form_key_for(plan.process, step.element_id, info.form_key if info else None)
        data = clean(key, dict(step.data), context)
        context.update(data)
        steps.append(replace(step, data=data))
    cleaned = replace(plan, start_data=start, steps=tuple(steps))
    return valid.parsed.spec, valid.parsed.subprocess_specs, cleaned


def play_in_memory(spec, subs, script_engine, plan: Plan) -> None:
    """Run one case start to end with SpiffWorkflow alone."""
    wf = BpmnWorkflow(spec, subs, script_engine=script_engine)
    wf.task_tree.data.update(copy.deepcopy(plan.start_data))
    for task in wf.get_tasks(state=TaskState.READY):
        task.data.update(copy.deepcopy(plan.start_data))
    wf.do_engine_steps()
    for step in plan.steps:
        task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True)
                    if t.task_spec.bpmn_id == step.element_id)
        task.data.update(copy.deepcopy(step.data))
        task.run()
        wf.do_engine_steps()
    if not wf.completed:
        raise RuntimeError(f"{plan.process} did not finish in memory")


def play_with_round_trips(spec, subs, script_engine, plan: Plan) -> None:
    """Run one case through Pingan's Runner, dumping and restoring the state around every operation."""
    from engine.spiff.workflow import Runner

    runner = Runner.start(spec, subs, script_engine, plan.start_data)
    runner.run_engine_steps()
    state = runner.dump()
    for step in plan.steps:
        runner = Runner.restore(state, spec, subs, script_engine)
        task = next(t for t in runner.ready_user_tasks() if t.element_id == step.element_id)
        runner.complete_user_task(task.id, step.data)
        state = runner.dump()
        runner.data()
    if not runner.completed:
        raise RuntimeError(f"{plan.process} did not finish through the Runner")


def rate(play, *args, minimum: float = MIN_SECONDS) -> float:
    """Return cases per second of ``play`` over at least ``minimum`` seconds (after a warm-up)."""
    for _ in range(20):
        play(*args)
    done, t0 = 0, time.perf_counter()
    while True:
        for _ in range(50):
            play(*args)
        done += 50
        elapsed = time.perf_counter() - t0
        if elapsed >= minimum:
            return done / elapsed


def run(*, plans: list[Plan], calendar, quick: bool) -> tuple[list[Result], dict[str, float]]:
    """Measure the in-memory ceiling of every plan; return results and {plan label: cases/s}."""
    from engine.definitions.scripting import build_script_engine, use_calendar

    engine = build_script_engine(calendar=lambda: calendar)
    results, ceilings = [], {}
    minimum = 0.75 if quick else MIN_SECONDS
    with use_calendar(calendar):
        for plan in plans:
            spec, subs, plan = prepared(plan, engine)
            per_s = rate(play_in_memory, spec, subs, engine, plan, minimum=minimum)
            ceilings[plan.label] = per_s
            results.append(result(f"ceiling.{plan.label}.instances_per_s", per_s, "inst/s", "memory", ratio=1.0,
                                  note=f"{plan.process}: start + {plan.tasks} task(s), SpiffWorkflow only"))
            results.append(result(f"ceiling.{plan.label}.completions_per_s", per_s * plan.tasks, "tasks/s",
                                  "memory", ratio=1.0))
            trips = rate(play_with_round_trips, spec, subs, engine, plan, minimum=minimum)
            results.append(result(f"memory_round_trip.{plan.label}.instances_per_s", trips, "inst/s", "memory",
                                  ratio=trips / per_s,
                                  note="ceiling + Pingan Runner dump/restore per operation, no database"))
            goal = ROUND_TRIP_GOAL if plan.label == ONE_TASK.label else None
            results.append(result(f"memory_round_trip.{plan.label}.ratio_to_ceiling", trips / per_s, "×ceiling",
                                  "memory", ratio=trips / per_s, goal=goal))
    return results, ceilings
