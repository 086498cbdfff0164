"""What every benchmark shares: result records, goals, bench databases, scenario plans, timing."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CACHE = BENCH / ".cache"
RESULTS = BENCH / "results"
FIXTURES = BENCH / "fixtures"          # bench_one, bench_loop: processes only the bench deploys
TEST_REPO = ROOT / "tests" / "fixtures" / "repo"  # review, fragile, await_msg
PG_URL = os.environ.get("PINGAN_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Recreated by every run; another name keeps two engineers' runs apart on one server.
PG_SCHEMA = os.environ.get("PINGAN_BENCH_PG_SCHEMA", "pingan_bench")
SQLITE_PATH = CACHE / "bench.db"       # recreated by every run
DATABASES = ("sqlite", "postgresql")
# The web app refuses the public defaults outside development mode.
BENCH_SECRET_KEY = "bench-only-secret"
BENCH_AUDIT_KEY = "bench-only-audit-key"

DURABILITY = {
    "sqlite": "SQLite WAL, synchronous=NORMAL, BEGIN IMMEDIATE (as shipped in engine/store/db.py)",
    "postgresql": "PostgreSQL defaults: fsync=on, synchronous_commit=on, one COMMIT per operation",
}


# -- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Goal:
    """A target a figure must reach: ``value op threshold``, e.g. ``>= 0.40``."""

    op: str
    threshold: float

    def met(self, value: float) -> bool:
        return value >= self.threshold if self.op == ">=" else value <= self.threshold

    def __str__(self) -> str:
        return f"{'≥' if self.op == '>=' else '≤'} {self.threshold:g}"


def at_least(x: float) -> Goal:
    return Goal(">=", x)


def at_most(x: float) -> Goal:
    return Goal("<=", x)


@dataclass
class Result:
    """One measured figure: ``goal`` and ``met`` stay None where the issue sets no goal."""

    name: str
    value: float
    unit: str
    database: str
    goal: str | None = None
    met: bool | None = None
    ratio: float | None = None  # value divided by the engine ceiling, where that means something
    note: str = ""

    def as_dict(self) -> dict:
        out = asdict(self)
        if isinstance(self.value, float) and math.isnan(self.value):
            out["value"] = None  # JSON has no NaN
        return out


def result(name: str, value: float, unit: str, database: str, *, goal: Goal | None = None,
           ratio: float | None = None, note: str = "") -> Result:
    """Build a Result and judge it against its goal."""
    return Result(name=name, value=round(value, 4), unit=unit, database=database,
                  goal=str(goal) if goal else None, met=goal.met(value) if goal else None,
                  ratio=round(ratio, 4) if ratio is not None else None, note=note)


def percentile(samples: list[float], p: float) -> float:
    """Return the nearest-rank percentile ``p`` (0-100) of ``samples``."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class Stopwatch:
    """Collect the durations of repeated operations, in milliseconds."""

    def __init__(self):
        self.samples: list[float] = []

    def __enter__(self):
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.samples.append((time.perf_counter() - self._t) * 1000)
        return False


# -- scenario plans ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    element_id: str
    username: str
    data: dict
    org: str | None = None  # which instance of a multi-instance task, by candidate org code


@dataclass(frozen=True)
class Plan:
    """A case played straight through: who starts it with what, then each user task in order."""

    label: str
    process: str
    starter: str
    start_data: dict
    steps: tuple[Step, ...]
    repo: Path = FIXTURES
    start_org: str | None = None

    @property
    def tasks(self) -> int:
        return len(self.steps)


PARTIES = {"parties": [{"name": "张建国", "role": "申请人"}, {"name": "李秀英", "role": "被申请人"}]}

ONE_TASK = Plan(
    label="one_task", process="bench_one", starter="li.sl",
    start_data={"subject": "邻里噪音纠纷", **PARTIES},
    steps=(Step("decide", "li.sl", {"accepted": True, "note": "符合受理条件"}),),
)

# Until the mediation process lands: the fixture `review` with its amount over the threshold,
# so a script, two gateways and two user tasks in two lanes run.
REVIEW = Plan(
    label="multi_step", process="review", starter="li.sl", start_data={},
    steps=(Step("register", "li.sl", {"subject": "修缮围墙", "amount": 20000}),
           Step("approve", "lin.ld", {"approved": True})),
    repo=TEST_REPO,
)


def multi_step_plan() -> Plan:
    """Return the mediation plan once processes/mediation.bpmn and a scenario exist, else review."""
    return scenario_plan("mediation") or REVIEW


def scenario_plan(process: str) -> Plan | None:
    """Read a straight-through scenario of a shipped process: user tasks only, ending completed.

    Steps the engine must refuse are left out (a refusal changes nothing); scenarios that move
    the clock, send messages or return tasks are passed over, since a throughput loop plays
    user tasks only.
    """
    if not (ROOT / "processes" / f"{process}.bpmn").exists():
        return None
    import yaml

    folder = ROOT / "tests" / "scenarios" / process
    candidates = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        scenario = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        raw = [s for s in scenario.get("steps") or [] if "refused" not in s and set(s) != {"expect"}]
        if not raw or any("task" not in s for s in raw):
            continue
        start = scenario.get("start") or {}
        steps = tuple(Step(s["task"], s["as"], dict(s.get("data") or {}), s.get("org")) for s in raw)
        completes = (scenario.get("expect") or {}).get("status") == "completed"
        candidates.append((not completes, -len(steps), path.stem, Plan(
            label="multi_step", process=process, starter=start["as"], start_data=dict(start.get("data") or {}),
            steps=steps, repo=ROOT, start_org=start.get("org"))))
    return min(candidates, key=lambda c: c[:3])[3] if candidates else None


