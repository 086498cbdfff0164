"""Tasks: the four work lists, one task with its form, and every operation staff perform on a task."""
from __future__ import annotations

from engine.cases import queries
from engine.cases.summaries import case_summaries, open_tasks, task_detail, task_summaries, user_names, visible_task
from engine.runtime import drafts, lifecycle, tasks
from engine.signing import operations as signing
from engine.store.models import HumanTask, Instance, InstanceStatus

from .. import db
from .common import ApiBlueprint, actor, errors
from .schemas import (
    AddSignersRequest, OutcomeArgs, SignRequest,
    CcItemSchema, CcRequest, CcResultSchema, CompleteRequest, DraftRequest, OpinionRequest, ResolveRequest,
    ReturnRequest, TaskDetailSchema, TaskListArgs, TaskListSchema, TaskOutcomeSchema, TaskSchema, TransferRequest,
    UrgeResultSchema,
)

blp = ApiBlueprint("tasks", __name__, url_prefix="/tasks", description="任务 (human tasks)")


@blp.route("", methods=["GET"])
@blp.arguments(TaskListArgs, location="query")
@blp.response(200, TaskListSchema)
@errors()
def list_tasks(args):
    """工作列表：`view=todo` 待办（按期限排序，附状态灯计数）、`done` 已办、`cc` 抄送我的、`started` 我发起的。

    todo/done 的每项是任务 (Task)，cc/started 的每项是案件摘要 (CaseSummary)；个人信息打码。
    """
    who, s = actor(), db.session()
    view, limit, offset = args["view"], args["limit"], args["offset"]
    if view == "todo":
        flt = queries.TaskFilter(process=args.get("process"), org_code=args.get("org"), limit=limit, offset=offset,
                                 light=queries.Light(args["light"]) if args.get("light") else None)
        rows = queries.todo(s, actor=who, flt=flt)
        return {"view": view, "items": _dump_tasks(task_summaries(s, rows)),
                "counts": queries.todo_counts(s, actor=who)}
    if view == "done":
        return {"view": view, "items": _dump_tasks(task_summaries(s, queries.done(s, actor=who, limit=limit, offset=offset)))}
    if view == "cc":
        pairs = queries.copied_to_me(s, actor=who, limit=limit, offset=offset)
        items = case_summaries(s, [instance for _, instance in pairs])
        names = user_names(s, {cc.sent_by_id for cc, _ in pairs})
        for item, (cc, _) in zip(items, pairs):
            item |= {"cc_at": cc.sent_at, "cc_by": names.get(cc.sent_by_id)}
        return {"view": view, "items": _dump_cases(items)}
    started = queries.started_by_me(s, actor=who, limit=limit, offset=offset)
    return {"view": view, "items": _dump_cases(case_summaries(s, started))}


def _dump_tasks(rows: list[dict]) -> list[dict]:
    return TaskSchema(many=True).dump(rows)


def _dump_cases(rows: list[dict]) -> list[dict]:
    return CcItemSchema(many=True).dump(rows)


@blp.route("/<string:task_id>", methods=["GET"])
@blp.response(200, TaskDetailSchema)
@errors()
def get_task(task_id: str):
    """任务详情：表单 (`form_schema`, JSON Schema)、案件数据、草稿、当前用户可执行的操作、可退回的步骤。"""
    who, s = actor(), db.session()
    return task_detail(s, task=visible_task(s, task_id=task_id[:36], actor=who), actor=who)


def _outcome(s, task_id: str, instance: Instance) -> dict:
    task = s.get(HumanTask, task_id)
    return {"task": task_summaries(s, [task])[0], "instance": case_summaries(s, [instance])[0],
            "open_tasks": task_summaries(s, _still_open(s, instance))}


def _operate(task_id: str, operation) -> dict:
    """Check the task is visible (404 otherwise), run one engine operation, commit, describe the result."""
    who, s = actor(), db.session()
    task = visible_task(s, task_id=task_id[:36], actor=who)
    # Held while the engine reloads the case under its lock, so the summaries below need not
    # read it again (the session only keeps objects something refers to).
    instance = task.instance
    operation(s, who, task)
    result = _outcome(s, task.id, instance)
    db.commit()
    return result


