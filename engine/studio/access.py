"""Who may use the studio: designers and administrators; everyone else is refused in Chinese."""
from __future__ import annotations

from ..errors import NotAllowed
from ..org.orgs import Actor

STUDIO_ROLES = ("designer", "admin")


def may_design(actor: Actor) -> bool:
    """Tell whether the actor may open the studio (drafts, tests, deploys, migrations)."""
    return any(role in STUDIO_ROLES for role, _ in actor.grants)


def require_designer(actor: Actor) -> None:
    """Refuse anyone who is neither a designer nor an administrator."""
    if not may_design(actor):
        raise NotAllowed("只有流程设计员和系统管理员可以使用流程设计",
                         message_en="only process designers and administrators may use the studio")
