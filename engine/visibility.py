"""Who sees what: a case is visible within one's org subtree, to those who hold or held its tasks, and to CCs."""
from __future__ import annotations

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.orm import Session, aliased

from .models import CarbonCopy, HumanTask, Instance, Org, TaskActor, TaskStatus
from .orgs import SYSTEM, Actor


def scope_clause(actor: Actor):
    """Return a SQL condition on ``Instance`` selecting the cases ``actor`` may see.

    A case is visible in the subtree of any org the actor holds a role in, to whoever holds or
    held one of its tasks (assigned, delegated, in their pool now, or done before), to its
    initiator, and to those it was CC'd to.
    """
    if actor is SYSTEM or actor.is_admin:
        return Instance.id.is_not(None)
    org_paths = sorted({path for _, path in actor.grants})
    case_org = aliased(Org)
    in_subtree = (
        exists().where(case_org.id == Instance.org_id, or_(*[case_org.path.startswith(p) for p in org_paths]))
        if org_paths else false()
    )
    held = exists().where(TaskActor.instance_id == Instance.id, TaskActor.user_id == actor.id)
    copied = exists().where(CarbonCopy.instance_id == Instance.id, CarbonCopy.user_id == actor.id)
    task = aliased(HumanTask)
    task_org = aliased(Org)
    assigned = exists().where(task.instance_id == Instance.id, task.status == TaskStatus.OPEN,
                              or_(task.assignee_id == actor.id, task.owner_id == actor.id))
    # A unit handler must see the township's case whose task waits in the unit's pool.
    in_pool = (
        exists().where(task.instance_id == Instance.id, task.status == TaskStatus.OPEN,
                       task_org.id == task.candidate_org_id, _pool_condition(actor, task, task_org))
        if actor.grants else false()
    )
    return or_(in_subtree, held, copied, assigned, in_pool, Instance.started_by_id == actor.id)


def can_see(session: Session, *, instance: Instance, actor: Actor) -> bool:
    """Tell whether ``actor`` may see the case."""
    return session.scalar(select(Instance.id).where(and_(Instance.id == instance.id, scope_clause(actor)))) is not None


def _pool_condition(actor: Actor, task, org):
    """Unclaimed, and offered to a role the actor holds over the task's candidate org (or an ancestor)."""
    return and_(task.assignee_id.is_(None),
                or_(*[and_(task.candidate_role == role, org.path.startswith(path)) for role, path in actor.grants]))
