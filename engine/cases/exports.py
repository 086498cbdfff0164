"""Spreadsheets built from case data: every text cell stays text, whatever a user typed into it.

Case data is typed by the public and by staff; a party named ``=HYPERLINK("http://…","详情")``
must reach the reader's Excel or LibreOffice as those characters, not as a live formula that
fetches a URL or runs a command (OWASP "CSV injection"). A cell is neutralised by giving it an
explicit string type and Excel's quote-prefix flag (what typing a leading apostrophe does): the
value is kept exactly as typed, shown as typed, and stays text if someone edits the cell.
"""
from __future__ import annotations

from io import BytesIO
from typing import Iterable, Sequence

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill

# A spreadsheet program reads a cell starting with one of these as a formula (tab and CR because
# some programs skip them before looking at the first character).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E79")


def formula_like(value: object) -> bool:
    """Tell whether a spreadsheet program would read ``value`` as a formula if it were typed in."""
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def build_workbook(*, title: str, header: Sequence[str], rows: Iterable[Sequence[object]],
                   widths: Sequence[int] = (), note: str | None = None) -> bytes:
    """Return an .xlsx with a styled header row, ``rows`` below it and an optional closing note.

    Numbers stay numbers; every string is written as text, never as a formula.
    """
    wb = Workbook()
    ws = wb.active
    ws.title = _text(title)[:31] or "Sheet1"  # Excel's limit on sheet names
    _write(ws, 1, header)
    for cell in ws[1]:
        cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, Alignment(horizontal="center")
    last = 1
    for last, row in enumerate(rows, start=2):
        _write(ws, last, row)
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = width
    ws.freeze_panes = "A2"
    if note:
        _write(ws, last + 2, [note])  # after one empty row
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def _write(ws, row: int, values: Sequence[object]) -> None:
    for column, value in enumerate(values, start=1):
        cell = ws.cell(row=row, column=column)
        if isinstance(value, str):
            cell.value = _text(value)
            # openpyxl has just typed "=…" as a formula; say it is a string, flagged as typed text.
            cell.data_type = "s"
            cell.quotePrefix = formula_like(cell.value)
        else:
            cell.value = value


def _text(value: str) -> str:
    # openpyxl refuses control characters outright: one odd name must not fail the whole export.
    return ILLEGAL_CHARACTERS_RE.sub("", value)
