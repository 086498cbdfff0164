"""A photo taken at the scene follows the case: chosen on the report form, seen when accepting it."""
from __future__ import annotations

import struct
import zlib

import pytest

from .conftest import ROOT, shoot
from .forms import fill_all

pytestmark = pytest.mark.skipif(not (ROOT / "processes" / "grid_event.bpmn").exists(),
                                reason="the grid event process is not in processes/ yet")

def _png(width: int = 48, height: int = 32, rgb: bytes = b"\xf0\x80\x20") -> bytes:
    """A plain-colour PNG: something a thumbnail visibly shows."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + rgb * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_a_photo_from_the_report_is_shown_to_the_dispatcher(new_page, tmp_path, live_services):
    photo = tmp_path / "现场照片.png"
    photo.write_bytes(_png())
    grid = new_page("wang.wg", mobile=True)
    grid.goto("/start")
    grid.click("text=网格事件")
    fill_all(grid, {"category": "道路路面破损", "event_title": "西街路面坑洼（带照片）", "location": "西街8号门前",
                    "description": "路面坑洼积水，行人绕行。"})
    grid.set_input_files("input[name='f.photos.upload']", str(photo))
    with grid.expect_navigation():
        grid.click("button:has-text('发起')")
    assert "已发起" in grid.inner_text(".flash-ok")

    for mobile in (False, True):
        dispatcher = new_page("li.sl", mobile=mobile)
        dispatcher.goto("/todo")
        dispatcher.click("tr:has-text('西街路面坑洼（带照片）') a:text-is('立案审查')")
        dispatcher.wait_for_url("**/tasks/**")
        evidence = dispatcher.locator("[data-field=photos]")
        assert "现场照片.png" in evidence.inner_text()
        thumb = evidence.locator("img.thumb")
        assert thumb.count() == 1
        dispatcher.wait_for_function("img => img.complete && img.naturalWidth === 48", arg=thumb.element_handle())
        shoot(dispatcher, "evidence-accept-phone" if mobile else "evidence-accept-desktop")
    # The browser tests share one database: leave no open task behind for the others' to-do lists.
    from .test_case_diagram import _cancel
    _cancel(live_services, _case_id(dispatcher))


def _case_id(page) -> int:
    href = page.get_attribute(".crumbs a[href^='/cases/']", "href")
    return int(href.split("/cases/")[1].split("/")[0].split("?")[0])
