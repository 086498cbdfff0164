"""Sign-in lock-out through the login page and the token endpoint: nothing leaks, nobody locks out the admin."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from engine.store.models import LoginThrottle, SecurityEvent

from .conftest import PASSWORD

A, B = {"REMOTE_ADDR": "10.0.0.1"}, {"REMOTE_ADDR": "10.0.0.2"}


def _token(client, username, password="wrong-password", source=A):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password}, environ_base=source)


def _page_login(client, csrf_token, username, password="wrong-password", source=A):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)},
                       environ_base=source)


def _page_answer(response, username: str) -> tuple[int, str]:
    html = response.get_data(as_text=True)
    # The form keeps what was typed, and carries a fresh CSRF token: neither says anything.
    html = html.replace(f'value="{username}"', 'value="NAME"')
    return response.status_code, re.sub(r"[\w-]{20,}\.[\w-]{4,8}\.[\w-]{20,}", "CSRF-TOKEN", html)


def test_api_answers_a_real_and_an_unknown_name_identically_up_to_and_including_the_lock(client, frozen):
    answers = [(_token(client, "admin"), _token(client, "no.such.person")) for _ in range(5)]
    for known, unknown in answers:
        assert (known.status_code, known.get_json()) == (unknown.status_code, unknown.get_json())
    assert [k.status_code for k, _ in answers] == [401, 401, 401, 401, 403]
    assert answers[0][0].get_json() == {"error": "authentication_failed", "message": "用户名或密码错误",
                                        "message_en": "wrong username or password", "details": []}
    assert answers[4][0].get_json()["error"] == "account_locked"


def test_login_page_answers_a_real_and_an_unknown_name_identically(client, csrf_token, frozen):
    for attempt in range(5):
        known = _page_answer(_page_login(client, csrf_token, "zhao.wg"), "zhao.wg")
        unknown = _page_answer(_page_login(client, csrf_token, "zhao.wq"), "zhao.wq")
        assert known == unknown
        assert known[0] == (401 if attempt < 4 else 403)
        assert "再错" not in known[1]


def test_an_attacker_failing_for_admin_at_one_address_does_not_lock_admin_at_another(client, csrf_token):
    for _ in range(8):
        _token(client, "admin", source=A)
    assert _token(client, "admin", PASSWORD, source=A).status_code == 403
    assert _token(client, "admin", PASSWORD, source=B).status_code == 201
    page = _page_login(client, csrf_token, "admin", PASSWORD, source=B)
    assert page.status_code == 302 and page.headers["Location"] == "/todo"


def test_the_lock_grows_with_each_further_failure(client, session, frozen):
    for _ in range(5):
        _token(client, "li.sl")
    first = _token(client, "li.sl").get_json()  # refused while locked: not counted
    frozen.advance(timedelta(minutes=1, seconds=1))
    second = _token(client, "li.sl").get_json()
    assert "09:01" in first["message"] and "09:03" in second["message"]  # 1 minute, then 2 more


def test_an_admin_unlocks_from_the_page_and_it_is_recorded(client, login, csrf_token, session):
    for source in (A, B):
        for _ in range(5):
            _token(client, "li.sl", source=source)
    admin = login(client.application.test_client(), "admin")
    page = admin.get("/admin/users/li.sl").get_data(as_text=True)
    assert "10.0.0.1" in page and "10.0.0.2" in page and "解除锁定" in page
    assert "已锁定" in admin.get("/admin/users").get_data(as_text=True)
    r = admin.post("/admin/users/li.sl/unlock", data={"csrf_token": csrf_token(admin)})
    assert r.status_code == 302 and r.headers["Location"] == "/admin/users/li.sl"
    assert session.scalars(select(LoginThrottle).where(LoginThrottle.username == "li.sl")).all() == []
    event = session.scalar(select(SecurityEvent).where(SecurityEvent.kind == "login_unlocked"))
    assert (event.username, event.actor) == ("li.sl", "admin")
    assert _token(client, "li.sl", PASSWORD, source=A).status_code == 201
    log = admin.get("/admin/locks").get_data(as_text=True)
    assert "解锁" in log and "登录失败" in log


def test_an_admin_lists_and_clears_locks_through_the_api(client, api_headers, session):
    for _ in range(5):
        _token(client, "wang.wg", source=A)
        _token(client, "ghost.user", source=A)
    headers = api_headers("admin")
    locks = client.get("/api/v1/admin/login-locks", headers=headers).get_json()
    assert sorted((x["username"], x["source"], x["failures"]) for x in locks) == [
        ("ghost.user", "10.0.0.1", 5), ("wang.wg", "10.0.0.1", 5)]
    assert client.get("/api/v1/admin/users/wang.wg", headers=headers).get_json()["locked_until"] is not None
    ghost = next(x for x in locks if x["username"] == "ghost.user")
    cleared = client.delete(f"/api/v1/admin/login-locks/{ghost['id']}", headers=headers)
    assert cleared.status_code == 200 and cleared.get_json()["username"] == "ghost.user"
    assert client.delete(f"/api/v1/admin/login-locks/{ghost['id']}", headers=headers).status_code == 404
    unlocked = client.post("/api/v1/admin/users/wang.wg/unlock", headers=headers)
    assert unlocked.status_code == 200 and unlocked.get_json()["locked_until"] is None
    events = client.get("/api/v1/admin/security-events?limit=3", headers=headers).get_json()
    assert [(e["kind"], e["username"], e["actor"]) for e in events[:2]] == [
        ("login_unlocked", "wang.wg", "admin"), ("login_unlocked", "ghost.user", "admin")]
    # Someone who is not an administrator sees none of it.
    assert client.get("/api/v1/admin/login-locks", headers=api_headers("li.sl")).status_code == 403
