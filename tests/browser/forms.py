"""Fill Pingan task forms in a Playwright page by field name, whatever input the field is drawn as."""
from __future__ import annotations

import re


def fill(page, name: str, value) -> None:
    """Set the form field ``f.<name>`` (text, select, radio group, checkbox) to ``value``."""
    locator = page.locator(f"[name='f.{name}']:not([type=hidden])")
    first = locator.first
    kind = first.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
    if kind.startswith("select"):
        options = first.locator("option")
        labels = [o.strip() for o in options.all_inner_texts()]
        if str(value) in labels or any(lbl.startswith(str(value)) for lbl in labels):
            label = next(lbl for lbl in labels if lbl == str(value) or lbl.startswith(str(value)))
            first.select_option(label=label)
        else:
            first.select_option(value=str(value))
    elif kind.endswith(":radio"):
        page.check(f"[name='f.{name}'][value='{_radio_value(value)}']")
    elif kind.endswith(":checkbox"):
        page.set_checked(f"[name='f.{name}'][type=checkbox]", bool(value))
    else:
        first.fill(str(value))


def _radio_value(value) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def fill_all(page, values: dict) -> None:
    for name, value in values.items():
        fill(page, name, value)


def submit(page, *, opinion: str | None = None) -> None:
    """Write the opinion, press 提交 and wait for the next page."""
    if opinion:
        page.fill("textarea[name=opinion]", opinion)
    with page.expect_navigation():
        page.click("button[value=complete]")


def open_task(page, title: str) -> None:
    """Open the to-do list and the first task called ``title``."""
    page.goto("/todo")
    page.click(f"table.todo-list a:text-is('{title}')")
    page.wait_for_url(re.compile(r"/tasks/"))
