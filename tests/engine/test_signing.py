"""加签 and 减签 (issue 13, item 9): signers before or after the holder, signing, removal; refusals change nothing."""
from __future__ import annotations

from sqlalchemy import func, select

from engine.cases.case_file import task_permissions, timeline
from engine.cases.queries import todo
from engine.errors import Conflict, FormInvalid, NotAllowed, NotFound
from engine.org.visibility import can_see
from engine.runtime import lifecycle
from engine.signing.models import TaskSigner, signers_of
from engine.signing.operations import add_signers, remove_signer, sign_task
from engine.store import audit
from engine.store.models import HumanTask, Notification, TaskStatus
from tests.engine.test_tasks import refused, start_assign
from tests.factories import only_task


def _mediate(session, actors):
    inst = start_assign(session, actors, township="hexi")
    task = only_task(session, inst.id, "mediate")
    from engine.runtime import tasks

    tasks.claim_task(session, task_id=task.id, actor=actors("liu.tj"))
    return inst, task


def _signer_rows(session, task_id):
    session.flush()
    return [(s.user.username, s.position, s.status, s.decision) for s in signers_of(session, task_id)]


def _kinds(session, instance_id):
    return [e.kind for e in audit.history(session, instance_id=instance_id)]


def test_before_signers_sign_in_turn_then_the_holder_completes(session, actors):
    inst, task = _mediate(session, actors)
    liu, ma, zhou = actors("liu.tj"), actors("ma.sf"), actors("zhou.ga")
    add_signers(session, task_id=task.id, actor=liu, to=["ma.sf", "zhou.ga"], position="before", opinion="请先提意见")
    assert (task.owner_id, task.assignee_id) == (liu.id, ma.id)
    assert [t.id for t in todo(session, actor=ma)] == [task.id] and can_see(session, instance=inst, actor=ma)
    assert can_see(session, instance=inst, actor=zhou)
    perms = task_permissions(session, task=task, actor=ma)
    assert perms.sign and not perms.view_form and not perms.resolve and not perms.complete
    assert [s.user.username for s in task_permissions(session, task=task, actor=liu).removable_signers] == ["ma.sf", "zhou.ga"]

    # The signer cannot complete the form, nor sign out of turn; the holder waits.
    refused(session, inst.id, NotAllowed, lambda: lifecycle.complete_task(session, task_id=task.id, data={"result": "x"},
                                                                          actor=ma), says="加签人")
    refused(session, inst.id, NotAllowed, lambda: sign_task(session, task_id=task.id, actor=zhou, agree=True))
    refused(session, inst.id, NotAllowed, lambda: lifecycle.complete_task(session, task_id=task.id, data={"result": "x"},
                                                                          actor=liu))
    refused(session, inst.id, FormInvalid, lambda: sign_task(session, task_id=task.id, actor=ma, agree=False, opinion=" "),
            says="理由")

    sign_task(session, task_id=task.id, actor=ma, agree=True, opinion="符合法律规定")
    assert (task.owner_id, task.assignee_id) == (liu.id, zhou.id)
    sign_task(session, task_id=task.id, actor=zhou, agree=False, opinion="建议先做稳控")
    assert (task.owner_id, task.assignee_id) == (None, liu.id)
    assert _signer_rows(session, task.id) == [("ma.sf", "before", "signed", "agree"),
                                              ("zhou.ga", "before", "signed", "disagree")]
    lifecycle.complete_task(session, task_id=task.id, data={"result": "达成协议"}, actor=liu)
    assert task.status == TaskStatus.COMPLETED and task.completed_by_id == liu.id
    assert _kinds(session, inst.id)[-4:] == ["signers_added", "signed", "signed", "task_completed"]
    said = {(e.label, e.detail) for e in timeline(session, instance=inst)}
    assert ("加签", "前加签：司法所马法官、公安周警官".replace("司法所马法官", _name(session, "ma.sf"))
            .replace("公安周警官", _name(session, "zhou.ga"))) in said
    assert ("会签", "不同意") in said


def _name(session, username):
    from engine.store.models import User
    return session.scalar(select(User.name).where(User.username == username))


