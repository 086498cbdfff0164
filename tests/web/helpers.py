"""Shared helpers for the API tests: a process with personal data and file fields, quick case starts."""
from __future__ import annotations

from pathlib import Path

from engine.definitions.deployment import deploy
from tests.factories import only_task

PRIVACY_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="privacy_defs"
                  targetNamespace="http://pingan.example/bpmn">
  <bpmn:process id="privacy" name="求助登记" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_dispatcher" name="dispatcher">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>handle</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="handle" name="处理">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="handle" />
    <bpmn:sequenceFlow id="f2" sourceRef="handle" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""
PRIVACY_CONFIG = """name: 求助登记
title: "'求助：' + applicant + ' ' + phone"
start_roles: [dispatcher, grid_worker]
"""
PRIVACY_START = """title: 登记
fields:
  - {name: applicant, label: 求助人, type: text, required: true}
  - {name: phone, label: 联系电话, type: text, required: true, sensitive: true, pattern: '^1\\d{10}$'}
  - {name: id_number, label: 身份证号, type: text, sensitive: true}
"""
PRIVACY_HANDLE = """title: 处理
fields:
  - {name: result, label: 处理结果, type: textarea, required: true}
  - {name: photos, label: 现场照片, type: file, max_files: 3, accept: [jpg, png]}
"""
PHONE, ID_NUMBER = "13812345678", "110101199003071234"


def deploy_privacy(session, tmp_path: Path) -> None:
    """Deploy the `privacy` process (sensitive fields, a file field) into the test's transaction."""
    root = tmp_path / "privacy_repo"
    (root / "processes").mkdir(parents=True)
    (root / "forms" / "privacy").mkdir(parents=True)
    (root / "processes" / "privacy.bpmn").write_text(PRIVACY_BPMN, encoding="utf-8")
    (root / "processes" / "privacy.yaml").write_text(PRIVACY_CONFIG, encoding="utf-8")
    (root / "forms" / "privacy" / "start.yaml").write_text(PRIVACY_START, encoding="utf-8")
    (root / "forms" / "privacy" / "handle.yaml").write_text(PRIVACY_HANDLE, encoding="utf-8")
    deploy(session, paths=[root])
    session.commit()


def start_case(client, headers, process="review", data=None, **extra):
    """Start a case through the API; return the response JSON (asserting 201)."""
    response = client.post("/api/v1/instances", json={"process": process, "data": data or {}, **extra}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def open_task_id(body, element_id=None) -> str:
    tasks = body["open_tasks"]
    assert len(tasks) == 1, tasks
    if element_id:
        assert tasks[0]["element_id"] == element_id
    return tasks[0]["id"]


__all__ = ["deploy_privacy", "start_case", "open_task_id", "only_task", "PHONE", "ID_NUMBER"]
