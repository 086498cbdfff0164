"""Part 5, long cases: per-step cost early and late in a return/resubmit loop, and state sizes."""
from __future__ import annotations

import time

from .common import (
    DURABILITY, FIXTURES, ONE_TASK, ROOT, TEST_REPO, Driver, Plan, Result, Step, at_most, instance_state_size,
    open_bench_services, result,
)

LOOP_GOAL = at_most(2.0)
EARLY_ROUND = 10
LATE_ROUND = 2000
WINDOW = 10  # rounds averaged around each measuring point, compactions included


def loop_round(round_no: int, *, approve: bool = False) -> tuple[Step, Step]:
    return (Step("submit", "li.sl", {"round": round_no}),
            Step("review", "lin.ld", {"approved": approve}))


def run(*, kind: str, quick: bool) -> list[Result]:
    """Compare one completion early and late in a bench_loop case, and the state size then.

    The old case is played to round ``late - WINDOW // 2``; then a fresh case is played to round
    ``EARLY_ROUND - WINDOW // 2``, and the next WINDOW rounds of both are timed in turn, so a busy
    machine slows both sides alike. Compactions inside the window are counted.
    """
    late = 400 if quick else LATE_ROUND
    half = WINDOW // 2
    svc = open_bench_services(kind)
    try:
        driver = Driver(svc)
        old = _play_rounds(driver, driver.start(LOOP), 1, late - half)
        young = _play_rounds(driver, driver.start(LOOP), 1, EARLY_ROUND - half)
        early_ms, late_ms = [], []
        for offset in range(1, WINDOW + 1):
            early_ms.append(_timed_round(driver, young, EARLY_ROUND - half + offset))
            late_ms.append(_timed_round(driver, old, late - half + offset))
            if offset == half:
                sizes = {EARLY_ROUND: instance_state_size(svc, young), late: instance_state_size(svc, old)}
        early, late_cost = sum(early_ms) / WINDOW, sum(late_ms) / WINDOW
        window = f"rounds {{}}-{{}}, timed alternately with the other case; {DURABILITY[kind]}"
        out = [
            result(f"{kind}.loop.step_ms_round_{EARLY_ROUND}", early, "ms", kind,
                   note="mean of one completion over " + window.format(EARLY_ROUND - half + 1, EARLY_ROUND + half)),
            result(f"{kind}.loop.step_ms_round_{late}", late_cost, "ms", kind,
                   note="mean of one completion over " + window.format(late - half + 1, late + half)),
            result(f"{kind}.loop.step_cost_ratio_{late}_vs_{EARLY_ROUND}", late_cost / early, "×", kind,
                   goal=LOOP_GOAL),
            result(f"{kind}.loop.state_bytes_round_{EARLY_ROUND}", sizes[EARLY_ROUND], "bytes", kind),
            result(f"{kind}.loop.state_bytes_round_{late}", sizes[late], "bytes", kind),
        ]
        if kind == "sqlite":
            out += state_sizes(driver)
        return out
    finally:
        svc.dispose()


LOOP = Plan(label="loop", process="bench_loop", starter="li.sl", start_data=dict(ONE_TASK.start_data), steps=())


def _play_rounds(driver: Driver, instance_id: int, first: int, last: int) -> int:
    for round_no in range(first, last + 1):
        for step in loop_round(round_no):
            driver.complete(driver.open_task(instance_id, step.element_id), step)
    return instance_id


def _timed_round(driver: Driver, instance_id: int, round_no: int) -> float:
    """Play one round; return the mean milliseconds of its two completions (lookups not counted)."""
    spent = 0.0
    for step in loop_round(round_no):
        task_id = driver.open_task(instance_id, step.element_id)
        t0 = time.perf_counter()
        driver.complete(task_id, step)
        spent += time.perf_counter() - t0
    return spent * 1000 / 2


FIXTURE_PLANS = (
    ONE_TASK,
    Plan("review", "review", "li.sl", {}, (Step("register", "li.sl", {"subject": "修缮围墙", "amount": 20000}),
                                           Step("approve", "lin.ld", {"approved": True})), TEST_REPO),
    Plan("fragile", "fragile", "li.sl", {}, (Step("enter", "li.sl", {"divisor": 4}),
                                             Step("check", "li.sl", {"confirmed": True})), TEST_REPO),
    Plan("await_msg", "await_msg", "chen.tj", {}, (Step("record", "chen.tj", {"case_no": "(2026)调字第1号"}),),
         TEST_REPO),
    Plan("bench_loop", "bench_loop", "li.sl", dict(ONE_TASK.start_data), loop_round(1, approve=True), FIXTURES),
)


def state_sizes(driver: Driver) -> list[Result]:
    """Stored state per instance: every scenario of each shipped process, else the fixture plans."""
    shipped = sorted(p.stem for p in (ROOT / "processes").glob("*.bpmn"))
    if shipped:
        return _scenario_sizes(driver.services, shipped)
    out = []
    for plan in FIXTURE_PLANS:
        instance_id = driver.start(plan)
        sizes = [instance_state_size(driver.services, instance_id)]
        for step in plan.steps:
            driver.complete(driver.open_task(instance_id, step.element_id, step.org), step)
            sizes.append(instance_state_size(driver.services, instance_id))
        out.append(result(f"state_bytes.{plan.label}.max", max(sizes), "bytes", "sqlite",
                          note=f"fixture {plan.process}: after start {sizes[0]} B, at the end {sizes[-1]} B"))
    return out


def _scenario_sizes(services, processes: list[str]) -> list[Result]:
    """Play every scenario of each process with the scenario player; measure the state after each step."""
    import json
    import sys

    from engine import clock
    from engine.clock import FrozenClock
    from engine.store import case_state
    from engine.store.models import Instance

    sys.path.insert(0, str(ROOT))
    from tests.conftest import T0
    from tests.scenario_player import Player, all_scenarios

    class MeasuringPlayer(Player):
        def checkpoint(self) -> None:
            super().checkpoint()
            if self.instance_id is not None:
                kept = self.session.get(Instance, self.instance_id).state
                state, _rows = case_state.read(self.session.connection(), self.instance_id, kept)
                self.sizes.append(len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()))

    out = []
    for key in processes:
        scenarios = [s for s in all_scenarios() if s.process == key]
        largest, end_sizes, failed = 0, [], []
        for scenario in scenarios:
            fake = FrozenClock(T0)
            previous = clock.install(fake)
            player = MeasuringPlayer(services, fake, restore=False)
            player.sizes = []
            try:
                player.play(scenario)
            except Exception as exc:  # a scenario another engineer is still changing: report it
                failed.append(f"{scenario.name}: {type(exc).__name__}")
            finally:
                player.close()
                clock.install(previous)
            if player.sizes:
                largest = max(largest, max(player.sizes))
                end_sizes.append(player.sizes[-1])
        note = f"{len(scenarios)} scenarios; at their end {min(end_sizes, default=0)}-{max(end_sizes, default=0)} B"
        if failed:
            note += f"; not played to the end: {', '.join(failed)}"
        out.append(result(f"state_bytes.{key}.max", largest, "bytes", "sqlite", note=note))
    return out
