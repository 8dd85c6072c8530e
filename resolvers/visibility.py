"""Who may see which cards and fields: the one place every read path asks.

An admin sets rules per role, optionally per department (`access_rules`): a data
scope (OWN: cards the user owns; DEPARTMENT: cards owned by the department's
people; ALL) and fields withheld. The most specific rule wins (role + department
over role alone); without one a user sees ALL with nothing hidden, and admins
always see everything.

A card outside scope stays visible (hidden fields still applied) to whoever is
asked to act on it: its holder's department, a department a handoff came from or
went to, a department or named approver with an approval step on it, a user or
department with a task on it, a user @mentioned on it. Baton exists so departments
can work on the same deal; privacy must never hide it from them.

Everything else outside scope does not exist for the viewer: `opportunity_clause`
is added to every statement that reads cards or what hangs off them (tasks,
comments, handoffs, approvals, events, notifications), `hidden` says which fields
resolve to null, `redact_event` blanks them in events' `changes` and `snapshot`.
Results shared between viewers (the result cache, live executions, page loaders)
are keyed by `Access.key`: viewers who see differently never share one."""
from dataclasses import dataclass
from functools import cached_property
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import bindparam, exists, literal, or_, select, union_all

from db import models as m
from db.statements import built_once
from resolvers.errors import FORBIDDEN, UserError, UserErrors

SCOPES = ("OWN", "DEPARTMENT", "ALL")
RULE_ROLES = ("MANAGER", "MEMBER", "VIEWER")  # admins see everything
# The fields a rule may withhold: API name -> model attribute.
HIDEABLE = {
    "amount": "amount",
    "probability": "probability",
    "expectedCloseDate": "expected_close_date",
    "lostReason": "lost_reason",
    "nextStep": "next_step",
    "account": "account_id",
}


@dataclass(frozen=True)
class Access:
    """A viewer's effective rule, with what the rule's predicate needs."""

    user_id: int
    department_id: int
    scope: str = "ALL"
    hidden: frozenset[str] = frozenset()

    @property
    def every_card(self) -> bool:
        return self.scope == "ALL"

    @property
    def restricted(self) -> bool:
        """Sees less than everything (then results are not shared organization-wide)."""
        return not self.every_card or bool(self.hidden)

    @cached_property
    def key(self) -> tuple:
        """Equal for viewers who see exactly the same: everyone with ALL and the same
        hidden fields; otherwise one user (involvement is personal: tasks, mentions)."""
        hidden = tuple(sorted(self.hidden))
        if self.every_card:
            return ("ALL", hidden)
        return (self.scope, hidden, self.user_id, self.department_id)

    @cached_property
    def hidden_list(self) -> list[str]:
        return sorted(self.hidden)


def access_of(user: m.User, department_key: str | None, rules) -> Access:
    """The access `rules` (AccessRule rows, or (department_key, scope, hidden) tuples of
    the user's role) give `user`: the department's rule over the role's general one."""
    if user.role == "ADMIN":
        return Access(user.id, user.department_id)
    chosen = None
    for rule in rules:
        key, scope, hidden = (rule.department_key, rule.scope, rule.hidden_fields) if hasattr(rule, "scope") else rule
        if key == department_key or (key == "" and chosen is None):
            chosen = (scope, hidden)
    if chosen is None:
        return Access(user.id, user.department_id)
    scope, hidden = chosen
    return Access(user.id, user.department_id, scope, frozenset(hidden or ()))


async def load_access(session, user: m.User) -> Access:
    """One statement: the rules of the user's role for their department or for all."""
    rows = (await session.execute(
        select(m.AccessRule.department_key, m.AccessRule.scope, m.AccessRule.hidden_fields, m.Department.key)
        .join(m.Department, m.Department.id == user.department_id)
        .where(m.AccessRule.org_id == user.org_id, m.AccessRule.role == user.role,
               m.AccessRule.department_key.in_(["", m.Department.key]))
    )).all()
    if not rows:
        return Access(user.id, user.department_id)
    return access_of(user, rows[0][3], [row[:3] for row in rows])


async def ensure_access(ctx, session=None) -> Access | None:
    """The viewer's access, loaded once (sign-in loads it in its own statement; viewers
    built elsewhere, e.g. the CLI or a download link, load it here). None: no viewer
    (system work such as the alert job sees everything)."""
    viewer = ctx.viewer
    if viewer is None:
        return None
    if viewer.access is None:
        if session is not None:
            viewer.access = await load_access(session, viewer.user)
        else:
            async with ctx.db.read() as own:
                viewer.access = await load_access(own, viewer.user)
    return viewer.access


# ---------------------------------------------------------------- the predicate


