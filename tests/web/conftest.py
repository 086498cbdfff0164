"""Web fixtures: an app whose requests share the test's rolled-back connection, a client, sign-in helpers.

Every request of a test runs on the connection of the ``session`` fixture, inside a savepoint: a
request's commit is real for the rest of the test (and visible through ``session`` after
``session.expire_all()``), and everything is rolled back when the test ends.

Helpers (stable; the pages tests use them too):
    login(client, "zhang.dd")        sign the test client in as a demo user (page session cookie)
    api_headers("zhang.dd")          {"Authorization": "Bearer ..."} for a fresh API token
    csrf_token(client)               a valid CSRF token for a page form POST of this client
"""
from __future__ import annotations

import hashlib
import os

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from engine.context import Services
from engine.org.auth import issue_token, password_fingerprint
from engine.org.demo import DEMO_PASSWORD
from engine.store.db import make_session_factory
from engine.store.models import User
from web.app import create_app

PASSWORD = DEMO_PASSWORD


@pytest.fixture
def app(services, session):
    options = dict(join_transaction_mode="create_savepoint", info={"pingan": services.context})
    svc = Services(services.settings, services.engine, make_session_factory(session.bind, **options), services.context,
                   make_session_factory(session.bind, read_only=True, **options))
    application = create_app(services.settings, services=svc)
    application.config.update(TESTING=True)
    yield application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def login(app):
    """Return ``login(client, username)``: sign ``client`` in as ``username`` without the login page."""
    def _login(client, username: str):
        s = app.extensions["pingan"].session_factory()
        try:
            user = s.scalar(select(User).where(User.username == username))
            assert user is not None, f"no user {username}"
            user_id = f"{user.id}:{password_fingerprint(user)}"
        finally:
            s.close()
        with client.session_transaction() as cookie:
            cookie["_user_id"] = user_id
            cookie["_fresh"] = True
            cookie.permanent = True
        return client
    return _login


@pytest.fixture
def api_headers(app):
    """Return ``api_headers(username)``: Authorization headers with a new bearer token for the user."""
    cache: dict[str, dict] = {}

    def _headers(username: str) -> dict:
        if username not in cache:
            with app.extensions["pingan"].session() as s:
                cache[username] = {"Authorization": f"Bearer {issue_token(s, username=username, label='test')}"}
        return dict(cache[username])
    return _headers


@pytest.fixture
def csrf_token(app):
    """Return ``csrf_token(client)``: the token a page form of this client must carry (as Flask-WTF makes it)."""
    def _token(client) -> str:
        with client.session_transaction() as cookie:
            raw = cookie.get("csrf_token")
            if raw is None:
                raw = cookie["csrf_token"] = hashlib.sha1(os.urandom(64)).hexdigest()
        return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)
    return _token