@blp.route("/<string:task_id>/complete", methods=["POST"])
@blp.arguments(CompleteRequest)
@blp.arguments(OutcomeArgs, location="query", as_kwargs=True)
@blp.response(200, TaskOutcomeSchema)
@errors(403, 409)
def complete(body, task_id: str, view: str = "full"):
    """办理（提交表单）：`{"data": {...}, "opinion": "..."}`。表单在服务器端校验，错误逐字段返回 (422)；已办理的任务再次提交返回 409。

    `?view=brief` 只回各项的必填字段（`task`、`instance` 的标识和状态，`open_tasks` 的标识、步骤和标题）。
    """
    who, s, task_id = actor(), db.session(), task_id[:36]
    # No visible_task first: the engine answers 404 for a case the user may not see from the
    # task and case it reads under the lock, so they are read once.
    task, instance = lifecycle.complete_visible_task(s, task_id=task_id, data=body["data"], actor=who,
                                                   opinion=body.get("opinion"))
    result = _brief_outcome(s, task, instance) if view == "brief" else _outcome(s, task.id, instance)
    db.commit()
    return result


def _still_open(s, instance: Instance) -> list[HumanTask]:
    # A completed case has no open task: the step that ended its workflow closed every task row.
    return [] if instance.status == InstanceStatus.COMPLETED else open_tasks(s, instance_id=instance.id)


def _brief_outcome(s, task: HumanTask, instance: Instance) -> dict:
    """The outcome's required fields only: no names, org codes or masked titles to look up."""
    def brief(t: HumanTask) -> dict:
        return {"id": t.id, "instance_id": t.instance_id, "element_id": t.element_id, "title": t.title,
                "status": str(t.status)}
    return {"task": brief(task), "instance": {"id": instance.id, "process": instance.process_key,
                                              "status": str(instance.status)},
            "open_tasks": [brief(t) for t in _still_open(s, instance)]}


@blp.route("/<string:task_id>/claim", methods=["POST"])
@blp.response(200, TaskOutcomeSchema)
@errors(403, 409)
def claim(task_id: str):
    """签收：从角色任务池中认领任务。"""
    return _operate(task_id, lambda s, who, task: tasks.claim_task(s, task_id=task.id, actor=who))


@blp.route("/<string:task_id>/release", methods=["POST"])
@blp.response(200, TaskOutcomeSchema)
@errors(403, 409)
def release(task_id: str):
    """放回任务池：取消签收。"""
    return _operate(task_id, lambda s, who, task: tasks.release_task(s, task_id=task.id, actor=who))


@blp.route("/<string:task_id>/transfer", methods=["POST"])
@blp.arguments(TransferRequest)
@blp.response(200, TaskOutcomeSchema)
@errors(403, 409)
def transfer(body, task_id: str):
    """转办：`{"to": 用户名}`，由对方办理（对方须具备任务的角色和组织范围）。"""
    return _operate(task_id, lambda s, who, task: tasks.transfer_task(
        s, task_id=task.id, actor=who, to=body["to"], opinion=body.get("opinion")))


@blp.route("/<string:task_id>/delegate", methods=["POST"])
@blp.arguments(TransferRequest)
@blp.response(200, TaskOutcomeSchema)
@errors(403, 409)
def delegate(body, task_id: str):
    """委派：`{"to": 用户名}`，对方办理完毕后交回委派人完成。"""
    return _operate(task_id, lambda s, who, task: tasks.delegate_task(
        s, task_id=task.id, actor=who, to=body["to"], opinion=body.get("opinion")))


@blp.route("/<string:task_id>/resolve", methods=["POST"])
@blp.arguments(ResolveRequest)
@blp.response(200, TaskOutcomeSchema)
@errors(403, 409)
def resolve(body, task_id: str):
    """委派办理完毕交回：被委派人把任务（可附草稿和意见）交回委派人。"""
    return _operate(task_id, lambda s, who, task: tasks.resolve_task(
        s, task_id=task.id, actor=who, opinion=body.get("opinion"), draft=body.get("draft")))


