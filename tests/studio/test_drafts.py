"""Drafts: started from a version, an upload or empty; saved with history; conflicts refused; paths checked."""
from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import func, select

from engine.errors import Conflict, EngineError, NotAllowed, NotFound
from engine.studio import drafts
from engine.studio.models import Draft, DraftRevision
from engine.studio.validation import validate_files
from engine.studio.workspace import files_from_uploads, version_files, workspace


def test_a_draft_from_a_deployed_version_holds_its_files(session, actors, library):
    draft = drafts.create_draft(session, actor=actors("designer"), process_key="mediation")
    files = drafts.draft_files(session, draft_id=draft.id, actor=actors("designer"))
    assert draft.process_key == "mediation" and draft.revision == 1 and draft.base_version == 1
    assert {"processes/mediation.bpmn", "processes/mediation.yaml", "processes/mediation_risk.dmn",
            "forms/mediation/accept.yaml", "forms/mediation/start.yaml"} <= set(files)
    assert files["processes/mediation.bpmn"].startswith("<?xml")
    # The files as they come out validate as they went in: the draft is deployable unchanged.
    assert validate_files(files) == []


def test_version_files_of_a_version_round_trip_to_the_same_content(session, library):
    from engine.definitions.deployment import collect_sources, validate

    files = version_files(session, key="mediation", version=1)
    with workspace(files) as root:
        [valid] = [v for v in validate(collect_sources([root])) if v.parsed.key == "mediation"]
    from engine.definitions.deployment import get_definition

    assert valid.content_hash == get_definition(session, key="mediation", version=1).content_hash


def test_an_empty_draft_is_a_valid_skeleton_with_layout(session, actors):
    draft = drafts.create_draft(session, actor=actors("designer"), process_key="hall_visit", name="来访登记")
    files = draft.files
    assert sorted(files) == ["processes/hall_visit.bpmn", "processes/hall_visit.yaml"]
    assert "BPMNShape" in files["processes/hall_visit.bpmn"] and 'name="来访登记"' in files["processes/hall_visit.bpmn"]
    assert draft.base_version is None
    assert validate_files(files) == []
    unnamed = drafts.create_draft(session, actor=actors("admin"))
    assert unnamed.process_key == "new_process" and validate_files(unnamed.files) == []


def test_a_draft_from_uploaded_files_and_from_a_zip(session, actors):
    skeleton = drafts.skeleton("upload_demo", "上传")
    bare = files_from_uploads([("upload_demo.bpmn", skeleton["processes/upload_demo.bpmn"].encode()),
                               ("processes/upload_demo.yaml", skeleton["processes/upload_demo.yaml"].encode())])
    draft = drafts.create_draft(session, actor=actors("designer"), files=bare)
    assert draft.process_key == "upload_demo" and sorted(draft.files) == sorted(skeleton)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in skeleton.items():
            archive.writestr(f"my-export/{path}", text)
        archive.writestr("my-export/README.txt", "ignored? no: refused")
    with pytest.raises(EngineError, match="不允许的文件路径"):
        files_from_uploads([("export.zip", buffer.getvalue())])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in skeleton.items():
            archive.writestr(f"my-export/{path}", text)
    zipped = drafts.create_draft(session, actor=actors("designer"), files=files_from_uploads([("x.zip", buffer.getvalue())]))
    assert zipped.files == skeleton


def test_each_save_is_a_revision_with_who_and_when(session, actors, frozen):
    designer = actors("designer")
    draft = drafts.create_draft(session, actor=designer, process_key="hist")
    path = "processes/hist.yaml"
    drafts.put_file(session, draft_id=draft.id, path=path, text="name: 第二版\n", base_revision=1, actor=designer)
    drafts.put_file(session, draft_id=draft.id, path="forms/hist/check.yaml", text="title: 核查\nfields: []\n",
                    base_revision=2, actor=actors("admin"))
    history = drafts.draft_history(session, draft_id=draft.id, actor=designer)
    assert [(h.revision, h.action, h.path, h.saved_by) for h in history] == [
        (3, "saved", "forms/hist/check.yaml", "admin"), (2, "saved", path, "designer"), (1, "created", None, "designer")]
    assert history[1].text == "name: 第二版\n" and history[0].saved_at == frozen.now()
    assert drafts.draft_files(session, draft_id=draft.id, actor=designer)[path] == "name: 第二版\n"
    assert draft.revision == 3 and draft.updated_by == "admin"


def test_a_save_on_a_stale_revision_is_refused_naming_who_saved(session, actors):
    designer, admin = actors("designer"), actors("admin")
    draft = drafts.create_draft(session, actor=designer, process_key="race")
    drafts.put_file(session, draft_id=draft.id, path="processes/race.yaml", text="name: 甲\n", base_revision=1,
                    actor=admin)
    with pytest.raises(Conflict) as caught:
        drafts.put_file(session, draft_id=draft.id, path="processes/race.yaml", text="name: 乙\n", base_revision=1,
                        actor=designer)
    assert caught.value.status == 409
    assert "系统管理员" in caught.value.message and "第 2 版" in caught.value.message
    session.expire_all()
    assert drafts.draft_files(session, draft_id=draft.id, actor=designer)["processes/race.yaml"] == "name: 甲\n"
    assert session.scalar(select(func.count()).select_from(DraftRevision)
                          .where(DraftRevision.draft_id == draft.id)) == 2