# -- bench databases ---------------------------------------------------------------------------

def database_url(kind: str) -> tuple[str, str | None]:
    """Return (url, schema) of the bench database of ``kind``."""
    if kind == "sqlite":
        return f"sqlite:///{SQLITE_PATH}", None
    return PG_URL, PG_SCHEMA


def admin_engine():
    """An engine on the PostgreSQL database itself, for creating and dropping bench schemas."""
    return create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")


def cached_schema_complete(schema: str, meta_table: str, condition: str, params: dict) -> bool:
    """Tell whether a bench schema cached by an earlier run was loaded completely by this loader.

    ``condition`` is a SQL expression over ``meta_table``'s one row (for example ``version = :v``).
    """
    admin = admin_engine()
    try:
        with admin.connect() as conn:
            return bool(conn.execute(text(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = :s AND table_name = :t"),
                {"s": schema, "t": meta_table}).scalar() and conn.execute(text(
                    f'SELECT {condition} FROM "{schema}".{meta_table}'), params).scalar())
    finally:
        admin.dispose()


def reset_database(kind: str) -> None:
    """Drop and recreate the bench database (file or schema), migrate it, load the demo county, deploy."""
    from engine.context import open_services

    CACHE.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
    else:
        admin = admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
        admin.dispose()
    svc = open_services(settings_for(kind))
    try:
        prepare_schema(svc)
    finally:
        svc.dispose()


def prepare_schema(svc) -> None:
    """Migrate, add tables a change has not migrated yet (as the tests do), load demo data, deploy."""
    from engine.definitions.deployment import deploy
    from engine.org.demo import load_demo_org
    from engine.store.db import Base
    from engine.store.schema import upgrade

    upgrade(svc.engine)
    Base.metadata.create_all(svc.engine)
    with svc.session() as s:
        load_demo_org(s)
        deploy(s, paths=[FIXTURES, TEST_REPO])
    if any((ROOT / "processes").glob("*.bpmn")):
        try:
            with svc.session() as s:
                deploy(s, paths=[ROOT])
        except Exception as exc:  # the process library is someone else's work in progress
            print(f"   warning: processes/ does not deploy ({type(exc).__name__}: {exc}); "
                  "benchmarks use the fixtures", flush=True)


def settings_for(kind: str):
    from engine.settings import load_settings

    url, schema = database_url(kind)
    return load_settings(env={}, database_url=url, database_schema=schema, instance_path=CACHE,
                         timer_mode="off")


def open_bench_services(kind: str):
    """Open services on the (already reset) bench database of ``kind``."""
    from engine.context import open_services

    return open_services(settings_for(kind))


# -- driving cases through the engine API -------------------------------------------------------

@dataclass
class Driver:
    """Plays plans through engine.runtime.lifecycle with one commit per operation, like a request does."""

    services: object
    actors: dict = field(default_factory=dict)

    def actor(self, username: str):
        if username not in self.actors:
            from engine.org.orgs import actor_for

            with self.services.session() as s:
                self.actors[username] = actor_for(s, username=username)
        return self.actors[username]

    def start(self, plan: Plan) -> int:
        from engine.runtime.lifecycle import start_instance

        with self.services.session() as s:
            inst = start_instance(s, process_key=plan.process, data=plan.start_data, actor=self.actor(plan.starter),
                                  org_code=plan.start_org)
            return inst.id

    def open_task(self, instance_id: int, element_id: str, org: str | None = None) -> str:
        """Return the id of the open task ``element_id`` of a case (in ``org``, if given)."""
        from engine.store.models import HumanTask, Org, TaskStatus

        query = select(HumanTask.id).where(
            HumanTask.instance_id == instance_id, HumanTask.element_id == element_id,
            HumanTask.status == TaskStatus.OPEN).order_by(HumanTask.created_at).limit(1)
        if org:
            query = query.join(Org, Org.id == HumanTask.candidate_org_id).where(Org.code == org)
        with self.services.session() as s:
            task_id = s.scalar(query)
        if task_id is None:
            raise RuntimeError(f"instance {instance_id} has no open task {element_id}")
        return task_id

    def complete(self, task_id: str, step: Step) -> None:
        from engine.runtime.lifecycle import complete_task

        with self.services.session() as s:
            complete_task(s, task_id=task_id, data=step.data, actor=self.actor(step.username))

    def play(self, plan: Plan) -> int:
        """Start a case and complete all its tasks; return the instance id."""
        instance_id = self.start(plan)
        for step in plan.steps:
            self.complete(self.open_task(instance_id, step.element_id, step.org), step)
        return instance_id


def instance_state_size(services, instance_id: int) -> int:
    """Return the stored workflow state of an instance as compact JSON bytes."""
    from engine.store import case_state
    from engine.store.models import Instance

    with services.session() as s:
        kept = s.scalar(select(Instance.state).where(Instance.id == instance_id))
        state, _rows = case_state.read(s.connection(), instance_id, kept)
    return len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode())


def machine() -> dict:
    """Describe the machine a run was made on."""
    import platform

    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gb"] = round(int(mem) / 1024 / 1024, 1)
    except OSError:
        pass
    return info
