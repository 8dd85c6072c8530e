"""Reading the event log: polling (`events`), a card's timeline (`history`) and the
administrators' configuration log (`configurationLog`)."""
from dataclasses import dataclass

from sqlalchemy import false, func, select

from db import models as m
from db.retention import bounds_of
from resolvers.audit import CONFIGURATION_CHANGED, CONFIGURATION_TYPES
from resolvers.board import json_has_any
from resolvers.context import Ctx
from resolvers.errors import UserErrors
from resolvers.ids import decode
from resolvers.paging import BadInput, Page, ResyncRequired, child_page, decode_cursor, max_key, page_size
from resolvers.tokens import Forbidden
from resolvers.visibility import conditions, customer_events_clause, ensure_access, on_visible_card, redact_event

EVENT_TYPES = (
    "OPPORTUNITY_CREATED", "OPPORTUNITY_UPDATED", "OPPORTUNITY_MOVED", "OPPORTUNITY_LOST",
    "TASK_CREATED", "TASK_UPDATED", "COMMENT_ADDED", "HANDOFF_REQUESTED", "HANDOFF_RESOLVED",
    "APPROVAL_REQUESTED", "APPROVAL_DECIDED", "ALERT_RAISED",
    # Additions to the contract's list:
    "PIPELINE_UPDATED",  # an admin changed a pipeline's stages or gates
    "ACCESS_RULES_UPDATED",  # an admin changed who may see what (resolvers/access_rules.py)
    "MONEY_SETTINGS_UPDATED",  # an admin set the base currency or an exchange rate (resolvers/money.py)
    # What approvers do besides deciding (resolvers/approval_actions.py), and an
    # approval that no longer holds because the fields it locked changed:
    "APPROVAL_RETURNED", "APPROVAL_RESUBMITTED", "APPROVAL_TRANSFERRED", "APPROVAL_SIGNER_ADDED",
    "APPROVAL_URGED", "APPROVAL_SUPERSEDED",
    "DELIVERABLE_CHECKED",  # a stage's deliverable ticked or unticked on a card (resolvers/stage_work.py)
    "CONFIGURATION_CHANGED",  # people, departments, tokens, webhooks, channels (resolvers/audit.py); admins only
    # Customers and 撞单 (resolvers/accounts.py):
    "ACCOUNT_CREATED", "ACCOUNT_UPDATED", "ACCOUNT_MERGED",
    "OWNERSHIP_CONFLICT_RAISED", "OWNERSHIP_CONFLICT_RESOLVED",
    # Contacts on cards and follow-ups (resolvers/records.py):
    "CONTACT_LINKED", "CONTACT_UNLINKED", "FOLLOW_UP_LOGGED",
    "ATTACHMENT_ADDED", "ATTACHMENT_REMOVED",  # files on cards (resolvers/attachments.py)
    # Assignment rules and the shared pool (resolvers/assignment.py, resolvers/pool.py):
    "OPPORTUNITY_ASSIGNED", "OPPORTUNITY_POOLED", "OPPORTUNITY_CLAIMED", "OPPORTUNITY_RELEASED",
)


def sees_configuration(viewer) -> bool:
    """Whether the viewer reads CONFIGURATION_CHANGED events (the configuration log): admins
    only, and not through an API token scoped to a department (that one acts for the department)."""
    return viewer is not None and viewer.is_admin and viewer.department_id is None


def _seq(event: m.Event) -> int:
    return event.seq


async def log_bounds(ctx: Ctx) -> tuple[int, int]:
    """(the highest seq retention removed, the newest seq) of the viewer's organization's log."""
    rows = await ctx.loaders.rows(bounds_of(ctx.require_viewer().org_id))
    return (rows[0][0] or 0, rows[0][1] or 0) if rows else (0, 0)


@dataclass
class EventsPage(Page):
    bounds: tuple[int, int] | None = None  # log_bounds, when they were read


