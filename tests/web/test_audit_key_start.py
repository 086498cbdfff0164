"""The web app refuses to start outside development mode without its own audit key."""
from __future__ import annotations

import pytest

from engine.settings import DEFAULT_AUDIT_KEY
from engine.store.audit import AuditKeyMissing
from web.app import create_app


def test_the_web_app_refuses_the_default_audit_key_outside_development(app):
    svc = app.extensions["pingan"]
    deployed = svc.settings.with_(development=False, secret_key="deployment-secret-for-tests")
    for key in (DEFAULT_AUDIT_KEY, ""):
        with pytest.raises(AuditKeyMissing) as refused:
            create_app(deployed.with_(audit_key=key), services=svc)
        assert "PINGAN_AUDIT_KEY" in refused.value.message and "PINGAN_AUDIT_KEY" in refused.value.message_en
    started = create_app(deployed.with_(audit_key="deployment-audit-key-for-tests"), services=svc)
    assert started.test_client().get("/healthz").status_code == 200