def in_scope(access: Access):
    """Cards the rule's scope grants (None: every card)."""
    o = m.Opportunity
    if access.scope == "OWN":
        return o.owner_id == access.user_id
    if access.scope == "DEPARTMENT":
        return o.owner_id.in_(select(m.User.id).where(m.User.department_id == access.department_id))
    return None


def _named_approver(access: Access):
    """The viewer is a named approver of a step of an approval on the card."""
    o = m.Opportunity
    return exists(
        select(m.ApprovalApprover.id)
        .join(m.ApprovalStep, m.ApprovalStep.id == m.ApprovalApprover.step_id)
        .join(m.Approval, m.Approval.id == m.ApprovalStep.approval_id)
        .where(m.Approval.opportunity_id == o.id, m.ApprovalApprover.user_id == access.user_id)
    )


def involved(access: Access):
    """Cards the viewer or their department is asked to act on."""
    o, dept, uid = m.Opportunity, access.department_id, access.user_id
    return or_(
        o.department_id == dept,  # the department holds the baton
        o.pool_department_id == dept,  # it waits in the department's pool (resolvers/pool.py)
        exists().where(m.Handoff.opportunity_id == o.id,
                       or_(m.Handoff.from_department_id == dept, m.Handoff.to_department_id == dept)),
        exists(
            select(m.ApprovalStep.id).join(m.Approval, m.Approval.id == m.ApprovalStep.approval_id)
            .where(m.Approval.opportunity_id == o.id, m.ApprovalStep.department_id == dept)
        ),
        _named_approver(access),
        exists().where(m.Task.opportunity_id == o.id, or_(m.Task.assignee_id == uid, m.Task.department_id == dept)),
        # @user and @department mentions both notify the user (kind "mention").
        exists().where(m.Notification.user_id == uid, m.Notification.opportunity_id == o.id, m.Notification.kind == "mention"),
    )


def opportunity_clause(access: Access | None):
    """The condition on `opportunities` rows for "visible to this viewer", or None: all."""
    if access is None or access.every_card:
        return None
    return or_(in_scope(access), involved(access))


def visible_card_ids(access: Access | None, org_id: int):
    """A subquery of the ids of the cards the viewer sees (None: all of the organization's)."""
    clause = opportunity_clause(access)
    if clause is None:
        return None
    return select(m.Opportunity.id).where(m.Opportunity.org_id == org_id, clause)


def on_visible_card(column, access: Access | None, org_id: int, *, nullable: bool = False):
    """The condition that a row's opportunity id (`column`) names a visible card; rows
    without a card (`nullable`) stay. None when the viewer sees every card."""
    ids = visible_card_ids(access, org_id)
    if ids is None:
        return None
    cond = column.in_(ids)
    return or_(column.is_(None), cond) if nullable else cond


def conditions(*conds) -> list:
    """The non-None conditions, for `.where(*conditions(...))`."""
    return [c for c in conds if c is not None]


