"""Pages: signing in and out, lock-out message, password change, CSRF, the sign-in gate, language."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.org.orgs import check_password
from engine.store.models import User

PASSWORD = "pingan-demo-2026"


def test_pages_redirect_to_login_when_signed_out(client):
    r = client.get("/todo")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/login?next=/todo")


def test_login_page_renders_in_chinese(client):
    r = client.get("/login")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "平安 · 综治中心流程平台" in html and 'name="csrf_token"' in html and "用户名" in html


def test_login_with_password_signs_in_and_follows_next(client, csrf_token):
    r = client.post("/login", data={"username": "wang.wg", "password": PASSWORD, "next": "/started",
                                    "csrf_token": csrf_token(client)})
    assert r.status_code == 302 and r.headers["Location"] == "/started"
    page = client.get("/started").get_data(as_text=True)
    assert "王网格" in page and "我发起的案件" in page


def test_login_refuses_an_offsite_next(client, csrf_token):
    r = client.post("/login", data={"username": "wang.wg", "password": PASSWORD, "next": "//evil.example/x",
                                    "csrf_token": csrf_token(client)})
    assert r.status_code == 302 and r.headers["Location"] == "/todo"


def test_wrong_password_keeps_username_and_counts_nothing_down(client, csrf_token, session):
    for attempt in range(3):
        r = client.post("/login", data={"username": "zhao.wg", "password": "nope-nope",
                                        "csrf_token": csrf_token(client)})
    html = r.get_data(as_text=True)
    assert r.status_code == 401
    # A countdown would tell an attacker the name is real (unknown names never had one).
    assert "用户名或密码错误" in html and "再错" not in html and 'value="zhao.wg"' in html


def test_five_failures_lock_the_account_with_a_chinese_message(client, csrf_token, session):
    for _ in range(5):
        r = client.post("/login", data={"username": "zhao.wg", "password": "nope-nope",
                                        "csrf_token": csrf_token(client)})
    assert r.status_code == 403 and "已暂停从此地址登录该账号" in r.get_data(as_text=True)
    r = client.post("/login", data={"username": "zhao.wg", "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert r.status_code == 403, "the right password does not open a locked account"


def test_login_without_csrf_token_is_rejected(client):
    r = client.post("/login", data={"username": "wang.wg", "password": PASSWORD})
    assert r.status_code == 400
    assert "页面已过期" in r.get_data(as_text=True) or "请刷新" in r.get_data(as_text=True)
    assert client.get("/todo").status_code == 302, "still signed out"


def test_logout_needs_post_with_csrf_and_ends_the_session(client, login, csrf_token):
    login(client, "wang.wg")
    assert client.post("/logout").status_code == 400
    assert client.get("/todo").status_code == 200
    r = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert client.get("/todo").status_code == 302


def test_change_password_shows_field_errors_then_changes_it(client, login, csrf_token, session):
    login(client, "chen.tj")
    assert "修改密码" in client.get("/account/password").get_data(as_text=True)
    bad = client.post("/account/password", data={"old_password": "wrong-one", "new_password": "short",
                                                 "confirm_password": "short", "csrf_token": csrf_token(client)})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "原密码不正确" in html
    mismatch = client.post("/account/password", data={"old_password": PASSWORD, "new_password": "new-pass-2026",
                                                      "confirm_password": "other-2026", "csrf_token": csrf_token(client)})
    assert mismatch.status_code == 422 and "两次输入的新密码不一致" in mismatch.get_data(as_text=True)
    ok = client.post("/account/password", data={"old_password": PASSWORD, "new_password": "new-pass-2026",
                                                "confirm_password": "new-pass-2026", "csrf_token": csrf_token(client)})
    assert ok.status_code == 302
    session.expire_all()
    user = session.scalar(select(User).where(User.username == "chen.tj"))
    assert check_password(user, "new-pass-2026")
    assert client.get("/todo").status_code == 200, "this browser stays signed in"


@pytest.mark.parametrize("lang,text", [("en", "My to-do list"), ("zh_CN", "我的待办")])
def test_language_switch(client, login, lang, text):
    login(client, "wang.wg")
    assert text in client.get(f"/todo?lang={lang}").get_data(as_text=True)


def test_vendor_assets_are_served_from_node_modules_only(client):
    r = client.get("/assets/vendor/htmx/htmx.min.js")
    if r.status_code == 404:
        pytest.skip("npm packages not installed (make setup runs npm ci)")
    assert r.status_code == 200 and b"htmx" in r.data
    assert client.get("/assets/vendor/left-pad/index.js").status_code == 404
    assert client.get("/assets/vendor/htmx/../package.json").status_code == 404
