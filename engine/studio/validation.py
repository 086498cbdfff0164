"""Validate a file set with exactly the checks of ``pingan validate``: parse, lint, forms, parameters.

It knows nothing of drafts (drafts.validate_draft reads a draft and calls it), so the import,
which validates what it converts, and the drafts, which import on upload, need no cycle."""
from __future__ import annotations

import logging
import re
from pathlib import Path

from ..definitions.deployment import collect_sources, validate
from ..errors import DefinitionInvalid, EngineError, Problem
from .workspace import workspace

_ID = re.compile(r'\bid="([^"]+)"')
log = logging.getLogger(__name__)


def validate_files(files: dict[str, str]) -> list[Problem]:
    """Return every problem ``pingan validate`` finds in a file set, located by draft path (empty: valid)."""
    with workspace(files) as root:
        try:
            validate(collect_sources([root]))
        except DefinitionInvalid as exc:
            problems = exc.details or [Problem(exc.message, exc.message_en)]
        except EngineError as exc:
            problems = [*exc.details] or [Problem(exc.message, exc.message_en)]
        except Exception as exc:  # noqa: BLE001 — a parser bug must reach the designer as a problem, not a 500
            log.exception("validating a draft raised %s", type(exc).__name__)
            problems = [Problem(f"文件无法解析（{type(exc).__name__}: {str(exc)[:200]}），请检查最近修改的 BPMN/DMN 文件",
                                f"the files could not be parsed ({type(exc).__name__}: {str(exc)[:200]})")]
        else:
            problems = []
        return [_locate(p, files, root) for p in problems]


def _locate(problem: Problem, files: dict[str, str], root: Path) -> Problem:
    """Name the file by its draft path, and the element at the problem's line when the check did not."""
    file = problem.file
    if file:
        file = file.replace(str(root) + "/", "")
        if file not in files and f"processes/{file}" in files:
            file = f"processes/{file}"
    elif len([p for p in files if p.endswith(".bpmn")]) == 1 and problem.element_id:
        file = next(p for p in files if p.endswith(".bpmn"))
    element = problem.element_id
    if element is None and file in files and file.endswith(".bpmn") and problem.line:
        lines = files[file].splitlines()
        if 0 < problem.line <= len(lines):
            found = _ID.search(lines[problem.line - 1])
            element = found.group(1) if found else None
    return Problem(problem.message, problem.message_en, file=file, line=problem.line, element_id=element,
                   field=problem.field, hint=problem.hint)


def problem_row(problem: Problem) -> dict:
    """Return a problem in the API's shape: every key present, None when unknown."""
    return {"file": problem.file, "line": problem.line, "element_id": problem.element_id,
            "message": problem.message, "message_en": problem.message_en or "", "hint": problem.hint}
