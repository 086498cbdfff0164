"""`pingan test PATH`: a working folder's scenarios, pass/fail in Chinese, exit 0 / 1 / 2."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from tests.scenario_player import library_files
from web.cli import main

GOOD = "tests/scenarios/mediation/not_accepted.yaml"


def write(folder: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder


def mediation_folder(folder: Path, *, broken: bool) -> Path:
    files = {p: t for p, t in library_files("mediation").items() if not p.startswith("tests/") or p == GOOD}
    if broken:
        raw = yaml.safe_load(files[GOOD])
        raw["expect"]["end"] = "end_closed"
        files["tests/scenarios/mediation/wrong_end.yaml"] = yaml.safe_dump(raw, allow_unicode=True)
    files["README.md"] = "not part of the layout: ignored"
    return write(folder, files)


def test_all_scenarios_pass_exit_0(tmp_path):
    result = CliRunner().invoke(main, ["test", str(mediation_folder(tmp_path, broken=False))])
    assert result.exit_code == 0, result.output
    assert "✓ 通过 mediation/not_accepted" in result.output
    assert "共 1 个场景：1 个通过，0 个失败" in result.output


def test_a_failing_scenario_prints_its_step_and_exits_1(tmp_path):
    result = CliRunner().invoke(main, ["test", str(mediation_folder(tmp_path, broken=True))])
    assert result.exit_code == 1, result.output
    assert "✓ 通过 mediation/not_accepted" in result.output
    assert "✗ 失败 mediation/wrong_end" in result.output
    assert "结束检查：案件结束于 end_not_accepted，预期结束于 end_closed" in result.output
    assert "共 2 个场景：1 个通过，1 个失败" in result.output


def test_only_and_json(tmp_path):
    folder = mediation_folder(tmp_path, broken=True)
    result = CliRunner().invoke(main, ["test", str(folder), "--only", "not_accepted", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["passed"], report["failed"]) == (1, 0)
    [scenario] = report["scenarios"]
    assert scenario["name"] == "mediation/not_accepted" and scenario["passed"] is True
    assert scenario["path"][-1] == "end_not_accepted"

    result = CliRunner().invoke(main, ["test", str(folder), "--only", "wrong_end", "--json"])
    assert result.exit_code == 1
    [scenario] = json.loads(result.output)["scenarios"]
    assert scenario["failing_step"] == {"index": 3, "kind": "end", "description": "结束时的检查"}

    result = CliRunner().invoke(main, ["test", str(folder), "--only", "nothing"])
    assert result.exit_code == 2 and "没有名为 nothing 的场景" in result.output


def test_a_folder_without_process_or_scenarios_exits_2(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["test", str(empty)])
    assert result.exit_code == 2
    assert "没有 processes/<流程>.bpmn" in result.output

    no_scenarios = write(tmp_path / "only_process",
                         {p: t for p, t in library_files("mediation").items() if not p.startswith("tests/")})
    result = CliRunner().invoke(main, ["test", str(no_scenarios)])
    assert result.exit_code == 2
    assert "没有 tests/scenarios/<流程>/<场景>.yaml" in result.output
