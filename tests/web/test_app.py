"""The application factory: health check, CSRF, language switch, session timeout, error shape."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.settings import load_settings
from engine.store.models import User
from web.app import create_app
from web.auth import current_actor


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_session_lifetime_comes_from_settings(app, services):
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=30)
    other = create_app(services.settings.with_(session_minutes=5), services=app.extensions["pingan"])
    assert other.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=5)


def test_session_minutes_setting_reads_the_environment():
    assert load_settings(env={"PINGAN_SESSION_MINUTES": "12"}).session_minutes == 12
    assert load_settings(env={}).session_minutes == 30


def test_signed_in_session_is_permanent_so_it_times_out(client, login):
    login(client, "zhang.dd")
    client.get("/api/v1/auth/me")
    cookie = client.get_cookie("pingan_session")
    assert cookie is not None and cookie.expires is not None


def test_csrf_rejects_a_page_form_post_without_token(client, login):
    login(client, "zhang.dd")
    response = client.post("/logout")
    assert response.status_code == 400
    # Still signed in: the forged request changed nothing.
    assert client.get("/api/v1/auth/me").status_code == 200


def test_csrf_token_lets_the_same_post_through(client, login, csrf_token):
    login(client, "zhang.dd")
    response = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert response.status_code in (302, 303)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_api_with_browser_session_needs_csrf_header_for_writes(client, login, csrf_token):
    login(client, "zhang.dd")
    assert client.get("/api/v1/processes").status_code == 200
    refused = client.post("/api/v1/instances", json={"process": "review"})
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "csrf_failed"
    allowed = client.post("/api/v1/instances", json={"process": "review"}, headers={"X-CSRFToken": csrf_token(client)})
    assert allowed.status_code == 201


def test_bearer_api_needs_no_csrf(client, api_headers):
    response = client.post("/api/v1/instances", json={"process": "review"}, headers=api_headers("zhang.dd"))
    assert response.status_code == 201


def test_language_switch_is_remembered(app, client):
    client.get("/healthz?lang=en")
    with client.session_transaction() as cookie:
        assert cookie["lang"] == "en"
    from flask_babel import get_locale

    with app.test_request_context("/healthz?lang=en"):
        assert str(get_locale()) == "en"
    with app.test_request_context("/healthz"):
        assert get_locale().language == "zh"


def test_current_actor_resolves_token_session_or_nobody(app, api_headers, login, client, session):
    headers = api_headers("li.sl")
    with app.test_request_context("/api/v1/auth/me", headers=headers):
        assert current_actor().username == "li.sl"
    with app.test_request_context("/api/v1/auth/me"):
        assert current_actor() is None
    with app.test_request_context("/api/v1/auth/me", headers={"Authorization": "Bearer nonsense"}):
        assert current_actor() is None


def test_password_change_ends_other_page_sessions(client, login, session, app):
    login(client, "wang.wg")
    assert client.get("/api/v1/auth/me").status_code == 200
    user = session.scalar(select(User).where(User.username == "wang.wg"))
    from engine.org.auth import reset_password
    from engine.org.orgs import actor_for

    reset_password(session, user_id=user.id, new="another-password-1", actor=actor_for(session, username="admin"))
    session.commit()
    assert client.get("/api/v1/auth/me").status_code == 401


def test_unknown_api_path_is_json_404_and_pages_keep_html(client, api_headers):
    response = client.get("/api/v1/no-such-thing", headers=api_headers("zhang.dd"))
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    page = client.get("/no-such-page")
    assert page.status_code in (302, 404)
    assert not page.is_json


def test_openapi_document_and_browsable_page(client):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    doc = spec.get_json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/tasks/{task_id}/complete" in doc["paths"]
    assert "bearer" in doc["components"]["securitySchemes"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"swagger-ui" in page.data
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200
