"""Small things a new user hits first (issue 13, item 10): the icon, another port for make run."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_icon_is_there_for_every_page_and_for_tools_asking_for_favicon_ico(client, login):
    assert client.get("/favicon.ico").headers["Location"].endswith("/static/favicon.svg")
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and b"<svg" in icon.data
    assert 'rel="icon"' in client.get("/login").get_data(as_text=True)
    login(client, "li.sl")
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/todo").get_data(as_text=True)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_takes_another_port():
    plan = subprocess.run(["make", "-n", "run", "PORT=5101"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "pingan run --host 127.0.0.1 --port 5101" in plan.stdout
