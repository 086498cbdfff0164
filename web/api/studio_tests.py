"""The studio's tests of a draft: run its scenarios, and play it to record a new one.

Only designers and administrators (engine/studio/access.py). Runs and plays happen on a throwaway
database with simulated time (engine/studio/sandbox.py); nothing reaches the real cases.
"""
from __future__ import annotations

import time
from dataclasses import asdict

from engine.studio import playground
from engine.studio.scenarios import list_draft_scenarios, run_draft_scenarios

from .. import db
from .common import ApiBlueprint, actor, errors
from .schemas_studio_tests import (
    PlayAdvanceRequest, PlayCompleteRequest, PlayMessageRequest, PlayStartRequest, PlayViewSchema, RecordingArgs,
    RecordingSchema, SavedRecordingSchema, SaveRecordingRequest, ScenarioEntrySchema, ScenarioReportSchema,
    ScenarioRunRequest,
)

blp = ApiBlueprint("studio_tests", __name__, url_prefix="",
                   description="流程设计：场景测试与试运行录制 (studio: scenario tests, recording by playing)")

DRAFT = "/drafts/<int(max=2147483647):draft_id>"
PLAY = DRAFT + "/play/<string(minlength=1,maxlength=64):play_id>"


@blp.route(DRAFT + "/scenarios", methods=["GET"])
@blp.response(200, ScenarioEntrySchema(many=True))
@errors(403)
def list_scenarios(draft_id: int):
    """草稿中的场景：名称、标题、步骤数；格式有误的文件给出原因（problem）。"""
    return [asdict(e) for e in list_draft_scenarios(db.session(), draft_id=draft_id, actor=actor())]


@blp.route(DRAFT + "/test", methods=["POST"])
@blp.arguments(ScenarioRunRequest)
@blp.response(200, ScenarioReportSchema)
@errors(403)
def run_tests(body, draft_id: int):
    """运行草稿的场景测试（tests/scenarios/<流程>/*.yaml）：临时数据库、模拟时间，逐个场景返回通过/失败、失败的步骤与原因、经过的元素。

    同步执行，整次运行上限 60 秒（超出的场景报告“未运行”）。`{"only": ["场景名"]}` 只运行指定场景。
    """
    started = time.monotonic()
    results = run_draft_scenarios(db.session(), draft_id=draft_id, actor=actor(), only=body.get("only"))
    passed = sum(r.passed for r in results)
    return {"scenarios": [r.as_dict() for r in results], "passed": passed, "failed": len(results) - passed,
            "seconds": round(time.monotonic() - started, 3)}


def _view(view: playground.PlayView) -> dict:
    return asdict(view)


@blp.route(DRAFT + "/play", methods=["POST"])
@blp.response(201, PlayViewSchema)
@errors(403)
def start_play(draft_id: int):
    """开始试运行：把草稿当前的文件部署到一个临时数据库（示范县的组织和用户，模拟时间从 2026-03-02 09:00 开始）。

    返回发起表单与可发起的用户。试运行属于开始它的设计员，闲置 2 小时失效；每人最多 3 个，再开始新的会结束最久未用的一个。
    """
    return _view(playground.start_play(db.session(), draft_id=draft_id, actor=actor()))


@blp.route(PLAY, methods=["GET"])
@blp.response(200, PlayViewSchema)
@errors(403)
def get_play(draft_id: int, play_id: str):
    """试运行的当前状态：案件、待办任务（表单 JSON Schema、可办理的用户）、等待中的定时器、经过的元素、已录制的步骤。"""
    return _view(playground.get_play(db.session(), draft_id=draft_id, play_id=play_id, actor=actor()))


@blp.route(PLAY, methods=["DELETE"])
@blp.response(204)
@errors(403)
def end_play(draft_id: int, play_id: str):
    """结束试运行，删除其临时数据库。"""
    playground.end_play(db.session(), draft_id=draft_id, play_id=play_id, actor=actor())
    return None


