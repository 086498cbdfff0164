"""Who sees what: a case is visible within one's org subtree, to those who hold or held its tasks, and to CCs;
and who may work on an open task."""
from __future__ import annotations

from sqlalchemy import exists, or_, select, union, union_all
from sqlalchemy.orm import Session, aliased

from ..store.models import CarbonCopy, HumanTask, Instance, Org, TaskActor, TaskStatus
from .orgs import SYSTEM, Actor


# Its own alias, so that ``instance_id=Instance.id`` correlates with the outer query's case.
# Built once: an alias costs milliseconds to make.
_VISIBLE_CASE = aliased(Instance, name="visible_case")


def sees_everything(actor: Actor) -> bool:
    """Tell whether the actor's scope is every case (the system, and administrators)."""
    return actor is SYSTEM or actor.is_admin


def scope_clause(actor: Actor):
    """Return a SQL condition on ``Instance`` selecting the cases ``actor`` may see.

    A case is visible in the subtree of any org the actor holds a role in, to whoever holds or
    held one of its tasks (assigned, delegated, in their pool now, or done before), to its
    initiator, and to those it was CC'd to.
    """
    if sees_everything(actor):
        return Instance.id.is_not(None)
    return Instance.id.in_(visible_case_ids(actor))


def case_scope_check(actor: Actor):
    """Return the same condition as ``scope_clause``, tested case by case.

    For queries whose other conditions already pick out a few cases (a party's name, a case
    number): each candidate costs a few index lookups, where the id sets of ``scope_clause``
    would be built in full first (thousands of ids for someone with a long history).
    """
    if sees_everything(actor):
        return Instance.id.is_not(None)
    return exists(visible_case_ids(actor, instance_id=Instance.id))


def visible_case_ids(actor: Actor, *, instance_id=None):
    """Select the ids of the cases a (non-admin) actor may see, or only ``instance_id`` (an id or a column) if they may.

    One branch per way in, each an index range: cases by org subtree, task actors, CCs, open
    tasks assigned or owned, open tasks in their pools, cases they started. The same rule as
    one ``OR`` of correlated ``EXISTS`` makes PostgreSQL test every case in the database
    (docs/performance.md, "at scale").
    """
    by_case, by_link = scope_branches(actor, instance_id=instance_id)
    # One case: any branch will do, nothing to deduplicate.
    return union_all(*by_case, *by_link) if instance_id is not None else union(*by_case, *by_link)


def scope_branches(actor: Actor, *, instance_id=None, columns: tuple[str, ...] = ()) -> tuple[list, list]:
    """Return the branches of ``visible_case_ids``: those that read cases, and those that read links to cases.

    The first kind select ``(id)`` from cases, or the id and the case ``columns`` named (say
    ``("status",)``), so a count or a list can take them from the rows it reads anyway; those
    branches then do not overlap (the cases one started leave out those of one's subtree) and
    need no deduplication. The second kind select case ids from tasks, task actors and CCs.
    """
    def branch(id_column, query):
        return query.where(id_column == instance_id) if instance_id is not None else query

    case = _VISIBLE_CASE
    selected = (case.id, *(getattr(case, name) for name in columns))
    started = select(*selected).where(case.started_by_id == actor.id)
    subtrees = _outermost({path for _, path in actor.grants})
    if subtrees and columns:
        started = started.where(case.org_id.not_in(orgs_under(subtrees)))
    by_case = [branch(case.id, started)]
    if subtrees:
        by_case.append(branch(case.id, select(*selected).where(case.org_id.in_(orgs_under(subtrees)))))

    open_task = HumanTask.status == TaskStatus.OPEN
    by_link = [
        branch(TaskActor.instance_id, select(TaskActor.instance_id).where(TaskActor.user_id == actor.id)),
        branch(CarbonCopy.instance_id, select(CarbonCopy.instance_id).where(CarbonCopy.user_id == actor.id)),
        branch(HumanTask.instance_id, select(HumanTask.instance_id).where(HumanTask.assignee_id == actor.id,
                                                                          open_task)),
        branch(HumanTask.instance_id, select(HumanTask.instance_id).where(HumanTask.owner_id == actor.id, open_task)),
    ]
    # A unit handler must see the township's case whose task waits in the unit's pool.
    roles_by_path: dict[str, set[str]] = {}
    for role, path in actor.grants:
        roles_by_path.setdefault(path, set()).add(role)
    for path, roles in sorted(roles_by_path.items()):
        by_link.append(branch(HumanTask.instance_id, select(HumanTask.instance_id).where(
            open_task, HumanTask.assignee_id.is_(None), HumanTask.candidate_role.in_(sorted(roles)),
            HumanTask.candidate_org_id.in_(orgs_under([path])))))
    return by_case, by_link


def can_see(session: Session, *, instance: Instance, actor: Actor) -> bool:
    """Tell whether ``actor`` may see the case."""
    if sees_everything(actor) or (actor.id and instance.started_by_id == actor.id):
        return True
    # The org-subtree branch answered from the case's org (usually already in the session).
    org = session.get(Org, instance.org_id) if actor.grants and instance.org_id else None
    if org is not None and any(org.path.startswith(path) for _, path in actor.grants):
        return True
    # The same branches as the lists, each narrowed to this case: a handful of index lookups.
    return bool(session.scalar(select(exists(visible_case_ids(actor, instance_id=instance.id)))))


def _outermost(paths: set[str]) -> list[str]:
    """Drop the paths that lie inside another one: their subtree is already counted."""
    return sorted(p for p in paths if not any(p != q and p.startswith(q) for q in paths))


def orgs_under(paths: list[str]):
    """Select the ids of the orgs in the subtrees at ``paths``.

    The pattern is bound whole ("/1/4/%"), not built in SQL as ``startswith`` does, so that
    PostgreSQL can read it from ``ix_orgs_path``. Paths are made of ids and slashes only.
    """
    return select(Org.id).where(or_(*[Org.path.like(p + "%") for p in paths]))


def may_act(task: HumanTask, actor: Actor) -> bool:
    """Tell whether ``actor`` may work on ``task``: its assignee, or in its role pool."""
    if task.assignee_id is not None:
        return task.assignee_id == actor.id
    org_path = task.candidate_org.path if task.candidate_org else "/"
    return task.candidate_role is not None and actor.has_role(task.candidate_role, org_path)
