"""Export a deployed version as a folder or zip laid out like the repository.

What comes out (BPMN, DMN, parameters, forms, scenarios) is what ``pingan deploy`` and
``pingan test`` take, so a county can keep its procedures in git.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from sqlalchemy.orm import Session

from ..errors import EngineError
from ..org.orgs import Actor
from .access import require_designer
from .workspace import check_files, version_files


def export_version(session: Session, *, key: str, version: int | None = None,
                   actor: Actor | None = None) -> dict[str, str]:
    """Return the files of a version (latest if none); an actor must be a designer (the CLI passes none)."""
    if actor is not None:
        require_designer(actor)
    return version_files(session, key=key, version=version)


def zip_files(files: dict[str, str]) -> bytes:
    """Return a zip of a file set, paths as in the repository, in path order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, text in sorted(check_files(files).items()):
            info = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()


def write_folder(files: dict[str, str], folder: Path) -> list[Path]:
    """Write a file set under ``folder`` (created if needed), refusing to overwrite a different file."""
    folder = Path(folder)
    written = []
    for path, text in sorted(check_files(files).items()):
        target = folder / path
        if target.exists() and target.read_text(encoding="utf-8") != text:
            raise EngineError(f"{target} 已存在且内容不同，未导出", message_en=f"{target} exists with other content")
    for path, text in sorted(files.items()):
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
