"""Bring models from Camunda Modeler, bpmn.io and other tools: convert what Pingan has, refuse the rest by element.

What the import changes is listed in ``Imported.changes`` and in docs/designer-guide.md
("导入其他工具的模型"); every refusal is a Problem naming the element (id and name), the reason,
and what to draw instead.
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..errors import DefinitionInvalid, Problem
from ..org.orgs import ROLES, role_for_lane
from ..spiff.parser import NS, element_lines, parse_xml
from .import_bpmn import BpmnImport
from .import_common import BPMN, ZEEBE, Imported
from .import_dmn import DmnImport
from .validation import validate_files
from .workspace import LAYOUT_HELP, file_kind

def import_files(files: dict[str, str], *, default_role: str | None = None,
                 manual_steps: bool = False) -> tuple[dict[str, str], list[Problem]]:
    """Convert uploaded files to Pingan's layout and settings; return them with every problem left.

    The problems are the import's refusals followed by what ``pingan validate`` still finds in
    the converted files: an empty list means the result may be deployed as it is.
    ``default_role``: the role (key or Chinese name) that acts on user tasks drawn outside any
    lane or in a lane that names no Pingan role. ``manual_steps``: import a step Pingan cannot
    run (Java code, an external job, a script in another language) as a user task that a person
    does and confirms, instead of refusing it.
    """
    result = convert_files(files, default_role=default_role, manual_steps=manual_steps)
    return result.files, result.problems


def convert_files(files: dict[str, str], *, default_role: str | None = None, manual_steps: bool = False) -> Imported:
    """Convert a set of files (path -> text) and validate the result; see import_files."""
    if default_role is not None and default_role not in ROLES:
        default_role = role_for_lane(default_role)
        if default_role is None:
            raise DefinitionInvalid("默认角色不是平安的角色", message_en="the default role is not a Pingan role",
                                    details=[Problem("可用角色：" + "、".join(f"{v}({k})" for k, v in ROLES.items()),
                                                     "roles: " + ", ".join(ROLES))])
    out = Imported(files={})
    calls = _call_graph(files)
    for path, text in sorted(files.items()):
        if path.lower().endswith(".dmn"):
            DmnImport(path, text, out).run()
    # The BPMN import sees the converted tables: their decision ids and output names as Pingan spells them.
    given = {p: t for p, t in files.items() if not p.lower().endswith(".dmn")} | dict(out.files)
    for path, text in sorted(files.items()):
        if path.lower().endswith(".bpmn"):
            job = BpmnImport(path, text, out, given, default_role, manual_steps)
            job.calls = calls
            job.run()
    for path, text in sorted(files.items()):
        if path.lower().endswith((".yaml", ".yml")):
            pure = PurePosixPath(path)
            target = path if pure.parts[0] in ("forms", "processes", "tests") else f"processes/{pure.name}"
            if file_kind(target) is None:
                out.problems.append(Problem(f"文件 {path} 放不进平安的目录结构（{LAYOUT_HELP}），未导入",
                                            f"{path} does not fit Pingan's layout and was not imported", file=path))
                continue
            out.files[target] = text
    _lines_in_result(out)
    # The import's own refusal of an element says more than the validator's about the same element.
    refused = {(p.file, p.element_id) for p in out.problems}
    if any(p.endswith(".bpmn") for p in out.files):
        for problem in validate_files(out.files):
            if (problem.file, problem.element_id) not in refused:
                out.problems.append(_located(problem, out.files))
    return out


def _lines_in_result(out: Imported) -> None:
    """Point each refusal at its element's line in the converted file (the one the designer opens)."""
    lines: dict[str, dict[str, int]] = {}
    for problem in out.problems:
        if not problem.element_id or problem.file not in out.files or not problem.file.endswith((".bpmn", ".dmn")):
            continue
        if problem.file not in lines:
            try:
                lines[problem.file] = element_lines(parse_xml(out.files[problem.file].encode("utf-8"), problem.file))
            except DefinitionInvalid:
                lines[problem.file] = {}
        problem.line = lines[problem.file].get(problem.element_id, problem.line)


def _call_graph(files: dict[str, str]) -> dict[str, set[str]]:
    """Map each process id in the BPMN files to the processes its call activities call."""
    calls: dict[str, set[str]] = {}
    for path, text in files.items():
        if not path.lower().endswith(".bpmn"):
            continue
        try:
            root = parse_xml(text.encode("utf-8"), PurePosixPath(path).name).getroot()
        except DefinitionInvalid:
            continue
        for proc in root.iterfind("bpmn:process", NS):
            calls[proc.get("id")] = {c.get("calledElement") for c in proc.iter(f"{{{BPMN}}}callActivity")} | {
                z.get("processId") for z in proc.iter(f"{{{ZEEBE}}}calledElement")}
    return calls


def _located(problem: Problem, files: dict[str, str]) -> Problem:
    """Give a form problem that names only its form key ("leave/start 的字段 ...") the form's file."""
    if "pingan import" in (problem.hint or ""):
        problem.hint = None  # the advice to import, on a file that has just been imported
    if problem.file or problem.element_id:
        return problem
    match = re.match(r"([\w\-]+/[\w\-]+)\b", problem.message)
    path = f"forms/{match.group(1)}.yaml" if match else None
    if path in files:
        problem.file = path
    return problem


def read_model_files(paths) -> dict[str, str]:
    """Read BPMN, DMN and YAML files (or folders of them) into the path -> text dict the import takes."""
    from pathlib import Path

    files: dict[str, str] = {}
    for raw in paths:
        path = Path(raw)
        found = [(p, p.relative_to(path).as_posix()) for p in sorted(path.rglob("*")) if p.is_file()] \
            if path.is_dir() else [(path, path.name)]
        for file, name in found:
            if file.suffix.lower() in (".bpmn", ".dmn", ".yaml", ".yml") and not any(
                    part.startswith(".") for part in PurePosixPath(name).parts):
                try:
                    files[name] = file.read_text(encoding="utf-8-sig")
                except UnicodeDecodeError:
                    raise DefinitionInvalid(f"文件 {file} 不是 UTF-8 编码", message_en=f"{file} is not UTF-8 encoded",
                                            details=[Problem("文件不是 UTF-8 编码", "not UTF-8 encoded", file=name)]) from None
    if not any(name.lower().endswith(".bpmn") for name in files):
        raise DefinitionInvalid("没有找到 BPMN 文件", message_en="no BPMN file given")
    return files