async def visible_among(session_or_loaders, access: Access | None, org_id: int, ids) -> set[int]:
    """Which of these card ids the viewer sees (one statement; none when all are seen)."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return set()
    clause = opportunity_clause(access)
    if clause is None:
        return ids
    stmt = select(m.Opportunity.id).where(m.Opportunity.org_id == org_id, m.Opportunity.id.in_(sorted(ids)), clause)
    if hasattr(session_or_loaders, "rows"):
        return {row[0] for row in await session_or_loaders.rows(stmt)}
    return set((await session_or_loaders.execute(stmt)).scalars())


# ---------------------------------------------------------------- hidden fields


def hidden(access: Access | None) -> frozenset[str]:
    return access.hidden if access is not None else frozenset()


# What a withheld account shows instead (Opportunity.account is non-null in the contract).
HIDDEN_ACCOUNT = m.Account(id=0, org_id=0, name="", normalized_name="", industry=None, region=None)


def _redacted(mapping: dict | None, withheld: frozenset[str], *, pairs: bool) -> dict | None:
    if not mapping or not withheld.intersection(mapping):
        return mapping
    return {k: ([None] * len(v) if pairs and isinstance(v, list) else None) if k in withheld else v for k, v in mapping.items()}


_EVENT_COLUMNS = tuple(c.key for c in m.Event.__table__.columns)


class EventView(SimpleNamespace):
    """An event with withheld fields blanked in `changes` and `snapshot` (same attributes
    as an Event row, so the schema and the live plans read it the same way)."""


# Events about a customer rather than a card (no opportunity_id to judge them by): they
# name the customer and what changed on it, so only viewers who see every card and every
# field receive them.
CUSTOMER_EVENTS = frozenset({"ACCOUNT_CREATED", "ACCOUNT_UPDATED", "ACCOUNT_MERGED", "OWNERSHIP_CONFLICT_RESOLVED"})


def customer_event_withheld(restricted: bool, event) -> bool:
    """Whether `event` is a card-less customer event a viewer (`Access.restricted`) does not receive."""
    return restricted and event.opportunity_id is None and event.type in CUSTOMER_EVENTS


def customer_events_clause(access: Access | None):
    """The SQL form of `customer_event_withheld` (None: nothing withheld)."""
    if access is None or not access.restricted:
        return None
    return or_(m.Event.opportunity_id.is_not(None), m.Event.type.not_in(sorted(CUSTOMER_EVENTS)))


def redact_event(access: Access | None, event):
    """`event` itself when nothing in it is withheld from the viewer, else an EventView."""
    withheld = hidden(access)
    if not withheld or isinstance(event, EventView):
        return event
    changes, snapshot = event.changes, event.snapshot
    new_changes = _redacted(changes, withheld, pairs=True)
    new_snapshot = _redacted(snapshot, withheld, pairs=False)
    if new_changes is changes and new_snapshot is snapshot:
        return event
    view = EventView(**{name: getattr(event, name) for name in _EVENT_COLUMNS})
    view.changes, view.snapshot = new_changes, new_snapshot
    return view


def redact_values(access: Access | None, values: dict) -> dict:
    """A dict keyed by API names (an export row, a snapshot) with withheld ones blanked."""
    return _redacted(values, hidden(access), pairs=False) or values


# Input keys (schema/inputs.py:to_data) of the withholdable fields a mutation can write.
INPUT_FIELDS = {
    "amount": "amount", "probability": "probability", "expected_close_date": "expectedCloseDate",
    "next_step": "nextStep", "lost_reason": "lostReason",
}


def refuse_hidden_writes(access: Access | None, data: dict) -> None:
    """FORBIDDEN for every withheld field the input sets (also to null: clearing a value
    one may not see is a write too)."""
    withheld = hidden(access)
    errors = [
        UserError(FORBIDDEN, "Your access rule withholds {api_name}: you may not change it", [api_name], params={'api_name': api_name})
        for key, api_name in INPUT_FIELDS.items() if api_name in withheld and key in data
    ]
    if errors:
        raise UserErrors(errors)


# ---------------------------------------------------------------- what events carry


def _card_context_statement():
    o = bindparam("opportunity_id")
    involved = (
        select(m.Handoff.from_department_id.label("d")).where(m.Handoff.opportunity_id == o)
        .union(
            select(m.Handoff.to_department_id).where(m.Handoff.opportunity_id == o),
            select(m.ApprovalStep.department_id).join(m.Approval, m.Approval.id == m.ApprovalStep.approval_id)
            .where(m.Approval.opportunity_id == o),
        ).subquery()
    )
    return union_all(
        select(literal("department").label("tag"), m.Department.key.label("value"))
        .where(or_(m.Department.id.in_(bindparam("named", expanding=True)), m.Department.id.in_(select(involved.c.d)))),
        select(literal("holder"), m.Department.key).where(m.Department.id == bindparam("department_id")),
        select(literal("stage"), m.Stage.key).where(m.Stage.id == bindparam("stage_id")),
        select(literal("account"), m.Account.name).where(m.Account.id == bindparam("account_id")),
    )


async def card_context(session, opp: m.Opportunity, department_ids=()) -> tuple[set[str], dict]:
    """What an event about a card carries, read in one statement: the keys of every
    department involved in it (its holder, handoffs' both ends, approval steps) and of
    `department_ids`, and the card's fields a receiver wants with it (its snapshot,
    redacted per receiver on read)."""
    named = {opp.department_id, *(i for i in department_ids if i is not None)}
    # Built once: building and keying it cost four times what running it does, on every write.
    rows = (await session.execute(built_once(_card_context_statement), {
        "opportunity_id": opp.id, "named": sorted(named), "department_id": opp.department_id,
        "stage_id": opp.stage_id, "account_id": opp.account_id,
    })).all()
    keys = {value for tag, value in rows if tag == "department"}
    one = {tag: value for tag, value in rows if tag != "department"}
    amount = opp.amount
    return keys, {
        "title": opp.title, "stage": one.get("stage"), "department": one.get("holder"), "account": one.get("account"),
        "amount": str(amount) if isinstance(amount, Decimal) else amount, "currency": opp.currency,
        "probability": opp.probability,
        "expectedCloseDate": opp.expected_close_date.isoformat() if opp.expected_close_date else None,
        "source": opp.source,
    }

