"""Who may change what. Who may see what is resolvers/visibility.py (admins' access rules)."""
from db import models as m
from resolvers.context import Viewer
from resolvers.errors import FORBIDDEN, fail


def is_owners_manager(viewer: Viewer, owner: m.User) -> bool:
    return viewer.role == "MANAGER" and viewer.user.department_id == owner.department_id


def ensure_can_move(viewer: Viewer, opp: m.Opportunity, owner: m.User) -> None:
    """The accountable owner, the owner's manager or an admin moves a card."""
    if viewer.is_admin or viewer.id == opp.owner_id or is_owners_manager(viewer, owner):
        return
    fail(FORBIDDEN, "Only the owner, the owner's manager or an admin can move this card")


def ensure_can_edit(viewer: Viewer, opp: m.Opportunity, owner: m.User) -> None:
    """Editing details is also open to the department holding the baton."""
    if viewer.user.department_id == opp.department_id:
        return
    if viewer.is_admin or viewer.id == opp.owner_id or is_owners_manager(viewer, owner):
        return
    fail(FORBIDDEN, "Only the owner, their manager, the department holding the card or an admin can edit it")
