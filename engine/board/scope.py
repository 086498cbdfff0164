"""The viewer's scope as the board counts it: the orgs of their subtrees, plus the few cases they see elsewhere.

The rule is ``visibility.scope_clause``'s (a case is visible in the subtrees one holds a role in,
to whoever started it, holds or held one of its tasks, or was CC'd on it), resolved once per
board instead of once per figure: the cases reached through a link or as starter are looked up
only outside the subtrees (inside, the org already admits them), so a county leader's scope is
one condition on the case's org, and a leader over every org needs no condition at all.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import false, or_, select, union, union_all
from sqlalchemy.orm import Session

from ..org.orgs import Actor
from ..org.visibility import orgs_under, scope_branches, sees_everything
from ..store.models import Instance, Org


@dataclass(frozen=True)
class ViewerScope:
    """``paths``: the outermost subtrees (None: every case); ``outside``: ids of the cases seen outside them."""
    paths: tuple[str, ...] | None
    outside: tuple[int, ...]

    @property
    def everything(self) -> bool:
        return self.paths is None

    def condition(self):
        """A condition on ``Instance`` selecting the scope's cases (None: every case)."""
        if self.paths is None:
            return None
        either = [Instance.org_id.in_(orgs_under(list(self.paths)))] if self.paths else []
        if self.outside:
            either.append(Instance.id.in_(self.outside))
        return or_(*either) if either else false()

    def where(self) -> list:
        """The scope as a list of conditions to splat into ``where`` (empty for every case)."""
        condition = self.condition()
        return [] if condition is None else [condition]


def viewer_scope(session: Session, *, actor: Actor) -> ViewerScope:
    """Resolve the actor's scope: their subtrees, and the ids of the cases they see outside them."""
    if sees_everything(actor):
        return ViewerScope(None, ())
    paths = tuple(sorted(p for p in {path for _, path in actor.grants}
                         if not any(p != q and p.startswith(q) for _, q in actor.grants)))
    # Every org lies under a root of the tree, and a root lies in a subtree only as its top: when
    # the subtrees include every root, every case is in scope.
    if paths and set(session.scalars(select(Org.path).where(Org.parent_id.is_(None)))) <= set(paths):
        return ViewerScope(None, ())
    _, by_link = scope_branches(actor)
    outside = Instance.org_id.not_in(orgs_under(list(paths))) if paths else Instance.id.is_not(None)
    ids = session.scalars(union(
        select(Instance.id).where(Instance.started_by_id == actor.id, outside),
        select(Instance.id).where(Instance.id.in_(union_all(*by_link)), outside)))
    return ViewerScope(paths, tuple(sorted(ids)))


__all__ = ["ViewerScope", "viewer_scope"]
