"""Who sees what: a case is visible within one's org subtree, to those who held its tasks, and to CCs."""
from __future__ import annotations

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.orm import Session

from .models import CarbonCopy, HumanTask, Instance, Org, TaskActor
from .orgs import SYSTEM, Actor


def scope_clause(actor: Actor):
    """Return a SQL condition on ``Instance`` selecting the cases ``actor`` may see."""
    if actor is SYSTEM or actor.is_admin:
        return Instance.id.is_not(None)
    org_paths = sorted({path for _, path in actor.grants})
    in_subtree = (
        exists().where(Org.id == Instance.org_id, or_(*[Org.path.startswith(p) for p in org_paths]))
        if org_paths else false()
    )
    held = exists().where(TaskActor.instance_id == Instance.id, TaskActor.user_id == actor.id)
    copied = exists().where(CarbonCopy.instance_id == Instance.id, CarbonCopy.user_id == actor.id)
    assigned = exists().where(HumanTask.instance_id == Instance.id, HumanTask.assignee_id == actor.id)
    return or_(in_subtree, held, copied, assigned, Instance.started_by_id == actor.id)


def can_see(session: Session, *, instance: Instance, actor: Actor) -> bool:
    """Tell whether ``actor`` may see the case."""
    return session.scalar(select(Instance.id).where(and_(Instance.id == instance.id, scope_clause(actor)))) is not None


def pool_clause(actor: Actor):
    """Return a SQL condition on ``HumanTask`` (joined to its candidate ``Org``) for the actor's pools."""
    grants = [(role, path) for role, path in actor.grants]
    if not grants:
        return false()
    return and_(HumanTask.assignee_id.is_(None),
                or_(*[and_(HumanTask.candidate_role == role, Org.path.startswith(path)) for role, path in grants]))
