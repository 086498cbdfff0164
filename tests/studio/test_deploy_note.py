"""Deploying a draft with a change note; versions with note, who, when and running cases; rollback."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.context import Services
from engine.definitions.deployment import get_definition
from engine.errors import DefinitionInvalid, EngineError, NotAllowed
from engine.runtime.lifecycle import start_instance
from engine.store.db import make_session_factory
from engine.store.models import ProcessDefinition
from engine.studio import drafts
from engine.studio.models import VersionFiles
from engine.studio.versions import content_digest, deploy_draft, list_versions
from engine.studio.workspace import version_files
from tests.studio.conftest import REVIEW_FORM, add_review_step
from web import cli


def _review_draft(session, actor):
    draft = drafts.create_draft(session, actor=actor, process_key="mediation")
    drafts.put_file(session, draft_id=draft.id, path="processes/mediation.bpmn",
                    text=add_review_step(draft.files["processes/mediation.bpmn"]), base_revision=1, actor=actor)
    drafts.put_file(session, draft_id=draft.id, path="forms/mediation/review.yaml", text=REVIEW_FORM,
                    base_revision=2, actor=actor)
    return draft


def test_a_draft_deploys_as_a_new_version_with_who_when_and_why(session, actors, library, frozen):
    designer = actors("designer")
    draft = _review_draft(session, designer)
    result = deploy_draft(session, draft_id=draft.id, note="增加受理复核环节", actor=designer)
    assert (result.key, result.version, result.created) == ("mediation", 2, True)
    session.expire_all()
    rows = list_versions(session, key="mediation", actor=designer)
    assert [(r.version, r.note, r.deployed_by, r.latest) for r in rows] == [
        (2, "增加受理复核环节", "designer", True), (1, None, None, False)]
    assert rows[0].deployed_at == frozen.now()
    assert "review" in get_definition(session, key="mediation").spec["meta"]["user_tasks"]
    history = drafts.draft_history(session, draft_id=draft.id, actor=designer)
    assert (history[0].action, history[0].text) == ("deployed", "v2")
    assert drafts.get_draft(session, draft_id=draft.id, actor=designer).deployed_version == 2


def test_the_versions_list_counts_running_cases(session, actors, library):
    designer = actors("designer")
    start_instance(session, process_key="mediation", actor=actors("li.sl"), data={
        "source": "当事人申请", "dispute_type": "合同纠纷", "dispute_summary": "装修款纠纷", "description": "拒付尾款",
        "amount": 20000, "people_count": 2, "violence_risk": False, "township": "chengguan",
        "parties": [{"name": "王五", "role": "申请人"}, {"name": "某装修公司", "role": "被申请人"}]})
    deploy_draft(session, draft_id=_review_draft(session, designer).id, note="复核", actor=designer)
    counts = {r.version: (r.running, r.total) for r in list_versions(session, key="mediation", actor=designer)}
    assert counts == {1: (1, 1), 2: (0, 0)}


def test_a_note_is_required_and_an_invalid_draft_is_not_deployed(session, actors, library):
    designer = actors("designer")
    draft = _review_draft(session, designer)
    with pytest.raises(EngineError, match="变更说明"):
        deploy_draft(session, draft_id=draft.id, note="  ", actor=designer)
    drafts.remove_file(session, draft_id=draft.id, path="forms/mediation/review.yaml", base_revision=3, actor=designer)
    with pytest.raises(DefinitionInvalid) as caught:
        deploy_draft(session, draft_id=draft.id, note="少了表单", actor=designer)
    assert any(p.element_id == "review" for p in caught.value.details)
    assert get_definition(session, key="mediation").version == 1
    with pytest.raises(NotAllowed):
        deploy_draft(session, draft_id=draft.id, note="x", actor=actors("zheng.dc"))


def test_scenarios_deployed_with_a_version_come_back_with_it(session, actors, library):
    designer = actors("designer")
    draft = _review_draft(session, designer)
    scenario = "name: 复核\nstart: {}\nsteps: []\n"
    drafts.put_file(session, draft_id=draft.id, path="tests/scenarios/mediation/review.yaml", text=scenario,
                    base_revision=3, actor=designer)
    deploy_draft(session, draft_id=draft.id, note="带场景", actor=designer)
    assert version_files(session, key="mediation", version=2)["tests/scenarios/mediation/review.yaml"] == scenario
    assert session.scalar(select(VersionFiles.files).where(VersionFiles.version == 2,
                                                           VersionFiles.process_key == "mediation"))


def test_redeploying_an_earlier_version_is_the_rollback(session, actors, library):
    designer = actors("designer")
    deploy_draft(session, draft_id=_review_draft(session, designer).id, note="增加复核", actor=designer)
    # Deploying the latest content again changes nothing.
    same = drafts.create_draft(session, actor=designer, process_key="mediation", version=2)
    assert deploy_draft(session, draft_id=same.id, note="再发一次", actor=designer).created is False
    assert get_definition(session, key="mediation").version == 2
    # A draft of v1, deployed unchanged, becomes v3: new cases start on v1's content again.
    back = drafts.create_draft(session, actor=designer, process_key="mediation", version=1)
    result = deploy_draft(session, draft_id=back.id, note="复核环节暂停，回退到 v1", actor=designer)
    assert (result.version, result.created) == (3, True)
    v1, v3 = (get_definition(session, key="mediation", version=v) for v in (1, 3))
    assert content_digest(v3) == v1.content_hash and v3.content_hash != v1.content_hash
    assert "review" not in get_definition(session, key="mediation").spec["meta"]["user_tasks"]
    rows = list_versions(session, key="mediation", actor=designer)
    assert [(r.version, r.note, r.latest) for r in rows][0] == (3, "复核环节暂停，回退到 v1", True)
    # Deploying v1's content once more is a no-op: v3 already carries it.
    again = drafts.create_draft(session, actor=designer, process_key="mediation", version=1)
    assert deploy_draft(session, draft_id=again.id, note="再回退", actor=designer).version == 3
    assert session.scalar(select(ProcessDefinition.version).where(ProcessDefinition.key == "mediation")
                          .order_by(ProcessDefinition.version.desc()).limit(1)) == 3


@pytest.fixture
def cli_services(services, session, monkeypatch):
    """The command's sessions on the test's connection, rolled back with the test."""
    options = dict(join_transaction_mode="create_savepoint", info={"pingan": services.context})
    svc = Services(services.settings, services.engine, make_session_factory(session.bind, **options), services.context,
                   make_session_factory(session.bind, read_only=True, **options))
    monkeypatch.setattr(cli, "_services", lambda: svc)
    return svc


def test_pingan_deploy_note_and_rollback(cli_services, session, actors, library, tmp_path):
    from engine.studio.export import write_folder

    designer = actors("designer")
    v1 = tmp_path / "v1"
    write_folder(version_files(session, key="mediation", version=1), v1)
    deploy_draft(session, draft_id=_review_draft(session, designer).id, note="增加复核", actor=designer)
    session.commit()
    plain = CliRunner().invoke(cli.main, ["deploy", str(v1), "--note", "回到旧版", "--actor", "ops"])
    assert plain.exit_code == 0 and "mediation v1 未变化" in plain.output, plain.output
    rolled = CliRunner().invoke(cli.main, ["deploy", str(v1), "--note", "回到旧版", "--actor", "ops", "--rollback"])
    assert rolled.exit_code == 0 and "mediation v3 已部署" in rolled.output, rolled.output
    session.expire_all()
    latest = list_versions(session, key="mediation", actor=designer)[0]
    assert (latest.version, latest.note, latest.deployed_by) == (3, "回到旧版", "ops")
