"""A procedure's files as a dict (path -> text) laid out like the repository, and the folder it becomes.

The layout: ``processes/<key>.bpmn``, ``processes/<key>.yaml``, ``processes/<name>.dmn``,
``forms/<key>/<form>.yaml``, ``tests/scenarios/<key>/<name>.yaml``. Nothing else is accepted,
so a path from a browser or an upload can never point outside the folder.
"""
from __future__ import annotations

import io
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..context import context_of
from ..definitions.deployment import get_definition
from ..definitions.forms import form_from_dict, form_to_dict
from ..errors import EngineError, Problem
from .models import VersionFiles

MAX_FILE_CHARS = 1_000_000
MAX_FILES = 300
MAX_TOTAL_CHARS = 8_000_000

_STEM = r"[\w][\w\-]{0,99}"
_LAYOUT = (
    ("bpmn", re.compile(rf"processes/{_STEM}\.bpmn")),
    ("dmn", re.compile(rf"processes/{_STEM}\.dmn")),
    ("parameters", re.compile(rf"processes/{_STEM}\.yaml")),
    ("form", re.compile(rf"forms/{_STEM}/{_STEM}\.yaml")),
    ("scenario", re.compile(rf"tests/scenarios/{_STEM}/{_STEM}\.yaml")),
)
LAYOUT_HELP = ("processes/<流程>.bpmn、processes/<名称>.dmn、processes/<流程>.yaml、forms/<流程>/<表单>.yaml、"
               "tests/scenarios/<流程>/<场景>.yaml")


def file_kind(path: str) -> str | None:
    """Return what a repository path holds (bpmn, dmn, parameters, form, scenario), or None if not allowed."""
    for kind, pattern in _LAYOUT:
        if pattern.fullmatch(path):
            return kind
    return None


def check_path(path: str) -> str:
    """Return ``path`` if it is a repository layout path; refuse anything else (``..``, absolute, unknown)."""
    if not isinstance(path, str) or file_kind(path) is None or ".." in path:
        raise EngineError(f"不允许的文件路径：{str(path)[:200]}；只能是 {LAYOUT_HELP}",
                          message_en=f"path not allowed: {str(path)[:200]}; only the repository layout is accepted",
                          details=[Problem(f"不允许的文件路径：{str(path)[:200]}", "path not allowed",
                                           file=str(path)[:200], field="path")])
    return path


def check_text(path: str, text: object) -> str:
    """Return the text of a file if it is a string within the size limit."""
    if not isinstance(text, str):
        raise EngineError(f"文件 {path} 的内容必须是文本", message_en=f"the content of {path} must be text")
    if len(text) > MAX_FILE_CHARS:
        raise EngineError(f"文件 {path} 过大（上限 {MAX_FILE_CHARS:,} 个字符）",
                          message_en=f"{path} is too large (limit {MAX_FILE_CHARS:,} characters)")
    if "\x00" in text:
        raise EngineError(f"文件 {path} 含有空字符", message_en=f"{path} contains a NUL character")
    return text


def check_files(files: dict[str, str]) -> dict[str, str]:
    """Check every path and text of a file set and its overall size; return it as a plain dict."""
    if len(files) > MAX_FILES:
        raise EngineError(f"文件过多（上限 {MAX_FILES} 个）", message_en=f"too many files (limit {MAX_FILES})")
    out = {check_path(p): check_text(p, t) for p, t in files.items()}
    if sum(len(t) for t in out.values()) > MAX_TOTAL_CHARS:
        raise EngineError("文件总量过大", message_en="the files are too large in total")
    return out


def process_keys(files: dict[str, str]) -> list[str]:
    """Return the ids of the executable processes in a file set's BPMN files, in path order.

    A file named for its process comes first; a file that does not parse counts by its name.
    """
    keys: list[str] = []
    for path in sorted(p for p in files if file_kind(p) == "bpmn"):
        stem = Path(path).stem
        ids = _process_ids(files[path])
        keys += sorted(ids or [stem], key=lambda i: i != stem)
    return list(dict.fromkeys(keys))


_PROCESS = re.compile(r"<(?:\w+:)?process\b([^>]*)>")
_ATTR = re.compile(r'\b(id|isExecutable)\s*=\s*"([^"]*)"')


def _process_ids(text: str) -> list[str]:
    # A light scan, not a parse: the key is needed before (and whether or not) the file validates.
    out = []
    for attrs in _PROCESS.findall(text):
        found = dict(_ATTR.findall(attrs))
        if found.get("id") and found.get("isExecutable", "true") != "false":
            out.append(found["id"])
    return out


@contextmanager
def workspace(files: dict[str, str]) -> Iterator[Path]:
    """Write a file set to a temporary folder laid out like the repository; remove it afterwards."""
    root = Path(tempfile.mkdtemp(prefix="pingan-draft-"))
    try:
        for path, text in check_files(files).items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        (root / "processes").mkdir(exist_ok=True)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def read_folder(root: Path) -> dict[str, str]:
    """Read the layout files of a repository-shaped folder into a file set (other files are skipped)."""
    out = {}
    for f in sorted(Path(root).rglob("*")):
        rel = f.relative_to(root).as_posix()
        if f.is_file() and file_kind(rel):
            out[rel] = f.read_text(encoding="utf-8-sig")
    return check_files(out)