@pytest.mark.parametrize("username", ["wang.wg", "zheng.dc", "he.ld"])
def test_staff_may_not_use_drafts(session, actors, username):
    designer_draft = drafts.create_draft(session, actor=actors("designer"), process_key="mine")
    before = session.scalar(select(func.count()).select_from(Draft))
    with pytest.raises(NotAllowed):
        drafts.create_draft(session, actor=actors(username), process_key="theirs")
    with pytest.raises(NotAllowed):
        drafts.get_draft(session, draft_id=designer_draft.id, actor=actors(username))
    with pytest.raises(NotAllowed):
        drafts.put_file(session, draft_id=designer_draft.id, path="processes/mine.yaml", text="name: x\n",
                        base_revision=1, actor=actors(username))
    assert session.scalar(select(func.count()).select_from(Draft)) == before
    assert designer_draft.revision == 1


@pytest.mark.parametrize("path", ["../etc/passwd", "processes/../../x.bpmn", "/etc/passwd", "processes/a.py",
                                  "forms/x.yaml", "tests/scenarios/k/a/b.yaml", "processes/.hidden.bpmn",
                                  "processes/a b.bpmn", "static/evil.js"])
def test_a_path_outside_the_repository_layout_is_refused_and_nothing_changes(session, actors, path):
    designer = actors("designer")
    draft = drafts.create_draft(session, actor=designer, process_key="paths")
    before = dict(draft.files)
    with pytest.raises(EngineError, match="不允许的文件路径"):
        drafts.put_file(session, draft_id=draft.id, path=path, text="x", base_revision=1, actor=designer)
    session.expire_all()
    assert drafts.get_draft(session, draft_id=draft.id, actor=designer).revision == 1
    assert drafts.draft_files(session, draft_id=draft.id, actor=designer) == before


def test_size_limits_and_the_last_bpmn_file(session, actors):
    designer = actors("designer")
    draft = drafts.create_draft(session, actor=designer, process_key="sizes")
    with pytest.raises(EngineError, match="过大"):
        drafts.put_file(session, draft_id=draft.id, path="processes/sizes.yaml", text="x" * 1_000_001,
                        base_revision=1, actor=designer)
    with pytest.raises(EngineError, match="至少要保留一个 BPMN"):
        drafts.remove_file(session, draft_id=draft.id, path="processes/sizes.bpmn", base_revision=1, actor=designer)
    drafts.remove_file(session, draft_id=draft.id, path="processes/sizes.yaml", base_revision=1, actor=designer)
    assert sorted(draft.files) == ["processes/sizes.bpmn"] and draft.revision == 2


def test_an_unknown_draft_or_version(session, actors, library):
    with pytest.raises(NotFound):
        drafts.get_draft(session, draft_id=987654, actor=actors("designer"))
    with pytest.raises(NotFound):
        drafts.create_draft(session, actor=actors("designer"), process_key="mediation", version=99)


def test_a_stored_form_comes_back_as_yaml_written_like_the_shipped_ones():
    import json
    from pathlib import Path

    from engine.definitions.forms import form_to_dict, parse_form
    from engine.studio.workspace import form_yaml

    text = (Path(__file__).resolve().parents[2] / "forms" / "mediation" / "accept.yaml").read_text(encoding="utf-8")
    stored = form_to_dict(parse_form(text, key="mediation/accept"))
    # PostgreSQL's JSONB hands keys back in its own order; the YAML must not follow it.
    shuffled = json.loads(json.dumps(stored, sort_keys=True))
    written = form_yaml(shuffled)
    assert written.startswith("title: 受理审查\ntitle_en: Acceptance review\nfields:\n")
    assert "- {name: accepted, label: 是否受理, type: boolean, required: true}\n" in written
    assert form_to_dict(parse_form(written, key="mediation/accept")) == stored


def test_two_designers_saving_the_same_revision_at_once_one_wins_one_is_told(services):
    """Real transactions in two threads: the row lock (PostgreSQL) or the write lock (SQLite) orders them."""
    import threading

    from sqlalchemy import delete

    from engine.org.orgs import actor_for

    with services.session() as s:
        draft_id = drafts.create_draft(s, actor=actor_for(s, username="designer"), process_key="race_threads").id
    barrier, outcomes = threading.Barrier(2), {}

    def save(username: str) -> None:
        barrier.wait()
        try:
            with services.session() as s:
                drafts.put_file(s, draft_id=draft_id, path="processes/race_threads.yaml", text=f"name: {username}\n",
                                base_revision=1, actor=actor_for(s, username=username))
            outcomes[username] = "saved"
        except Conflict as exc:
            outcomes[username] = exc.message

    try:
        threads = [threading.Thread(target=save, args=(u,)) for u in ("designer", "admin")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == ["admin", "designer"]
        winner = next(u for u, o in outcomes.items() if o == "saved")
        loser = next(u for u, o in outcomes.items() if o != "saved")
        assert "第 2 版" in outcomes[loser] and {"designer": "流程设计员", "admin": "系统管理员"}[winner] in outcomes[loser]
        with services.session() as s:
            row = s.get(Draft, draft_id)
            assert (row.revision, row.files["processes/race_threads.yaml"]) == (2, f"name: {winner}\n")
    finally:
        with services.session() as s:
            s.execute(delete(DraftRevision).where(DraftRevision.draft_id == draft_id))
            s.execute(delete(Draft).where(Draft.id == draft_id))


def test_an_uploaded_file_named_otherwise_keeps_its_process_id(session, actors):
    from engine.studio.versions import deploy_draft

    bpmn = drafts.skeleton("visit_log", "来访登记")["processes/visit_log.bpmn"]
    draft = drafts.create_draft(session, actor=actors("designer"),
                                files=files_from_uploads([("diagram_1.bpmn", bpmn.encode())]))
    assert draft.process_key == "visit_log" and list(draft.files) == ["processes/visit_log.bpmn"]  # named by its process
    result = deploy_draft(session, draft_id=draft.id, note="从建模器导入", actor=actors("designer"))
    assert (result.key, result.version) == ("visit_log", 1)