async def list_events(ctx: Ctx, after: int | None, first: int | None, flt: dict | None = None) -> EventsPage:
    """Events with seq > after, oldest first; the cursor of each edge is its seq. `flt`
    narrows as the boardEvents subscription does: departmentKeys (any), types, opportunityId.
    A cursor below what retention kept answers RESYNC_REQUIRED (the bounds are read after
    the rows: retention records what it removes before removing it, db/retention.py)."""
    org_id = ctx.require_viewer().org_id
    if after is not None and after < 0:
        raise BadInput("after must not be negative")
    access = await ensure_access(ctx)
    size = page_size(first, ctx.max_page_size, default=ctx.max_page_size)
    # Events of cards the viewer does not see are absent; withheld fields are blanked.
    conds = [m.Event.org_id == org_id, m.Event.seq > (after or 0),
             *conditions(on_visible_card(m.Event.opportunity_id, access, org_id, nullable=True),
                         customer_events_clause(access))]
    if not sees_configuration(ctx.viewer):
        conds.append(m.Event.type != CONFIGURATION_CHANGED)
    flt = flt or {}
    if flt.get("types") is not None:
        conds.append(m.Event.type.in_(flt["types"]))
    if flt.get("department_keys") is not None:
        conds.append(json_has_any(ctx, m.Event.department_keys, flt["department_keys"]) if flt["department_keys"] else false())
    if flt.get("opportunity_id") is not None:
        try:
            conds.append(m.Event.opportunity_id == decode(flt["opportunity_id"], "Opportunity", "opportunityId"))
        except UserErrors as exc:
            raise BadInput(exc.errors[0].render(ctx.locale)) from None
    rows = [redact_event(access, e) for e in await ctx.loaders.all(select(m.Event).where(*conds).order_by(m.Event.seq).limit(size + 1))]

    async def count() -> int:
        return (await ctx.loaders.rows(select(func.count()).select_from(m.Event).where(*conds)))[0][0]

    bounds = None
    if after is not None:
        bounds = await log_bounds(ctx)
        if after < bounds[0]:
            raise ResyncRequired(after, bounds[0] + 1)
    return EventsPage(items=rows[:size], has_next=len(rows) > size, has_previous=bool(after), key=_seq, count=count,
                      bounds=bounds)


async def opportunity_history(ctx: Ctx, opportunity_id: int, first: int | None, after: str | None) -> Page:
    """A card's timeline, newest first (cursor: the event's row id)."""
    size = page_size(first, ctx.max_page_size)
    page = await child_page(ctx.loaders, "history", m.Event, m.Event.opportunity_id, opportunity_id, size, after, newest_first=True)
    page.items = [redact_event(ctx.access, e) for e in page.items]
    return page


# configurationLog's `subject` for the changes that keep their own event type; any other
# subject is CONFIGURATION_CHANGED's changes.subject ("user", "apiToken", "webhook", ...).
SUBJECT_TYPES = {"pipeline": "PIPELINE_UPDATED", "accessRules": "ACCESS_RULES_UPDATED", "money": "MONEY_SETTINGS_UPDATED"}


async def configuration_log(ctx: Ctx, first: int | None, after: str | None, subject: str | None) -> Page:
    """Configuration changes (resolvers/audit.py: CONFIGURATION_TYPES), newest first; the
    cursor is the event's seq. Admins only (FORBIDDEN otherwise)."""
    viewer = ctx.require_viewer()
    if not sees_configuration(viewer):
        raise Forbidden("Only an admin can see this")
    size = page_size(first, ctx.max_page_size)
    conds = [m.Event.org_id == viewer.org_id]
    if subject is None:
        conds.append(m.Event.type.in_(CONFIGURATION_TYPES))
    elif subject in SUBJECT_TYPES:
        conds.append(m.Event.type == SUBJECT_TYPES[subject])
    else:
        conds += [m.Event.type == CONFIGURATION_CHANGED, m.Event.changes[("subject", 1)].as_string() == subject]
    before = decode_cursor(after, max_key(m.Event.seq))
    stmt = select(m.Event).where(*conds)
    if before is not None:
        stmt = stmt.where(m.Event.seq < before)
    rows = await ctx.loaders.all(stmt.order_by(m.Event.seq.desc()).limit(size + 1))

    async def count() -> int:
        return (await ctx.loaders.rows(select(func.count()).select_from(m.Event).where(*conds)))[0][0]

    return Page(items=rows[:size], has_next=len(rows) > size, has_previous=after is not None, key=_seq, count=count)