@blp.route(PLAY + "/start", methods=["POST"])
@blp.arguments(PlayStartRequest)
@blp.response(200, PlayViewSchema)
@errors(403, 409)
def play_start(body, draft_id: int, play_id: str):
    """以某个示范县用户发起案件：`{"as": "li.sl", "data": {...}, "org"?: "chengguan"}`。表单错误逐字段返回 (422)，不录制。"""
    return _view(playground.play_start(db.session(), draft_id=draft_id, play_id=play_id, actor=actor(),
                                       as_user=body["as_"], data=body["data"], org=body.get("org")))


@blp.route(PLAY + "/tasks/<string(minlength=1,maxlength=36):task_id>/complete", methods=["POST"])
@blp.arguments(PlayCompleteRequest)
@blp.response(200, PlayViewSchema)
@errors(403, 409)
def play_complete(body, draft_id: int, play_id: str, task_id: str):
    """以选定的用户办理待办任务：`{"as": "chen.tj", "data": {...}, "opinion"?: "..."}`。

    不能办理的用户返回 403，表单错误逐字段返回 (422)；被拒绝的操作不改变试运行，也不录制。
    """
    return _view(playground.play_complete(db.session(), draft_id=draft_id, play_id=play_id, actor=actor(),
                                          task_id=task_id, as_user=body["as_"], data=body["data"],
                                          opinion=body.get("opinion")))


@blp.route(PLAY + "/advance", methods=["POST"])
@blp.arguments(PlayAdvanceRequest)
@blp.response(200, PlayViewSchema)
@errors(403, 409)
def play_advance(body, draft_id: int, play_id: str):
    """推进模拟时间：`{"days": 30, "hours": 1}` 或 `{"workdays": 5}`；到期的定时器立即触发（超时提醒、期限、回访等）。"""
    return _view(playground.play_advance(db.session(), draft_id=draft_id, play_id=play_id, actor=actor(),
                                         days=body["days"], hours=body["hours"], workdays=body["workdays"]))


@blp.route(PLAY + "/message", methods=["POST"])
@blp.arguments(PlayMessageRequest)
@blp.response(200, PlayViewSchema)
@errors(403, 409)
def play_message(body, draft_id: int, play_id: str):
    """向试运行的案件投递外部消息：`{"name": "judicial_confirmation", "correlation": {...}, "payload": {...}}`。"""
    return _view(playground.play_message(db.session(), draft_id=draft_id, play_id=play_id, actor=actor(),
                                         name=body["name"], correlation=body["correlation"], payload=body["payload"]))


@blp.route(PLAY + "/recording", methods=["GET"])
@blp.arguments(RecordingArgs, location="query")
@blp.response(200, RecordingSchema)
@errors(403, 409)
def recording(args, draft_id: int, play_id: str):
    """预览将保存的场景文件（YAML）：发起、各步骤及每步后的待办、结束时的状态与已触发的定时器。"""
    return {"text": playground.recording_text(db.session(), draft_id=draft_id, play_id=play_id, actor=actor(),
                                              title=args["title"])}


@blp.route(PLAY + "/save", methods=["POST"])
@blp.arguments(SaveRecordingRequest)
@blp.response(201, SavedRecordingSchema)
@errors(403, 409)
def save_recording(body, draft_id: int, play_id: str):
    """把录制的步骤保存为草稿中的 `tests/scenarios/<流程>/<name>.yaml`（草稿新增一个修订）。

    `base_revision` 为草稿当前修订号，期间有人保存则 409；同名场景已存在且未给 `"overwrite": true` 时 409。
    """
    s = db.session()
    path, revision = playground.save_recording(s, draft_id=draft_id, play_id=play_id, actor=actor(),
                                               name=body["name"], title=body.get("title"),
                                               base_revision=body["base_revision"], overwrite=body["overwrite"])
    db.commit()
    return {"path": path, "revision": revision}
