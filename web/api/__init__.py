"""The JSON API at /api/v1: bearer tokens, one module per noun, OpenAPI 3 generated from the code.

flask-smorest builds the OpenAPI document from the marshmallow schemas and route decorators of
these modules; it is served at /api/v1/openapi.json and browsable at /api/v1/docs (Swagger UI,
shipped by the swagger-ui-bundle package, so nothing is loaded from outside the server).
"""
from __future__ import annotations

from flask import Blueprint as FlaskBlueprint, Flask, request
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import BadRequest

from ..auth import require_actor, via_token
from .common import ApiBlueprint
from .schemas import ErrorSchema

API_PREFIX = "/api/v1"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Endpoints that answer without a signed-in user.
PUBLIC_ENDPOINTS = {"api.auth.issue_token"}


class PinganApi(Api):
    """flask-smorest's Api, answering errors in Pingan's shape and only under /api (pages keep theirs)."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        # web.errors handles every error app-wide, JSON under /api and pages elsewhere.
        pass


def _modules():
    # One noun per line, in the order the OpenAPI document lists them.
    from . import admin, attachments, auth, instances, messages, notifications, processes, supervision, tasks
    from . import board
    from . import drafts
    from . import studio_tests
    from . import warnings
    from . import migrations

    return [
        auth,
        processes,
        instances,
        tasks,
        messages,
        attachments,
        notifications,
        supervision,
        board,
        drafts,
        studio_tests,
        warnings,
        migrations,
        admin,
    ]


def init_app(app: Flask, *, csrf: CSRFProtect) -> Api:
    """Register the API blueprints, the OpenAPI document and its browsable page."""
    import swagger_ui_bundle

    app.config.update(
        API_TITLE="平安 Pingan API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=f"{API_PREFIX}/docs/assets/",
        API_SPEC_OPTIONS={
            "info": {"description": "综治中心流程平台接口。认证：`Authorization: Bearer <token>`（`POST /api/v1/auth/token` "
                                    "或 `pingan users token USERNAME` 获取）。错误统一为 `{\"error\", \"message\", \"details\"}`。"},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
            "servers": [{"url": "/"}],
        },
    )
    api = PinganApi(app)
    parent = ApiBlueprint("api", __name__, url_prefix=API_PREFIX)
    for module in _modules():
        csrf.exempt(module.blp)
        parent.register_blueprint(module.blp)
    parent.before_request(_authenticate(csrf))
    api.register_blueprint(parent)
    # The parent only groups the nouns; each noun is its own tag in the document.
    api.spec._tags[:] = [t for t in api.spec._tags if t["name"] != parent.name]
    assets = FlaskBlueprint("api_docs_assets", __name__, static_folder=swagger_ui_bundle.swagger_ui_path,
                            static_url_path=f"{API_PREFIX}/docs/assets")
    app.register_blueprint(assets)
    return api


JSON_LIMIT = 2 * 1024 * 1024


def _screen_input() -> None:
    """Refuse what no endpoint can take before it reaches the database: NUL characters, huge JSON."""
    texts = [request.path, *(k + v for k, v in request.args.items(multi=True))]
    if request.mimetype == "multipart/form-data":
        texts += [k + v for k, v in request.form.items(multi=True)]
    else:
        request.max_content_length = JSON_LIMIT
        body = request.get_data(cache=True)
        if b"\x00" in body or b"\\u0000" in body:
            raise BadRequest("NUL character in the request body")
    if any("\x00" in t for t in texts):
        raise BadRequest("NUL character in the request")


def _authenticate(csrf: CSRFProtect):
    def hook():
        _screen_input()
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        require_actor()
        # A browser session calling the API (htmx from a page) must prove it came from our page.
        if not via_token() and request.method not in SAFE_METHODS:
            csrf.protect()
        return None
    return hook