def test_after_signers_hold_the_submission_until_the_last_agrees(session, actors):
    inst, task = _mediate(session, actors)
    liu, ma, zhou = actors("liu.tj"), actors("ma.sf"), actors("zhou.ga")
    add_signers(session, task_id=task.id, actor=liu, to=["ma.sf", "zhou.ga"], position="after")
    assert (task.owner_id, task.assignee_id) == (None, liu.id)  # the holder keeps working
    refused(session, inst.id, FormInvalid, lambda: lifecycle.complete_task(session, task_id=task.id, data={}, actor=liu))

    lifecycle.complete_task(session, task_id=task.id, data={"result": "达成协议"}, actor=liu, opinion="请会签")
    assert task.status == TaskStatus.OPEN and (task.owner_id, task.assignee_id) == (liu.id, ma.id)
    assert only_task(session, inst.id, "mediate").id == task.id  # the case has not moved on

    # Disagreement sends it back with the submission kept; the signer signs again next time.
    sign_task(session, task_id=task.id, actor=ma, agree=False, opinion="协议条款不完整")
    assert (task.owner_id, task.assignee_id) == (None, liu.id)
    assert task.draft["result"] == "达成协议" and task.draft["_opinion"] == "请会签"
    assert task_permissions(session, task=task, actor=liu).view_form

    lifecycle.complete_task(session, task_id=task.id, data={"result": "达成协议，补充履行期限"}, actor=liu)
    assert (task.owner_id, task.assignee_id) == (liu.id, ma.id)
    sign_task(session, task_id=task.id, actor=ma, agree=True)
    assert task.assignee_id == zhou.id and task.status == TaskStatus.OPEN
    sign_task(session, task_id=task.id, actor=zhou, agree=True, opinion="同意")
    assert task.status == TaskStatus.COMPLETED and task.completed_by_id == liu.id
    completed = audit.history(session, instance_id=inst.id)[-1]
    assert completed.kind == "task_completed" and completed.actor == "liu.tj"
    assert completed.payload["data"] == {"result": "达成协议，补充履行期限"}
    assert completed.payload["signed_by"] == ["ma.sf", "zhou.ga"]
    assert only_task(session, inst.id, "approve") is not None  # the case moved on


def test_remove_a_signer_who_has_not_signed(session, actors):
    inst, task = _mediate(session, actors)
    liu, ma, zhou, sun = actors("liu.tj"), actors("ma.sf"), actors("zhou.ga"), actors("sun.tj")
    add_signers(session, task_id=task.id, actor=liu, to=["ma.sf", "zhou.ga"], position="before")
    second = [s for s in signers_of(session, task.id) if s.user_id == zhou.id][0]
    refused(session, inst.id, NotAllowed, lambda: remove_signer(session, task_id=task.id, actor=sun, signer_id=second.id))
    refused(session, inst.id, NotFound, lambda: remove_signer(session, task_id=task.id, actor=liu, signer_id=999999))

    remove_signer(session, task_id=task.id, actor=liu, signer_id=second.id, opinion="无需公安意见")
    assert audit.history(session, instance_id=inst.id)[-1].kind == "signer_removed"
    assert session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == zhou.id, Notification.text.contains("移除"))) == 1
    refused(session, inst.id, Conflict, lambda: remove_signer(session, task_id=task.id, actor=liu, signer_id=second.id))
    # Removing the signer whose turn it is hands the task back to the holder.
    first = [s for s in signers_of(session, task.id) if s.user_id == ma.id][0]
    remove_signer(session, task_id=task.id, actor=liu, signer_id=first.id)
    assert (task.owner_id, task.assignee_id) == (None, liu.id)
    assert _signer_rows(session, task.id) == [("ma.sf", "before", "removed", None), ("zhou.ga", "before", "removed", None)]


def test_removing_the_last_after_signer_completes_the_held_submission(session, actors):
    inst, task = _mediate(session, actors)
    liu, ma = actors("liu.tj"), actors("ma.sf")
    add_signers(session, task_id=task.id, actor=liu, to=["ma.sf"], position="after")
    lifecycle.complete_task(session, task_id=task.id, data={"result": "达成协议"}, actor=liu)
    signer = signers_of(session, task.id)[0]
    remove_signer(session, task_id=task.id, actor=liu, signer_id=signer.id, opinion="司法所已电话确认")
    assert task.status == TaskStatus.COMPLETED and task.completed_by_id == liu.id


def test_adding_signers_is_refused_cleanly(session, actors):
    inst, task = _mediate(session, actors)
    liu, sun = actors("liu.tj"), actors("sun.tj")
    count = lambda: session.scalar(select(func.count()).select_from(TaskSigner))  # noqa: E731
    before = count()
    refused(session, inst.id, NotAllowed, lambda: add_signers(session, task_id=task.id, actor=sun, to=["ma.sf"],
                                                               position="before"))
    refused(session, inst.id, NotAllowed, lambda: add_signers(session, task_id=task.id, actor=liu, to=["liu.tj"],
                                                               position="before"), says="自己")
    refused(session, inst.id, NotFound, lambda: add_signers(session, task_id=task.id, actor=liu, to=["ma.sf", "nobody"],
                                                             position="after"))
    refused(session, inst.id, FormInvalid, lambda: add_signers(session, task_id=task.id, actor=liu, to=[" "],
                                                                position="after"))
    refused(session, inst.id, FormInvalid, lambda: add_signers(session, task_id=task.id, actor=liu, to=["ma.sf"],
                                                                position="sideways"))
    add_signers(session, task_id=task.id, actor=liu, to=["ma.sf"], position="after")
    refused(session, inst.id, Conflict, lambda: add_signers(session, task_id=task.id, actor=liu, to=["ma.sf"],
                                                             position="after"), says="已在加签名单")
    assert count() == before + 1
