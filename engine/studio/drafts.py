"""Drafts: a procedure's files being changed in the studio, saved server-side one revision per save.

Two designers may open one draft; each save names the revision it edited, and a save on an
older revision is refused (409) naming who saved in between, so nothing is silently overwritten.
"""
from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import yaml

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..context import context_of
from ..errors import Conflict, EngineError, NotFound, Problem
from ..org.orgs import Actor
from ..store.models import ProcessDefinition, User
from .access import require_designer
from .imports import convert_files
from .models import Draft, DraftRevision
from .validation import validate_files
from .workspace import check_files, check_path, check_text, process_keys, version_files

__all__ = ["create_draft", "get_draft", "draft_files", "put_file", "remove_file", "draft_history", "draft_revision",
           "list_drafts",
           "version_files", "skeleton", "Draft"]

_KEY = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"


def create_draft(session: Session, *, actor: Actor, process_key: str | None = None, version: int | None = None,
                 files: dict[str, str] | None = None, name: str | None = None) -> Draft:
    """Start a draft from uploaded files, from a deployed version (latest if none given), or empty.

    A ``process_key`` that is not deployed (or none at all) with no files gives the skeleton of a
    new process under that key (default ``new_process``).
    """
    require_designer(actor)
    base_version = None
    imported = None
    if files is not None:
        # Files from Camunda Modeler, bpmn.io and other tools: their settings become Pingan's, what
        # cannot be converted is listed (validation shows it again in the editor); Pingan's own come back as they are.
        imported = convert_files({path: check_text(path, text) for path, text in files.items()})
        files = check_files(imported.files)
        keys = process_keys(files)
        if not keys:
            raise EngineError("上传的文件中没有 BPMN 流程（processes/<流程>.bpmn）",
                              message_en="the files hold no BPMN process (processes/<key>.bpmn)")
        key = process_key if process_key in keys else keys[0]
    elif process_key and _deployed(session, process_key):
        definition_files = version_files(session, key=process_key, version=version)
        base_version = version or _latest_version(session, process_key)
        key, files = process_key, definition_files
    elif version is not None:
        raise NotFound(f"流程 '{process_key}' 未部署", message_en=f"process '{process_key}' is not deployed")
    else:
        key = process_key or "new_process"
        _check_key(key)
        files = skeleton(key, name or "新流程")
    now = clock.now()
    draft = Draft(process_key=key, name=(name or _default_name(key, base_version))[:200], base_version=base_version,
                  revision=1, files=files, created_by=actor.username, created_at=now, updated_by=actor.username,
                  updated_at=now)
    session.add(draft)
    session.flush()
    session.add(DraftRevision(draft_id=draft.id, revision=1, action="created", path=None, text=None,
                              saved_by=actor.username, saved_at=now))
    session.flush()
    # What the import changed and refused, for the caller to show once (not stored).
    draft.import_changes = list(imported.changes) if imported else []
    draft.import_problems = list(imported.problems) if imported else []
    return draft


def get_draft(session: Session, *, draft_id: int, actor: Actor) -> Draft:
    """Return a draft the actor may design."""
    require_designer(actor)
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(f"草稿 {draft_id} 不存在", message_en=f"draft {draft_id} not found")
    return draft


def list_drafts(session: Session, *, actor: Actor, process_key: str | None = None) -> list[Draft]:
    """Return the drafts, newest change first, optionally of one process."""
    require_designer(actor)
    query = select(Draft).order_by(Draft.updated_at.desc(), Draft.id.desc())
    if process_key:
        query = query.where(Draft.process_key == process_key)
    return list(session.scalars(query))


def draft_files(session: Session, *, draft_id: int, actor: Actor) -> dict[str, str]:
    """Return a draft's files (path -> text)."""
    return dict(get_draft(session, draft_id=draft_id, actor=actor).files or {})


def put_file(session: Session, *, draft_id: int, path: str, text: str, base_revision: int, actor: Actor) -> Draft:
    """Save one file of a draft as a new revision; refuse if someone saved since ``base_revision``."""
    check_path(path)
    check_text(path, text)
    draft = _locked(session, draft_id, actor, base_revision)
    files = dict(draft.files or {})
    if files.get(path) == text:
        return draft
    files[path] = text
    check_files(files)
    return _save(session, draft, files, actor, action="saved", path=path, text=text)


def remove_file(session: Session, *, draft_id: int, path: str, base_revision: int, actor: Actor) -> Draft:
    """Remove one file from a draft as a new revision (the last BPMN file stays)."""
    check_path(path)
    draft = _locked(session, draft_id, actor, base_revision)
    files = dict(draft.files or {})
    if path not in files:
        raise NotFound(f"草稿中没有文件 {path}", message_en=f"the draft has no file {path}")
    del files[path]
    if not process_keys(files):
        raise EngineError("草稿至少要保留一个 BPMN 流程文件", message_en="a draft keeps at least one BPMN file")
    return _save(session, draft, files, actor, action="removed", path=path, text=None)


