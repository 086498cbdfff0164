"""Export a version as a folder or zip that `pingan deploy` and `pingan test` take."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.context import open_services
from engine.definitions.deployment import deploy, get_definition
from engine.errors import EngineError, NotAllowed
from engine.settings import load_settings
from engine.store.schema import upgrade
from engine.studio import drafts
from engine.studio.export import export_version, write_folder, zip_files
from engine.studio.versions import deploy_draft
from tests.studio.conftest import REVIEW_FORM, add_review_step
from tests.studio.test_deploy_note import cli_services  # noqa: F401 (fixture)
from web import cli

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "mediation" / "not_accepted.yaml"


def _with_review(scenario: str) -> str:
    """The shipped scenario with the new review step done first, as the designer would record it."""
    assert scenario.count("steps:\n") == 1
    return scenario.replace("steps:\n", "steps:\n  - {task: review, as: li.sl, data: {review_ok: true}}\n")


@pytest.fixture
def mediation_v2(session, actors, library):
    """mediation v2: a review step, its form and one scenario, deployed from a draft."""
    designer = actors("designer")
    draft = drafts.create_draft(session, actor=designer, process_key="mediation")
    for path, text in [("processes/mediation.bpmn", add_review_step(draft.files["processes/mediation.bpmn"])),
                       ("forms/mediation/review.yaml", REVIEW_FORM),
                       ("tests/scenarios/mediation/not_accepted.yaml", _with_review(SCENARIO.read_text(encoding="utf-8")))]:
        drafts.put_file(session, draft_id=draft.id, path=path, text=text, base_revision=draft.revision, actor=designer)
    return deploy_draft(session, draft_id=draft.id, note="增加复核", actor=designer).version


def test_an_exported_folder_deploys_elsewhere_to_the_same_content(session, mediation_v2, tmp_path):
    files = export_version(session, key="mediation", version=mediation_v2)
    assert {"processes/mediation.bpmn", "processes/mediation_risk.dmn", "processes/mediation.yaml",
            "forms/mediation/review.yaml", "tests/scenarios/mediation/not_accepted.yaml"} <= set(files)
    write_folder(files, tmp_path / "out")
    fresh = open_services(load_settings(env={}, development=True, database_url=f"sqlite:///{tmp_path / 'other.db'}",
                                        instance_path=tmp_path))
    try:
        upgrade(fresh.engine)
        with fresh.session() as other:
            [result] = deploy(other, paths=[tmp_path / "out"], actor="county-b")
            stored = other.get(type(get_definition(session, key="mediation")), result.definition_id)
            assert (result.key, result.version, result.created) == ("mediation", 1, True)
            assert stored.content_hash == get_definition(session, key="mediation", version=mediation_v2).content_hash
            assert "review" in stored.spec["meta"]["user_tasks"]
    finally:
        fresh.dispose()


def test_a_zip_holds_the_same_files_and_is_stable(session, mediation_v2):
    files = export_version(session, key="mediation", version=mediation_v2)
    data = zip_files(files)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == sorted(files)
        assert archive.read("forms/mediation/review.yaml").decode() == files["forms/mediation/review.yaml"]
    assert zip_files(files) == data


def test_export_refuses_staff_and_an_unknown_version_and_does_not_overwrite(session, actors, library, tmp_path):
    with pytest.raises(NotAllowed):
        export_version(session, key="mediation", actor=actors("wang.wg"))
    with pytest.raises(EngineError, match="未部署"):
        export_version(session, key="mediation", version=42)
    (tmp_path / "processes").mkdir()
    (tmp_path / "processes" / "mediation.yaml").write_text("name: 本地改过\n", encoding="utf-8")
    with pytest.raises(EngineError, match="已存在且内容不同"):
        write_folder(export_version(session, key="mediation"), tmp_path)
    assert (tmp_path / "processes" / "mediation.yaml").read_text(encoding="utf-8") == "name: 本地改过\n"
    assert not (tmp_path / "processes" / "mediation.bpmn").exists()


def test_pingan_export_then_deploy_and_test(cli_services, session, mediation_v2, tmp_path):  # noqa: F811
    session.commit()
    runner = CliRunner()
    out = tmp_path / "mediation.zip"
    result = runner.invoke(cli.main, ["export", "mediation", "--version", str(mediation_v2), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "tests/scenarios/mediation/not_accepted.yaml" in zipfile.ZipFile(out).namelist()
    folder = tmp_path / "repo"
    result = runner.invoke(cli.main, ["export", "mediation", "--dir", str(folder)])
    assert result.exit_code == 0 and (folder / "forms" / "mediation" / "review.yaml").is_file(), result.output
    again = runner.invoke(cli.main, ["deploy", str(folder)])
    assert again.exit_code == 0 and f"mediation v{mediation_v2} 未变化" in again.output, again.output
    tested = runner.invoke(cli.main, ["test", str(folder)])
    assert tested.exit_code == 0, tested.output
    assert runner.invoke(cli.main, ["export", "mediation"]).exit_code == 2
    missing = runner.invoke(cli.main, ["export", "no_such_process", "-o", str(tmp_path / "x.zip")])
    assert missing.exit_code == 1 and "未部署" in missing.output
