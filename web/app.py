"""The Flask application factory: pages and the JSON API are thin doors onto the engine."""
from __future__ import annotations

from flask import Flask, jsonify, render_template

from engine.context import Services, open_services
from engine.errors import EngineError
from engine.settings import Settings, load_settings


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Build the app for ``settings`` (from the environment when not given)."""
    settings = settings or (services.settings if services else load_settings())
    services = services or open_services(settings)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, PINGAN=services, JSON_AS_ASCII=False)
    app.json.ensure_ascii = False

    @app.errorhandler(EngineError)
    def _engine_error(exc: EngineError):
        return jsonify(exc.as_dict()), exc.status

    @app.get("/healthz")
    def healthz():
        from sqlalchemy import text

        with services.session() as s:
            s.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/")
    def index():
        from engine.definitions import latest_definitions

        with services.session() as s:
            definitions = latest_definitions(s)
            rows = [(d.key, d.name, d.version, d.deployed_at) for d in definitions]
        return render_template("index.html", definitions=rows)

    return app
