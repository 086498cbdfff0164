"""The BPMN MIWG reference models through the import: how many Pingan accepts, and that each one accepted runs.

The figures are in docs/designer-guide.md ("导入其他工具的模型"); raise them here when the import
learns more, never lower them.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from sqlalchemy import select

from engine.definitions import deployment
from engine.org import orgs
from engine.org.orgs import actor_for
from engine.runtime import lifecycle, messages
from engine.store.models import EventWait, Instance, InstanceStatus, ProcessDefinition
from engine.studio.imports import convert_files
from engine.studio.workspace import workspace
from tests.factories import open_tasks

MIWG = Path("/work/shared/miwg")
REFERENCE = sorted((MIWG / "reference").glob("*.bpmn"))
pytestmark = pytest.mark.skipif(not REFERENCE, reason="the MIWG models are not on this machine")

# (default role, manual steps) -> models accepted, at least
FLOOR = {(None, False): 4, ("handler", False): 5, ("handler", True): 19}
# The only models still refused with a default role and manual steps: B.2.0 (conditional boundary and
# catch events without conditions, multi-instance activities with nothing to count) and C.6.0 (compensation).
REFUSED_WITH_MANUAL_STEPS = {"B.2.0", "C.6.0"}


def test_the_camunda_modeler_exports_are_accepted_at_least_as_measured():
    exports = sorted((MIWG / "camunda-modeler").glob("*.bpmn"))
    assert len(exports) == 13
    for (role, manual), floor in {("handler", False): 1, ("handler", True): 11}.items():
        accepted = [p.name for p in exports if not _imported(p, role, manual).problems]
        assert len(accepted) >= floor, (role, manual, accepted)


def _imported(path: Path, role, manual):
    return convert_files({path.name: path.read_text(encoding="utf-8")}, default_role=role, manual_steps=manual)


@pytest.mark.parametrize(("role", "manual"), sorted(FLOOR, key=str))
def test_the_import_accepts_at_least_the_measured_number_of_reference_models(role, manual):
    assert len(REFERENCE) == 21
    accepted = [p.name for p in REFERENCE if not _imported(p, role, manual).problems]
    assert len(accepted) >= FLOOR[(role, manual)], accepted
    if manual:
        assert {p.stem for p in REFERENCE} - {Path(a).stem for a in accepted} <= REFUSED_WITH_MANUAL_STEPS, accepted


@pytest.mark.parametrize("manual", [False, True])
def test_every_refusal_names_an_element_and_leaks_no_python_object(manual):
    for path in REFERENCE:
        for problem in _imported(path, "handler", manual).problems:
            text = f"{problem.message} {problem.message_en} {problem.hint or ''}"
            assert "object at 0x" not in text and not re.search(r"<Element \S+ at 0x", text), (path.name, text)
            assert problem.element_id or problem.file.startswith("forms/"), (path.name, str(problem))
            assert problem.message and problem.message_en, (path.name, str(problem))
            if problem.element_id:
                assert problem.element_id in problem.message or problem.file.startswith("forms/") or \
                    "'" in problem.message, (path.name, str(problem))


def test_validating_a_reference_model_as_it_is_names_the_element_in_each_problem():
    """Without the import, `pingan validate` itself refuses by element, in designer terms."""
    for path in REFERENCE:
        try:
            deployment.validate(deployment.collect_sources([path]))
        except deployment.DefinitionInvalid as exc:
            for problem in exc.details:
                assert problem.element_id, (path.name, str(problem))
                assert "object at 0x" not in problem.message + problem.message_en, (path.name, str(problem))


def _message_waits(session, inst: Instance) -> list[EventWait]:
    return list(session.scalars(select(EventWait).where(EventWait.instance_id == inst.id, EventWait.kind == "message")
                                .order_by(EventWait.id)))


def _run_to_the_end(session, key: str, actor) -> Instance:
    """Start a case; complete every open task with its required fields filled and send every message it waits for.

    What is left is a case that ended, or one waiting only on a timer.
    """
    inst = lifecycle.start_instance(session, process_key=key, actor=actor)
    visits: dict[str, int] = {}
    for _ in range(60):
        session.refresh(inst)
        tasks = open_tasks(session, inst.id)
        if inst.status != InstanceStatus.RUNNING:
            break
        if not tasks:
            waits = _message_waits(session, inst)
            if not waits:
                break
            # Another pool (or system) would send it; here the test does.
            messages.send_message(session, name=waits[0].name, correlation=waits[0].correlation, actor=actor)
            continue
        task = tasks[0]
        acting = actor_for(session, username=task.assignee.username) if task.assignee_id else actor
        definition = deployment.with_cached_json(session.get(ProcessDefinition, inst.definition_id))
        form = deployment.form_for(definition, task.form_key)
        visits[task.element_id] = visits.get(task.element_id, 0) + 1
        lifecycle.complete_task(session, task_id=task.id, data=_answers(form, actor, visits[task.element_id]),
                              actor=acting)
    session.refresh(inst)
    return inst


def _answers(form, actor, visit: int) -> dict:
    """Fill the required fields; a choice changes with each visit, so a loop ("Retry?") ends."""
    data = {}
    for field in form.fields if hasattr(form, "fields") else form.columns:  # a form, or a table's row
        if not field.required:
            continue
        kind = str(field.type)
        if field.options:
            choice = field.options[-visit % len(field.options)].value
            data[field.name] = [choice] if kind == "multiselect" else choice
        elif kind == "table":  # a list the next steps work through: two rows
            data[field.name] = [_answers(field, actor, visit) for _ in range(2)]
        elif kind == "boolean":
            data[field.name] = visit % 2 == 1
        elif kind in ("number", "integer"):
            data[field.name] = 1
        elif kind == "person":
            data[field.name] = actor.username
        elif kind == "datetime":
            data[field.name] = "2026-03-10T09:00:00+08:00"
        elif kind == "date":
            data[field.name] = "2026-03-10"
        else:
            data[field.name] = "x"
    return data


@pytest.mark.parametrize("path", REFERENCE, ids=lambda p: p.stem)
def test_an_accepted_reference_model_deploys_and_a_case_runs_through_it(session, path):
    imported = _imported(path, "handler", True)
    if path.stem in REFUSED_WITH_MANUAL_STEPS and imported.problems:
        pytest.skip(f"refused: {imported.problems[0]}")
    assert imported.problems == []
    with workspace(imported.files) as root:
        results = deployment.deploy(session, paths=[root], actor="import-test")
    assert results
    actor = actor_for(session, username="zhou.ga")  # 承办人 (handler) of the police unit
    if "'demo'" in "".join(imported.files.values()):  # Camunda's example assigns tasks to the user demo
        orgs.create_user(session, username="demo", name="示例用户", org_code="police", password="demo-password-1")
    for result in results:
        inst = _run_to_the_end(session, result.key, actor)
        assert inst.status in (InstanceStatus.COMPLETED, InstanceStatus.RUNNING), (result.key, inst.status, inst.error)
        if inst.status == InstanceStatus.RUNNING:
            # Still running only while it waits on a timer, never on a task nobody can do or a message.
            assert not open_tasks(session, inst.id), (result.key, [t.element_id for t in open_tasks(session, inst.id)])
            assert not _message_waits(session, inst), (result.key, [w.name for w in _message_waits(session, inst)])


def test_a_model_calling_another_file_runs_when_both_are_imported_together(session):
    """C.9.2 calls requestDocument_en, drawn in C.9.1: alone, a person confirms it was done elsewhere; together, it is called."""
    pair = {p.name: p.read_text(encoding="utf-8") for p in REFERENCE if p.stem in ("C.9.1", "C.9.2")}
    alone = convert_files({"C.9.2.bpmn": pair["C.9.2.bpmn"]}, default_role="handler", manual_steps=False)
    [problem] = [p for p in alone.problems if "requestDocument_en" in p.message]
    assert problem.element_id == "CallActivity_RequestDocument" and "一起" in problem.message
    alone = convert_files({"C.9.2.bpmn": pair["C.9.2.bpmn"]}, default_role="handler", manual_steps=True)
    assert alone.problems == []
    assert 'name="在外部办理 Document Request 后确认"' in alone.files["processes/ManualCheck.bpmn"]
    imported = convert_files(pair, default_role="handler", manual_steps=True)
    assert imported.problems == []
    assert 'calledElement="requestDocument_en"' in imported.files["processes/ManualCheck.bpmn"]
    with workspace(imported.files) as root:
        keys = {r.key for r in deployment.deploy(session, paths=[root], actor="import-test")}
    assert keys == {"ManualCheck", "requestDocument_en"}
    inst = _run_to_the_end(session, "ManualCheck", actor_for(session, username="zhou.ga"))
    assert inst.status in (InstanceStatus.COMPLETED, InstanceStatus.RUNNING), inst.error
