"""Signing in: tokens for a password, lock-out after five failures (more in test_login_lockout.py), revocation, the CLI."""
from __future__ import annotations

import json

from sqlalchemy import select

from engine.store.models import ApiToken, LoginThrottle, User
from tests.conftest import advance

from .conftest import PASSWORD


def _token(client, username, password=PASSWORD):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_password_gives_a_token_that_authenticates(client, session):
    response = _token(client, "zhang.dd")
    assert response.status_code == 201
    token = response.get_json()["token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.get_json() == {"username": "zhang.dd", "name": "张调度", "org": "county",
                             "roles": [{"role": "dispatcher", "org": "county"}]}
    stored = session.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored and len(stored) >= 1  # only the hash is kept


def test_wrong_password_is_401_in_chinese(client):
    response = _token(client, "zhang.dd", "wrong-password")
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == "authentication_failed"
    assert "用户名或密码错误" in body["message"]
    assert _token(client, "nobody-like-this", "x").status_code == 401


def test_five_failures_lock_the_account_at_that_address_for_a_minute(client, session, frozen):
    for _ in range(4):
        assert _token(client, "li.sl", "bad-password").status_code == 401
    fifth = _token(client, "li.sl", "bad-password")
    assert fifth.status_code == 403
    assert fifth.get_json()["error"] == "account_locked"
    assert "至 09:01" in fifth.get_json()["message"]  # T0 is 09:00 Beijing time
    # Even the right password is refused while locked.
    assert _token(client, "li.sl").status_code == 403
    counted = select(LoginThrottle.failures).where(LoginThrottle.username == "li.sl")
    assert session.scalar(counted) == 5
    advance(frozen, minutes=1, seconds=1)
    assert _token(client, "li.sl").status_code == 201
    assert session.scalar(counted) is None


def test_a_success_resets_the_failure_count(client, session):
    for _ in range(3):
        _token(client, "li.sl", "bad-password")
    assert _token(client, "li.sl").status_code == 201
    for _ in range(4):
        assert _token(client, "li.sl", "bad-password").status_code == 401


def test_missing_or_bad_token_is_401(client):
    assert client.get("/api/v1/tasks").status_code == 401
    bad = client.get("/api/v1/tasks", headers={"Authorization": "Bearer pa_not-a-token"})
    assert bad.status_code == 401
    assert bad.get_json()["error"] == "authentication_failed"


def test_revoked_token_stops_working(client, api_headers):
    headers = api_headers("wang.wg")
    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_deactivated_user_token_stops_working(client, api_headers, session):
    headers = api_headers("wang.wg")
    user = session.scalar(select(User).where(User.username == "wang.wg"))
    user.active = False
    session.commit()
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_change_password(client, api_headers):
    headers = api_headers("wang.wg")
    wrong = client.post("/api/v1/auth/password", json={"old_password": "nope", "new_password": "new-password-1"},
                        headers=headers)
    assert wrong.status_code == 422
    assert wrong.get_json()["details"][0]["field"] == "old_password"
    short = client.post("/api/v1/auth/password", json={"old_password": PASSWORD, "new_password": "short"},
                        headers=headers)
    assert short.status_code == 422
    ok = client.post("/api/v1/auth/password", json={"old_password": PASSWORD, "new_password": "new-password-1"},
                     headers=headers)
    assert ok.status_code == 204
    assert _token(client, "wang.wg").status_code == 401
    assert _token(client, "wang.wg", "new-password-1").status_code == 201


def test_token_request_validation(client):
    assert client.post("/api/v1/auth/token", json={"username": "x"}).status_code == 422
    malformed = client.post("/api/v1/auth/token", data="{not json", content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.get_json()["error"] == "bad_request"


def test_cli_users_token_and_list(services, monkeypatch):
    from click.testing import CliRunner

    from web import cli

    monkeypatch.setattr(cli, "_services", lambda: services)
    runner = CliRunner()
    result = runner.invoke(cli.main, ["users", "token", "zhang.dd"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("pa_")
    from engine.org.auth import actor_for_token

    with services.session() as s:
        assert actor_for_token(s, token).username == "zhang.dd"
        s.execute(ApiToken.__table__.delete().where(ApiToken.prefix == token[:10]))
    listed = runner.invoke(cli.main, ["users", "list", "--json"])
    assert listed.exit_code == 0
    users = {u["username"]: u for u in json.loads(listed.output)}
    assert users["li.sl"]["name"] == "李受理"
    assert users["li.sl"]["roles"] == [{"role": "dispatcher", "org": "chengguan"}]
    assert runner.invoke(cli.main, ["users", "token", "no-such-user"]).exit_code == 1


def test_token_resolves_in_one_query_with_the_same_grants(app, session, api_headers):
    from sqlalchemy import event

    from engine.org.auth import token_holder
    from engine.org.orgs import actor_for

    token = api_headers("li.sl")["Authorization"].split()[1]
    statements = []
    session.scalar(select(ApiToken.id).limit(1))  # the test's savepoint is open before counting
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(session.bind, "before_cursor_execute", listener)
    try:
        holder = token_holder(session, token)
    finally:
        event.remove(session.bind, "before_cursor_execute", listener)
    assert len(statements) == 1
    assert holder.actor == actor_for(session, username="li.sl")
    assert holder.use_due


def test_a_reading_request_records_token_use_in_its_own_transaction(client, session, api_headers):
    headers = api_headers("zhang.dd")
    prefix = headers["Authorization"].split()[1][:10]
    assert session.scalar(select(ApiToken.last_used_at).where(ApiToken.prefix == prefix)) is None
    assert client.get("/api/v1/tasks?view=todo", headers=headers).status_code == 200
    session.expire_all()
    first = session.scalar(select(ApiToken.last_used_at).where(ApiToken.prefix == prefix))
    assert first is not None
    # Within the granularity a second read leaves it alone.
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    session.expire_all()
    assert session.scalar(select(ApiToken.last_used_at).where(ApiToken.prefix == prefix)) == first