@blp.route("/<string:task_id>/return", methods=["POST"])
@blp.arguments(ReturnRequest)
@blp.response(200, TaskOutcomeSchema)
@errors(403, 409)
def send_back(body, task_id: str):
    """退回：`{"to_task": 步骤标识, "opinion": 必填}`，案件回到之前办理过的步骤，由原办理人重新办理。"""
    return _operate(task_id, lambda s, who, task: tasks.return_task(
        s, task_id=task.id, actor=who, to_element=body["to_task"], opinion=body.get("opinion")))


@blp.route("/<string:task_id>/withdraw", methods=["POST"])
@blp.arguments(OpinionRequest)
@blp.response(200, TaskOutcomeSchema)
@errors(403, 409)
def withdraw(body, task_id: str):
    """撤回：自己办理完成的任务，在下一步尚未处理时收回重办。"""
    return _operate(task_id, lambda s, who, task: tasks.withdraw_task(
        s, task_id=task.id, actor=who, opinion=body.get("opinion")))


@blp.route("/<string:task_id>/cc", methods=["POST"])
@blp.arguments(CcRequest)
@blp.response(200, CcResultSchema)
@errors(409)
def cc(body, task_id: str):
    """抄送：`{"users": [用户名...]}`，每人只抄送一次；被抄送人可查看该案件。"""
    who, s = actor(), db.session()
    task = visible_task(s, task_id=task_id[:36], actor=who)
    copied = tasks.cc_case(s, instance_id=task.instance_id, actor=who, to=body["users"], task_id=task.id,
                           opinion=body.get("opinion"))
    db.commit()
    return {"copied": copied}


@blp.route("/<string:task_id>/urge", methods=["POST"])
@blp.arguments(OpinionRequest)
@blp.response(200, UrgeResultSchema)
@errors(403, 409)
def urge(body, task_id: str):
    """催办：提醒当前办理人（或任务池中的人）；同一人 10 分钟内只能催办一次。"""
    who, s = actor(), db.session()
    task = visible_task(s, task_id=task_id[:36], actor=who)
    reminded = tasks.urge_task(s, task_id=task.id, actor=who, opinion=body.get("opinion"))
    db.commit()
    return {"reminded": reminded}


@blp.route("/<string:task_id>/signers", methods=["POST"])
@blp.arguments(AddSignersRequest)
@blp.response(200, TaskOutcomeSchema)
@errors(403, 409)
def add_signers(body, task_id: str):
    """加签：`{"to": [用户名...], "position": "before"|"after"}`。前加签：任务依次交加签人签署后回到您；后加签：您提交后依次由加签人签署，全部同意后流转。"""
    return _operate(task_id, lambda s, who, task: signing.add_signers(
        s, task_id=task.id, actor=who, to=body["to"], position=body["position"], opinion=body.get("opinion")))


@blp.route("/<string:task_id>/sign", methods=["POST"])
@blp.arguments(SignRequest)
@blp.response(200, TaskOutcomeSchema)
@errors(403, 409)
def sign(body, task_id: str):
    """会签（加签人签署）：`{"agree": true|false, "opinion": "..."}`；不同意须填写意见，后加签时退回办理人修改。"""
    return _operate(task_id, lambda s, who, task: signing.sign_task(
        s, task_id=task.id, actor=who, agree=body["agree"], opinion=body.get("opinion")))


@blp.route("/<string:task_id>/signers/<int:signer_id>/remove", methods=["POST"])
@blp.arguments(OpinionRequest)
@blp.response(200, TaskOutcomeSchema)
@errors(403, 409)
def remove_signer(body, task_id: str, signer_id: int):
    """减签：移除尚未签署的加签人（任务办理人、加签发起人或管理员）；轮到此人时任务随即交下一位或回到办理人。"""
    return _operate(task_id, lambda s, who, task: signing.remove_signer(
        s, task_id=task.id, actor=who, signer_id=signer_id, opinion=body.get("opinion")))


@blp.route("/<string:task_id>/draft", methods=["PUT"])
@blp.arguments(DraftRequest)
@blp.response(204)
@errors(403, 409)
def save_draft(body, task_id: str):
    """保存草稿：未校验的表单内容，下次打开任务时带出。"""
    who, s = actor(), db.session()
    task = visible_task(s, task_id=task_id[:36], actor=who)
    drafts.save_draft(s, task_id=task.id, data=body["data"], actor=who)
    db.commit()