def files_from_uploads(uploads: list[tuple[str, bytes]]) -> dict[str, str]:
    """Turn uploaded files (name, content) into a file set: a zip is unpacked, a bare file is placed by kind.

    A bare ``x.bpmn``/``x.dmn`` goes to ``processes/``; a bare ``.yaml`` is placed only when its
    name carries its layout path. Anything that fits nowhere is refused with its name.
    """
    files: dict[str, str] = {}
    for name, content in uploads:
        if name.lower().endswith(".zip"):
            files.update(_unzip(name, content))
            continue
        files[_place(name)] = _decode(name, content)
    if not files:
        raise EngineError("上传中没有可用的流程文件", message_en="the upload holds no process files")
    # Other tools' file names (C.1.0.bpmn) are fine here: the import names files by their process.
    return files


def _place(name: str) -> str:
    name = name.replace("\\", "/").lstrip("/")
    if file_kind(name):
        return name
    base = name.rsplit("/", 1)[-1]
    if base.lower().endswith((".bpmn", ".dmn")) and ".." not in base and base.strip("."):
        return f"processes/{base}"
    return check_path(name)


def _decode(name: str, content: bytes) -> str:
    if len(content) > MAX_FILE_CHARS * 4:
        raise EngineError(f"文件 {name} 过大", message_en=f"{name} is too large")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EngineError(f"文件 {name} 不是 UTF-8 编码", message_en=f"{name} is not UTF-8 encoded") from exc


def _unzip(name: str, content: bytes) -> dict[str, str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as exc:
        raise EngineError(f"{name} 不是有效的 zip 文件", message_en=f"{name} is not a valid zip file") from exc
    members = [i for i in archive.infolist() if not i.is_dir()]
    if len(members) > MAX_FILES or sum(i.file_size for i in members) > MAX_TOTAL_CHARS * 4:
        raise EngineError(f"{name} 内容过多或过大", message_en=f"{name} holds too many or too large files")
    # A zip of a folder may wrap everything in one top folder: strip it when the layout starts below.
    paths = [i.filename for i in members]
    prefix = _common_top(paths)
    out = {}
    for info in members:
        path = info.filename[len(prefix):]
        if path.startswith(".") or "/." in path or path.startswith("__MACOSX"):
            continue
        out[_place(path)] = _decode(info.filename, archive.read(info))
    return out


def _common_top(paths: list[str]) -> str:
    tops = {p.split("/", 1)[0] for p in paths}
    if len(tops) == 1 and all("/" in p for p in paths):
        top = next(iter(tops))
        if top not in ("processes", "forms", "tests"):
            return top + "/"
    return ""


def version_files(session: Session, *, key: str, version: int | None = None) -> dict[str, str]:
    """Return the files of a deployed version laid out like the repository (latest if no version).

    BPMN, DMN and parameters are the deployed text; forms are written back from their stored
    definition (same fields, comments lost); scenarios are the ones deployed with the version,
    else the repository's ``tests/scenarios/<key>/``.
    """
    definition = get_definition(session, key=key, version=version)
    files = {f"processes/{name}": text for name, text in (definition.sources or {}).items()}
    for form_key, data in sorted((definition.forms or {}).items()):
        files[f"forms/{form_key}.yaml"] = form_yaml(data)
    extra = session.scalar(select(VersionFiles).where(VersionFiles.process_key == definition.key,
                                                      VersionFiles.version == definition.version))
    if extra is not None:
        files.update(extra.files)
    else:
        files.update(repository_scenarios(session, key=definition.key))
    return files


def repository_scenarios(session: Session, *, key: str) -> dict[str, str]:
    """Return the scenario files of ``tests/scenarios/<key>/`` next to the configured processes folder."""
    root = context_of(session).settings.processes_dir.parent
    folder = root / "tests" / "scenarios" / key
    if not folder.is_dir():
        return {}
    return {f"tests/scenarios/{key}/{f.name}": f.read_text(encoding="utf-8")
            for f in sorted(folder.glob("*.yaml")) if file_kind(f"tests/scenarios/{key}/{f.name}")}


def form_yaml(data: dict) -> str:
    """Write a stored form definition back as YAML in the order forms are written (title, fields; name, label, type)."""
    # Rebuilt through the form model: JSONB (PostgreSQL) returns keys in its own order.
    body = {k: v for k, v in form_to_dict(form_from_dict(_plain(data))).items() if k != "key"}
    return yaml.dump(body, Dumper=_FormDumper, allow_unicode=True, sort_keys=False, width=120)


class _FormDumper(yaml.SafeDumper):
    """Short fields and lists of words on one line, as the shipped forms are written."""


def _represent_dict(dumper, value):
    flat = all(not isinstance(v, (dict, list)) for v in value.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(),
                                    flow_style=flat and len(str(value)) < 100)


def _represent_list(dumper, value):
    flat = all(not isinstance(v, (dict, list)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat and len(str(value)) < 100)


_FormDumper.add_representer(dict, _represent_dict)
_FormDumper.add_representer(list, _represent_list)


def _plain(value):
    # Stored definitions may come back as frozen dict/list subclasses; YAML wants plain ones.
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
