"""Browser fixtures: the app served on a free localhost port from a thread, and Debian's Chromium.

The browser tests get a database of their own (a fresh SQLite file, or a fresh PostgreSQL schema
when ``PINGAN_TEST_DATABASE_URL`` points at PostgreSQL), with the demo county, the fixture processes
and the shipped process library deployed, so real commits never leak into the other tests.
"""
from __future__ import annotations

import os
import re
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, select, text

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("PINGAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--font-render-hinting=none", "--lang=zh-CN"]


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - listed in the test extras
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (scripts/system-deps.sh installs it)")
    return sync_playwright


@pytest.fixture(scope="session")
def live_services(tmp_path_factory):
    from engine.context import open_services
    from engine.definitions.deployment import deploy
    from engine.org.demo import load_demo_org
    from engine.settings import load_settings
    from engine.store.schema import upgrade
    from engine.store.tables import metadata

    url = os.environ.get("PINGAN_TEST_DATABASE_URL")
    instance_path = tmp_path_factory.mktemp("browser-instance")
    schema, admin = None, None
    if url and url.startswith("postgresql"):
        schema = f"pingan_browser_{uuid.uuid4().hex[:10]}"
        admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    else:
        url = f"sqlite:///{instance_path / 'browser.db'}"
    settings = load_settings(env={}, database_url=url, database_schema=schema, instance_path=instance_path,
                             timer_mode="off", secret_key="browser-tests", audit_key="browser-tests-audit")
    svc = open_services(settings)
    upgrade(svc.engine)
    metadata.create_all(svc.engine)
    with svc.session() as s:
        load_demo_org(s)
        deploy(s, paths=[ROOT / "tests" / "fixtures" / "repo"], actor="tests")
        if any((ROOT / "processes").glob("*.bpmn")):
            deploy(s, paths=[ROOT], actor="tests")
    yield svc
    svc.dispose()
    if admin is not None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def live_server(live_services):
    """Serve the app on 127.0.0.1 with a free port; yield its base URL."""
    from werkzeug.serving import make_server

    from web.app import create_app

    app = create_app(live_services.settings, services=live_services)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    sync_playwright = _playwright()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser, live_server):
    """Return ``new_page(username=None, mobile=False)``: a page in a fresh context, signed in when asked."""
    contexts = []

    def _open(username: str | None = None, *, mobile: bool = False):
        options = {"locale": "zh-CN", "timezone_id": "Asia/Shanghai", "base_url": live_server}
        if mobile:
            options |= {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
                        "has_touch": True}
        else:
            options |= {"viewport": {"width": 1366, "height": 900}}
        ctx = browser.new_context(**options)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15000)
        if username:
            sign_in(page, username)
        return page

    yield _open
    for ctx in contexts:
        ctx.close()


def sign_in(page, username: str, password: str = "pingan-demo-2026") -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/(todo|board)"))  # leaders and inspectors land on the board


def shoot(page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot under docs/screenshots/ (the user guide shows them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if full_page:  # a full-page picture would show the sticky submit bar in mid-page
        page.add_style_tag(content=".sticky-actions { position: static !important; }")
    page.evaluate("window.scrollTo(0, 0)")  # sticky header and nav stay at the top of the picture
    page.wait_for_timeout(150)
    page.screenshot(path=str(path), full_page=full_page)
    return path


def delete_cases_after(session, before: int) -> None:
    """Delete the cases with ids above ``before`` and every row that points at them: the browser
    tests share one database, and a test that seeds cases leaves it as it found it."""
    from engine.store.models import Instance
    from engine.store.tables import metadata

    ids = select(Instance.id).where(Instance.id > before)
    for table in reversed(metadata.sorted_tables):
        for column in table.c:
            if table.name != "instances" and (column.name == "instance_id" or any(
                    fk.column.table.name == "instances" for fk in column.foreign_keys)):
                session.execute(delete(table).where(column.in_(ids)))
    session.execute(delete(Instance).where(Instance.id > before))
