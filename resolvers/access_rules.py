"""Admins set who may see what: one rule per role, optionally per department
(resolvers/visibility.py applies them). Setting a rule appends an
ACCESS_RULES_UPDATED event, so cached results expire and open subscriptions
apply the new rule from that point of the log on."""
from sqlalchemy import func, select

from db import models as m
from db.loaders import MAX_DEPARTMENTS
from resolvers import validate
from resolvers.context import Ctx
from resolvers.errors import FORBIDDEN, VALIDATION, fail
from resolvers.events import sees_configuration
from resolvers.ids import parse_global
from resolvers.paging import BadInput
from resolvers.tokens import Forbidden
from resolvers.uow import UnitOfWork, mutate
from resolvers.visibility import HIDEABLE, RULE_ROLES, SCOPES, conditions, hidden, load_access, opportunity_clause

# One rule per role for every department and per department: at most 3 x (1 + 10).
MAX_RULES = len(RULE_ROLES) * (1 + MAX_DEPARTMENTS)


def _role(value: str | None) -> str:
    if value == "ADMIN":
        fail(VALIDATION, "Admins always see everything; set rules for MANAGER, MEMBER or VIEWER", "role")
    if value not in RULE_ROLES:
        fail(VALIDATION, "role must be one of {roles}", "role", roles=', '.join(RULE_ROLES))
    return value


def _scope(value: str | None) -> str:
    if value not in SCOPES:
        fail(VALIDATION, "scope must be one of {scopes}", "scope", scopes=', '.join(SCOPES))
    return value


def _hidden(values: list[str] | None) -> list[str]:
    values = list(dict.fromkeys(values or []))
    unknown = [v for v in values if v not in HIDEABLE]
    if unknown:
        fail(VALIDATION, "Cannot hide {unknown}; hideable fields are {hideable}", "hiddenFields", unknown=', '.join(map(repr, unknown)), hideable=', '.join(HIDEABLE))
    return sorted(values)


async def _department_key(session, org_id: int, key: str | None) -> str:
    if not key:
        return ""  # the role in every department
    found = await session.scalar(select(m.Department.key).where(m.Department.org_id == org_id, m.Department.key == key))
    if found is None:
        fail(VALIDATION, "Unknown department {key!r}", "departmentKey", key=key)
    return found


async def set_access_rule(ctx: Ctx, data: dict):
    """Create or replace the rule for (role, department); every problem reported at once."""

    async def work(uow: UnitOfWork) -> m.AccessRule:
        viewer = ctx.require_writer()
        if not viewer.is_admin:
            fail(FORBIDDEN, "Only an admin can set access rules")
        s = uow.session
        with validate.Checks() as check:
            role = check(_role, data.get("role"))
            scope = check(_scope, data.get("scope"))
            hidden = check(_hidden, data.get("hidden_fields"))
            department_key = await check.lookup(_department_key(s, uow.org_id, data.get("department_key")))
        rule = (await s.execute(
            select(m.AccessRule).where(
                m.AccessRule.org_id == uow.org_id, m.AccessRule.role == role, m.AccessRule.department_key == department_key,
            ).with_for_update()
        )).scalar_one_or_none()
        before = [rule.scope, list(rule.hidden_fields)] if rule is not None else ["ALL", []]
        if rule is None:
            rule = m.AccessRule(org_id=uow.org_id, role=role, department_key=department_key)
            s.add(rule)
        rule.scope, rule.hidden_fields, rule.updated_at = scope, hidden, uow.now
        await s.flush()
        await uow.append_event(
            "ACCESS_RULES_UPDATED",
            changes={"role": role, "departmentKey": department_key or None, "scope": [before[0], scope],
                     "hiddenFields": [before[1], hidden]},
        )
        return rule

    return await mutate(ctx, work)


async def list_access_rules(ctx: Ctx) -> list[m.AccessRule]:
    viewer = ctx.require_viewer()
    if not viewer.is_admin:
        raise Forbidden("Only an admin can see this")
    return await ctx.loaders.all(
        select(m.AccessRule).where(m.AccessRule.org_id == viewer.org_id)
        .order_by(m.AccessRule.role, m.AccessRule.department_key).limit(MAX_RULES)
    )


# ---------------------------------------------------------------- "view as" preview

PREVIEW_SAMPLES = 5


async def access_preview(ctx: Ctx, user_gid: str) -> dict:
    """What `user_gid` sees under the rules as they stand (admins only): the rule that
    applies, how many cards of all, which fields are withheld and a few visible titles.
    Computed with visibility.py's own lookup and predicate, so it cannot disagree with
    what that user's `opportunities` answers."""
    viewer = ctx.require_viewer()
    # As the configuration log: not through a token scoped to a department (it acts for that department).
    if not sees_configuration(viewer):
        raise Forbidden("Only an admin can see this")
    parsed = parse_global(user_gid) if isinstance(user_gid, str) else None
    o = m.Opportunity
    async with ctx.db.read() as s:
        user = await s.get(m.User, parsed[1]) if parsed and parsed[0] == "User" else None
        if user is None or user.org_id != viewer.org_id:
            raise BadInput("No user with that id")
        access = await load_access(s, user)
        visible = conditions(o.org_id == viewer.org_id, opportunity_clause(access))
        total = await s.scalar(select(func.count()).select_from(o).where(o.org_id == viewer.org_id))
        count = await s.scalar(select(func.count()).select_from(o).where(*visible))
        titles = list((await s.execute(select(o.title).where(*visible).order_by(o.id).limit(PREVIEW_SAMPLES))).scalars())
        rule = None
        if user.role != "ADMIN":
            key = await s.scalar(select(m.Department.key).where(m.Department.id == user.department_id))
            rules = (await s.execute(select(m.AccessRule).where(
                m.AccessRule.org_id == viewer.org_id, m.AccessRule.role == user.role,
                m.AccessRule.department_key.in_(["", key]),
            ))).scalars().all()
            # The department's rule wins over the role's general one (visibility.access_of).
            rule = next((r for r in rules if r.department_key == key), None) or next((r for r in rules if r.department_key == ""), None)
    return {
        "user": user, "rule": rule, "visible_cards": count or 0, "total_cards": total or 0,
        "hidden_fields": sorted(hidden(access)), "sample_titles": titles,
    }