def draft_history(session: Session, *, draft_id: int, actor: Actor) -> list[DraftRevision]:
    """Return a draft's revisions, newest first: who saved which file when."""
    draft = get_draft(session, draft_id=draft_id, actor=actor)
    return list(session.scalars(select(DraftRevision).where(DraftRevision.draft_id == draft.id)
                                .order_by(DraftRevision.revision.desc())))


def draft_revision(session: Session, *, draft_id: int, revision: int, actor: Actor) -> DraftRevision:
    """Return one revision of a draft: the file it saved and that file's text after the save."""
    draft = get_draft(session, draft_id=draft_id, actor=actor)
    row = session.scalar(select(DraftRevision).where(DraftRevision.draft_id == draft.id,
                                                     DraftRevision.revision == revision))
    if row is None:
        raise NotFound(f"草稿 {draft_id} 没有第 {revision} 版", message_en=f"draft {draft_id} has no revision {revision}")
    return row


def mark_deployed(session: Session, *, draft: Draft, version: int, actor: Actor) -> Draft:
    """Record on a draft that it became ``version`` (a revision of its own in the history)."""
    now = clock.now()
    draft.revision += 1
    draft.deployed_version = version
    draft.updated_by, draft.updated_at = actor.username, now
    session.add(DraftRevision(draft_id=draft.id, revision=draft.revision, action="deployed", path=None,
                              text=f"v{version}", saved_by=actor.username, saved_at=now))
    session.flush()
    return draft


def display_name(session: Session, username: str) -> str:
    """Return a user's name for messages, or the username when there is no such user."""
    return session.scalar(select(User.name).where(User.username == username)) or username


def _locked(session: Session, draft_id: int, actor: Actor, base_revision: int) -> Draft:
    require_designer(actor)
    draft = session.scalars(select(Draft).where(Draft.id == draft_id).with_for_update()).first()
    if draft is None:
        raise NotFound(f"草稿 {draft_id} 不存在", message_en=f"draft {draft_id} not found")
    session.refresh(draft)
    if base_revision != draft.revision:
        tz = ZoneInfo(context_of(session).settings.timezone)
        when = draft.updated_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        who = display_name(session, draft.updated_by)
        raise Conflict(f"草稿已被 {who} 于 {when} 保存为第 {draft.revision} 版，您编辑的是第 {base_revision} 版；"
                       "请先载入最新内容再保存，您的修改未保存",
                       message_en=f"{draft.updated_by} saved revision {draft.revision} at {when}; you edited "
                                  f"revision {base_revision}. Reload before saving; your change was not saved")
    return draft


def _save(session: Session, draft: Draft, files: dict, actor: Actor, *, action: str, path: str,
          text: str | None) -> Draft:
    now = clock.now()
    draft.files = files
    draft.revision += 1
    draft.updated_by, draft.updated_at = actor.username, now
    keys = process_keys(files)
    if draft.process_key not in keys and keys:
        draft.process_key = keys[0]
    session.add(DraftRevision(draft_id=draft.id, revision=draft.revision, action=action, path=path, text=text,
                              saved_by=actor.username, saved_at=now))
    session.flush()
    return draft


def _deployed(session: Session, key: str) -> bool:
    return session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key).limit(1)) is not None


def _latest_version(session: Session, key: str) -> int:
    return session.scalar(select(ProcessDefinition.version).where(ProcessDefinition.key == key)
                          .order_by(ProcessDefinition.version.desc()).limit(1))


def _default_name(key: str, version: int | None) -> str:
    return f"{key} v{version} 的草稿" if version else f"{key} 草稿"


def _check_key(key: str) -> None:
    if not re.match(_KEY, key):
        raise EngineError(f"流程标识 '{key[:100]}' 不合法：以字母开头，只含字母、数字和下划线",
                          message_en="a process key starts with a letter and holds letters, digits and underscores")


def skeleton(key: str, name: str) -> dict[str, str]:
    """Return the files of the smallest valid process: start, end, one flow, with diagram layout."""
    bpmn = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
                  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="{key}_definitions" targetNamespace="http://pingan.example/bpmn/{key}">
  <bpmn:process id="{key}" name="{_xml(name)}" isExecutable="true">
    <bpmn:startEvent id="start" name="开始">
      <bpmn:outgoing>flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:endEvent id="end" name="办结">
      <bpmn:incoming>flow_1</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="flow_1" sourceRef="start" targetRef="end" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="{key}_diagram">
    <bpmndi:BPMNPlane id="{key}_plane" bpmnElement="{key}">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="180" y="160" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end">
        <dc:Bounds x="400" y="160" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="flow_1_di" bpmnElement="flow_1">
        <di:waypoint x="216" y="178" />
        <di:waypoint x="400" y="178" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
    config = yaml.safe_dump({"name": name}, allow_unicode=True)
    return {f"processes/{key}.bpmn": bpmn, f"processes/{key}.yaml": config}


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def validate_draft(session: Session, *, draft_id: int, actor: Actor) -> list[Problem]:
    """Return the problems of a draft's current files (empty when it may be deployed)."""
    return validate_files(draft_files(session, draft_id=draft_id, actor=actor))
