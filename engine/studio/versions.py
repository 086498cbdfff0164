"""Deployed versions: the list with note, who, when and running cases; deploying a draft; rollback.

Rollback is redeploying an earlier version's files. ``deployment.deploy`` treats content it has
seen as a no-op (so ``pingan init`` never undoes a designer's deploy); here, with ``rollback``,
content equal to an earlier version that is not the latest becomes a NEW version (a copy of that
one, with its own note, deployer and time), so new cases start on it. Content equal to the
latest version stays a no-op.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from .. import clock
from ..definitions.deployment import DeployResult, deploy
from ..errors import DefinitionInvalid, EngineError, NotFound
from ..org.orgs import Actor
from ..store.models import Instance, InstanceStatus, ProcessDefinition
from .access import require_designer
from .drafts import get_draft, mark_deployed
from .models import VersionFiles
from .validation import validate_files
from .workspace import file_kind, workspace

MAX_NOTE = 2000


@dataclass(frozen=True)
class VersionRow:
    key: str
    version: int
    name: str
    deployed_at: datetime
    deployed_by: str | None
    note: str | None
    running: int
    total: int
    latest: bool


def list_versions(session: Session, *, key: str, actor: Actor) -> list[VersionRow]:
    """Return every deployed version of a process, newest first, with its note and case counts."""
    require_designer(actor)
    rows = list(session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                                .options(undefer(ProcessDefinition.note))
                                .order_by(ProcessDefinition.version.desc())))
    if not rows:
        raise NotFound(f"流程 '{key}' 未部署", message_en=f"process '{key}' is not deployed")
    counts: dict[int, dict[str, int]] = {}
    for definition_id, status, n in session.execute(
            select(Instance.definition_id, Instance.status, func.count())
            .where(Instance.definition_id.in_([r.id for r in rows]))
            .group_by(Instance.definition_id, Instance.status)):
        counts.setdefault(definition_id, {})[status] = n
    return [VersionRow(r.key, r.version, r.name, r.deployed_at, r.deployed_by, r.note,
                       counts.get(r.id, {}).get(InstanceStatus.RUNNING, 0), sum(counts.get(r.id, {}).values()),
                       i == 0) for i, r in enumerate(rows)]


def content_digest(definition: ProcessDefinition) -> str:
    """Return the hash of a stored version's content, as ``deployment.validate`` computes it."""
    payload = [dict(definition.sources or {}), dict(definition.forms or {})]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def deploy_paths(session: Session, *, paths: list[Path | str], actor: str | None, note: str | None = None,
                 rollback: bool = False) -> list[DeployResult]:
    """Deploy files with a note; with ``rollback``, an earlier version's content becomes the newest version."""
    note = _check_note(note)
    results = deploy(session, paths=paths, actor=actor, note=note)
    if not rollback:
        return results
    return [_reactivate(session, r, actor=actor, note=note) if not r.created else r for r in results]


def deploy_draft(session: Session, *, draft_id: int, note: str | None, actor: Actor) -> DeployResult:
    """Validate and deploy a draft with a change note; its scenarios are kept with the version.

    Deploying a draft of an earlier version unchanged is the rollback (see the module docstring).
    """
    draft = get_draft(session, draft_id=draft_id, actor=actor)
    if not _check_note(note):
        raise EngineError("请填写变更说明：为什么发布这个版本", message_en="a change note (why) is required")
    files = dict(draft.files or {})
    problems = validate_files(files)
    if problems:
        raise DefinitionInvalid("草稿未通过校验，不能发布", message_en="the draft does not validate; not deployed",
                                details=problems)
    with workspace(files) as root:
        results = deploy_paths(session, paths=[root], actor=actor.username, note=note, rollback=True)
    main = next((r for r in results if r.key == draft.process_key), results[0])
    for result in results:
        scenarios = {p: t for p, t in files.items()
                     if file_kind(p) == "scenario" and p.startswith(f"tests/scenarios/{result.key}/")}
        if scenarios:
            _keep_files(session, key=result.key, version=result.version, files=scenarios)
    mark_deployed(session, draft=draft, version=main.version, actor=actor)
    session.flush()
    return main


def _reactivate(session: Session, result: DeployResult, *, actor: str | None, note: str | None) -> DeployResult:
    latest = session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == result.key)
                            .order_by(ProcessDefinition.version.desc()).limit(1))
    same = session.get(ProcessDefinition, result.definition_id)
    if latest.id == same.id or content_digest(latest) == same.content_hash:
        return DeployResult(result.key, latest.version, latest.id, False)
    version = latest.version + 1
    # One row per (key, content hash): the copy's hash also names its version; its content is the earlier one's.
    copy = ProcessDefinition(
        key=same.key, version=version, name=same.name,
        content_hash=hashlib.sha256(f"{same.content_hash}:v{version}".encode()).hexdigest(),
        spec=same.spec, sources=same.sources, forms=same.forms, config=same.config,
        deployed_at=clock.now(), deployed_by=actor,
        note=note or f"重新部署 v{same.version} 的内容（回退）")
    session.add(copy)
    extra = session.scalar(select(VersionFiles).where(VersionFiles.process_key == same.key,
                                                      VersionFiles.version == same.version))
    session.flush()
    if extra is not None:
        _keep_files(session, key=same.key, version=version, files=dict(extra.files))
    return DeployResult(same.key, version, copy.id, True)


def _keep_files(session: Session, *, key: str, version: int, files: dict[str, str]) -> None:
    """Store the scenarios deployed with a version (replacing those of a redeploy of the same content)."""
    row = session.scalar(select(VersionFiles).where(VersionFiles.process_key == key, VersionFiles.version == version))
    if row is None:
        session.add(VersionFiles(process_key=key, version=version, files=files))
    else:
        row.files = files
    session.flush()


def _check_note(note: str | None) -> str | None:
    if note is not None and not isinstance(note, str):
        raise EngineError("变更说明必须是文本", message_en="the change note must be text")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise EngineError(f"变更说明过长（上限 {MAX_NOTE} 字）", message_en=f"the change note is too long (limit {MAX_NOTE})")
    return note or None
