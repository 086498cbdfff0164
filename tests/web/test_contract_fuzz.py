"""Fuzz: data drawn from each published form schema drives every shipped process, and is always accepted.

The schema the API publishes (``start_form_schema``, ``form_schema``) is the whole contract
(issue 10, item 2): hypothesis draws data valid against it, as a schema-driven client would send,
with schemathesis's JSON Schema generator (hypothesis-jsonschema does not run on the Hypothesis
release schemathesis needs; each form schema is the request body of a one-operation OpenAPI 3.1
document, which uses JSON Schema 2020-12 as published), and every such start and completion must
be accepted (the schema states every rule
the engine applies). Each drawn case is driven through the API, one open task after another, as a
user who may act on it, until it ends or waits for a timer or a message: no server error, no
case in ``error``, no schema-valid submission refused, no running case with neither a task nor a wait.
"""
from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed
from hypothesis import strategies as st
import schemathesis
from sqlalchemy import select

from engine.store.models import EventWait, HumanTask, Org, RoleAssignment, TaskStatus, User
from tests.web.test_submission_contract import library  # noqa: F401 (fixture)

STARTERS = {"assessment": "feng.kh", "grid_event": "wang.wg", "inspection": "zheng.dc", "mediation": "wang.wg",
            "report_review": "li.sl", "supervision": "zheng.dc"}
EXAMPLES = 6
SAMPLES = 5
MAX_STEPS = 20
_STRATEGIES: dict[str, st.SearchStrategy] = {}


def _smaller(schema):
    """The same schema with short lists and texts: its valid data is valid for the published one too,
    and a drawn case fits Hypothesis's buffer (a 100-row table of long texts would not)."""
    if isinstance(schema, list):
        return [_smaller(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _smaller(v) for k, v in schema.items()}
    if out.get("type") == "array":
        out["maxItems"] = max(min(out.get("maxItems", 3), 3), out.get("minItems", 0))
    if out.get("type") == "string" and "enum" not in out:
        out["maxLength"] = max(min(out.get("maxLength", 24), 24), out.get("minLength", 0))
    return out


def _elsewhere(schema: dict, chosen: dict[str, list]) -> dict:
    """On a step seen before, leave out the choices taken there before (while one is left), so that
    a case sent back and forth takes the other way in the end. Still a narrowing of the schema."""
    if not chosen:
        return schema
    properties = dict(schema.get("properties", {}))
    for name, values in chosen.items():
        options = properties.get(name, {}).get("enum")
        if options and len(options) > 1:
            left = [o for o in options if o not in values]
            properties[name] = properties[name] | {"enum": left or [options[-1]]}
    return schema | {"properties": properties}


def _strategy(schema: dict) -> st.SearchStrategy:
    schema = _smaller(schema)
    key = json.dumps(schema, sort_keys=True, ensure_ascii=False)
    if key not in _STRATEGIES:
        document = {"openapi": "3.1.0", "info": {"title": schema.get("title", "form"), "version": "1"},
                    "paths": {"/submit": {"post": {
                        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
                        "responses": {"200": {"description": "accepted"}}}}}}
        operation = next(result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations())
        _STRATEGIES[key] = operation.as_strategy().map(lambda case: case.body)
    return _STRATEGIES[key]


def _who_may_act(session, task: HumanTask) -> str:
    """A user who may work on ``task``: its assignee, or a holder of its role at or above its org."""
    if task.assignee_id is not None:
        return session.get(User, task.assignee_id).username
    path = task.candidate_org.path if task.candidate_org else "/"
    holders = session.execute(select(User.username, Org.path).join(RoleAssignment, RoleAssignment.user_id == User.id)
                              .join(Org, Org.id == RoleAssignment.org_id)
                              .where(RoleAssignment.role == task.candidate_role, User.active.is_(True))
                              .order_by(User.id)).all()
    # The nearest holder: the one whose org is the deepest ancestor of the task's org.
    fitting = sorted((p for p in holders if path.startswith(p[1])), key=lambda h: -len(h[1]))
    assert fitting, f"nobody holds {task.candidate_role} over {path} for {task.element_id}"
    return fitting[0][0]


def _sample(strategy: st.SearchStrategy, seed: int):
    """One value of ``strategy``, the same for the same seed.

    Each submission is drawn on its own: drawn all in one test case, a long case (a report sent
    back again and again) outgrows what Hypothesis lets one test case draw."""
    values = []

    @hyp_seed(seed)
    @given(strategy)
    @settings(max_examples=SAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    def grab(value):
        values.append(value)

    grab()
    return values[-1]  # the first ones are Hypothesis's simplest values; later ones are more varied


@pytest.mark.slow
@pytest.mark.parametrize("process", sorted(STARTERS))
def test_schema_valid_data_is_accepted_and_never_leaves_a_case_in_error(process, client, api_headers, session,
                                                                      library):  # noqa: F811
    outcomes: Counter = Counter()
    starter = api_headers(STARTERS[process])

    def post(url: str, body: dict, headers: dict, what: str) -> dict:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code < 500, f"{what}: server error {response.status_code}"
        assert response.status_code in (200, 201), \
            f"{what}: schema-valid data refused ({response.status_code}): {response.get_json()}\nsent: {body}"
        return response.get_json()

    def drive(seed: int) -> str:
        schema = client.get(f"/api/v1/processes/{process}", headers=starter).get_json()["start_form_schema"]
        data = _sample(_strategy(schema), seed)
        case = post("/api/v1/instances", {"process": process, "data": data}, starter, f"start {process}")
        chosen: dict[str, dict[str, list]] = {}
        for step in range(MAX_STEPS):
            session.expire_all()
            detail = client.get(f"/api/v1/instances/{case['id']}", headers=api_headers("admin")).get_json()
            assert detail["status"] != "error", f"{process} case in error after {step} steps: {detail['error']}"
            if detail["status"] != "running":
                return detail["status"]
            if not detail["open_tasks"]:
                waits = session.scalars(select(EventWait.kind).where(EventWait.instance_id == case["id"])).all()
                assert waits, f"{process} case {case['id']} is running with no task and nothing to wait for"
                return "waiting"
            task = session.get(HumanTask, detail["open_tasks"][0]["id"])
            assert task.status == TaskStatus.OPEN
            headers = api_headers(_who_may_act(session, task))
            form = client.get(f"/api/v1/tasks/{task.id}", headers=headers).get_json()["form_schema"]
            answer = _sample(_strategy(_elsewhere(form, chosen.setdefault(task.element_id, {}))), seed * 100 + step)
            for name, value in answer.items():
                chosen[task.element_id].setdefault(name, []).append(value)
            post(f"/api/v1/tasks/{task.id}/complete", {"data": answer}, headers, f"{process}/{task.element_id}")
        return "still running"

    for seed in range(EXAMPLES):
        outcomes[drive(seed)] += 1
    # Each drawn case ended, waits for a timer or message, or was still being worked on after
    # MAX_STEPS accepted submissions (random figures seldom pass a report's checks, for one).
    assert sum(outcomes.values()) == EXAMPLES, outcomes
    print(process, dict(outcomes))
