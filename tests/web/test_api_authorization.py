"""The authorization matrix: each role × each operation × own org / other org / no relation.

The case is a `review` case of 城关镇 (chengguan), started by its dispatcher li.sl, its first
task waiting in the 城关镇 dispatcher pool. Who may see it: anyone holding a role over 城关镇
(the township's own staff, and county-level staff). Everyone else gets 404, never 403: the API
does not confirm that a case exists outside one's scope. Among those who may see it, an
operation the engine refuses is 403.
"""
from __future__ import annotations

import io

import pytest

from engine.org.orgs import actor_for
from engine.runtime import lifecycle
from tests.factories import only_task

# username -> (role, relation to the 城关镇 case)
PEOPLE = {
    "li.sl": ("dispatcher", "own org, initiator"),
    "zhang.dd": ("dispatcher", "county above"),
    "qian.sl": ("dispatcher", "other township"),
    "lin.ld": ("leader", "own org"),
    "he.ld": ("leader", "county above"),
    "xu.ld": ("leader", "other township"),
    "chen.tj": ("mediator", "own org"),
    "liu.tj": ("mediator", "other township"),
    "wang.wg": ("grid_worker", "grid below: no relation"),
    "zhao.wg": ("grid_worker", "other township"),
    "zhou.ga": ("handler", "member unit: no relation"),
    "zheng.dc": ("inspector", "county above"),
    "feng.kh": ("assessor", "county above"),
    "designer": ("designer", "county above"),
    "admin": ("admin", "county above"),
}
SEES = {"li.sl", "zhang.dd", "lin.ld", "he.ld", "chen.tj", "zheng.dc", "feng.kh", "designer", "admin"}
DISPATCH_POOL = {"li.sl", "zhang.dd"}
LEADER_POOL = {"lin.ld", "he.ld"}
URGERS = {"li.sl", "zhang.dd", "lin.ld", "he.ld", "zheng.dc", "admin"}
CANCELLERS = {"li.sl", "admin"}
STARTERS = {"li.sl", "zhang.dd", "admin"}
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def expected(operation: str, user: str) -> int:
    """The status the matrix promises for ``user`` doing ``operation`` on the 城关镇 case."""
    if operation == "start":
        return 201 if user in STARTERS else 403
    if user not in SEES:
        return 404
    allowed = {
        "view_case": SEES, "view_task": SEES, "cc": SEES, "download": SEES, "list_attachments": SEES,
        "claim": DISPATCH_POOL, "complete": DISPATCH_POOL, "transfer": DISPATCH_POOL, "delegate": DISPATCH_POOL,
        "draft": DISPATCH_POOL, "urge": URGERS, "cancel": CANCELLERS, "return": LEADER_POOL, "withdraw": {"li.sl"},
        "upload": SEES,
    }[operation]
    success = 201 if operation == "upload" else 204 if operation == "draft" else 200
    return success if user in allowed else 403


@pytest.fixture
def scene(session, app, frozen):
    """Two 城关镇 cases: one waiting at registration, one waiting for the leader's approval."""
    li = actor_for(session, username="li.sl")
    waiting = lifecycle.start_instance(session, process_key="review", actor=li)
    register = only_task(session, waiting.id, "register")
    approval = lifecycle.start_instance(session, process_key="review", actor=li)
    first = only_task(session, approval.id, "register")
    lifecycle.complete_task(session, task_id=first.id, data={"subject": "大额", "amount": 50000}, actor=li)
    approve = only_task(session, approval.id, "approve")
    from engine.cases.attachments import save_attachment

    attachment = save_attachment(session, instance_id=waiting.id, actor=li, filename="a.jpg", stream=io.BytesIO(JPEG))
    session.commit()
    return {"case": waiting.id, "task": register.id, "approval_case": approval.id, "register_done": first.id,
            "approve": approve.id, "attachment": attachment.id}


def _call(client, headers, operation: str, user: str, s: dict):
    case, task = s["case"], s["task"]
    other = "li.sl" if user == "zhang.dd" else "zhang.dd"
    calls = {
        "view_case": lambda: client.get(f"/api/v1/instances/{case}", headers=headers),
        "view_task": lambda: client.get(f"/api/v1/tasks/{task}", headers=headers),
        "claim": lambda: client.post(f"/api/v1/tasks/{task}/claim", headers=headers),
        "complete": lambda: client.post(f"/api/v1/tasks/{task}/complete",
                                        json={"data": {"subject": "小事", "amount": 5}}, headers=headers),
        "transfer": lambda: client.post(f"/api/v1/tasks/{task}/transfer", json={"to": other}, headers=headers),
        "delegate": lambda: client.post(f"/api/v1/tasks/{task}/delegate", json={"to": "wang.wg" if user != "wang.wg" else "li.sl"},
                                        headers=headers),
        "draft": lambda: client.put(f"/api/v1/tasks/{task}/draft", json={"data": {"subject": "草稿"}}, headers=headers),
        "cc": lambda: client.post(f"/api/v1/tasks/{task}/cc", json={"users": ["xu.ld"]}, headers=headers),
        "urge": lambda: client.post(f"/api/v1/tasks/{task}/urge", json={}, headers=headers),
        "cancel": lambda: client.post(f"/api/v1/instances/{case}/cancel", json={}, headers=headers),
        "return": lambda: client.post(f"/api/v1/tasks/{s['approve']}/return",
                                      json={"to_task": "register", "opinion": "请补充材料"}, headers=headers),
        "withdraw": lambda: client.post(f"/api/v1/tasks/{s['register_done']}/withdraw", json={}, headers=headers),
        "upload": lambda: client.post(f"/api/v1/instances/{case}/attachments", headers=headers,
                                      data={"file": (io.BytesIO(JPEG), "b.jpg")}, content_type="multipart/form-data"),
        "download": lambda: client.get(f"/api/v1/attachments/{s['attachment']}", headers=headers),
        "list_attachments": lambda: client.get(f"/api/v1/instances/{case}/attachments", headers=headers),
        "start": lambda: client.post("/api/v1/instances", json={"process": "review", "org": "chengguan"}, headers=headers),
    }
    return calls[operation]()


OPERATIONS = ["view_case", "view_task", "claim", "complete", "transfer", "delegate", "draft", "cc", "urge", "cancel",
              "return", "withdraw", "upload", "download", "list_attachments", "start"]


@pytest.mark.parametrize("user", list(PEOPLE), ids=[f"{u}-{r}-{rel.split(',')[0].replace(' ', '_')}"
                                                    for u, (r, rel) in PEOPLE.items()])
def test_authorization_matrix(client, api_headers, session, scene, user):
    headers = api_headers(user)
    got = {}
    for operation in OPERATIONS:
        # Every operation is judged on the same scene: its effects are rolled back afterwards.
        savepoint = session.bind.begin_nested()
        try:
            response = _call(client, headers, operation, user, scene)
        finally:
            savepoint.rollback()
        got[operation] = response.status_code
        if response.status_code >= 400:
            assert response.is_json and {"error", "message", "details"} <= set(response.get_json()), response.data
    assert got == {op: expected(op, user) for op in OPERATIONS}


def test_matrix_operations_really_change_the_case(client, api_headers, session, scene):
    """The rollback between matrix rows hides nothing: a permitted operation does change the case."""
    response = _call(client, api_headers("li.sl"), "complete", "li.sl", scene)
    assert response.status_code == 200
    assert response.get_json()["instance"]["status"] == "completed"
