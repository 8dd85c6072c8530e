"""Who may change what. Who may see what is resolvers/visibility.py (admins' access rules)."""
from db import models as m
from resolvers.context import Viewer
from resolvers.errors import FORBIDDEN, fail


def is_owners_manager(viewer: Viewer, owner: m.User) -> bool:
    return viewer.role == "MANAGER" and viewer.user.department_id == owner.department_id


def writes(viewer: Viewer) -> bool:
    """Not a read-only role or token (`Ctx.require_writer` refuses those)."""
    return viewer.role != "VIEWER" and viewer.scope == "write"


def can_move(viewer: Viewer, opp: m.Opportunity, owner: m.User) -> bool:
    """The accountable owner, the owner's manager or an admin moves a card."""
    return viewer.is_admin or viewer.id == opp.owner_id or is_owners_manager(viewer, owner)


def can_edit(viewer: Viewer, opp: m.Opportunity, owner: m.User) -> bool:
    """Editing details is also open to the department holding the baton."""
    return viewer.user.department_id == opp.department_id or can_move(viewer, opp, owner)


def can_respond(viewer: Viewer, handoff: m.Handoff) -> bool:
    """The receiving department (or an admin) answers a handoff."""
    return viewer.is_admin or viewer.user.department_id == handoff.to_department_id


def ensure_can_move(viewer: Viewer, opp: m.Opportunity, owner: m.User) -> None:
    if not can_move(viewer, opp, owner):
        fail(FORBIDDEN, "Only the owner, the owner's manager or an admin can move this card")


def ensure_can_edit(viewer: Viewer, opp: m.Opportunity, owner: m.User) -> None:
    if not can_edit(viewer, opp, owner):
        fail(FORBIDDEN, "Only the owner, their manager, the department holding the card or an admin can edit it")
