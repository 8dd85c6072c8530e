"""Targets for a month ("2026-11") or a quarter ("2026-Q4") per owner, department (the
owners in it) or organization, and their attainment computed from the event log:

- won: the amounts (in the base currency, today's rates) of the deals now in a won
  stage whose last move into a won stage happened in the period;
- new qualified: deals that reached `qualified` or a later open or won stage of their
  pipeline for the first time in the period (created there counts as reaching it).

Periods are UTC. Figures cover the deals the viewer may see; amounts withheld from the
viewer are counted, not summed. Managers set targets for their department and its
people, admins for everyone (a CONFIGURATION_CHANGED event)."""
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal

from sqlalchemy import select

from db import models as m
from resolvers import validate
from resolvers.audit import record_change
from resolvers.context import Ctx
from resolvers.errors import FORBIDDEN, VALIDATION, fail
from resolvers.ids import parse_global, to_global
from resolvers.money import base_currency, rates_for
from resolvers.money import totals as money_totals
from resolvers.paging import BadInput
from resolvers.uow import UnitOfWork, mutate
from resolvers.visibility import conditions, ensure_access, opportunity_clause

SCOPES = ("OWNER", "DEPARTMENT", "ORGANIZATION")
QUALIFIED = "qualified"
MAX_TARGETS = 500  # per period
_PERIOD = re.compile(r"^(\d{4})-(?:(0[1-9]|1[0-2])|Q([1-4]))$")
MAX_COUNT = 1_000_000


def period_bounds(period: str | None) -> tuple[datetime, datetime] | None:
    """[start, end) of "YYYY-MM" or "YYYY-Qn" in UTC, or None when malformed."""
    found = _PERIOD.match((period or "").strip())
    if not found:
        return None
    year = int(found[1])
    first = int(found[2]) if found[2] else (int(found[3]) - 1) * 3 + 1
    months = 1 if found[2] else 3
    last = first + months
    end = date(year + 1, 1, 1) if last > 12 else date(year, last, 1)
    return (datetime.combine(date(year, first, 1), time(), timezone.utc), datetime.combine(end, time(), timezone.utc))


def _period(value) -> str:
    if period_bounds(value) is None:
        fail(VALIDATION, "A period is a month like 2026-11 or a quarter like 2026-Q4", "period")
    return value.strip()


def _count(value) -> int | None:
    if value is not None and not 0 <= value <= MAX_COUNT:
        fail(VALIDATION, "newQualifiedCount must be between 0 and {most}", "newQualifiedCount", most=MAX_COUNT)
    return value


async def set_target(ctx: Ctx, data: dict):
    """Create, replace or (both figures null) remove one target."""

    async def work(uow: UnitOfWork) -> m.Target | None:
        viewer = ctx.require_writer()
        s = uow.session
        with validate.Checks() as check:
            scope = data.get("scope")
            period = check(_period, data.get("period"))
            won = check(validate.amount, data.get("won_amount"), "wonAmount")
            count = check(_count, data.get("new_qualified_count"))
            owner = department = None
            if scope == "OWNER":
                owner = await check.lookup(_user(s, uow.org_id, data.get("owner_id")))
            elif scope == "DEPARTMENT":
                department = await check.lookup(_department(s, uow.org_id, data.get("department_key")))
        department_id = department.id if department else owner.department_id if owner else None
        if not viewer.is_admin and not (viewer.role == "MANAGER" and scope != "ORGANIZATION" and department_id == viewer.user.department_id):
            fail(FORBIDDEN, "Managers set targets for their department and its people; admins for everyone")
        scope_key = "ORGANIZATION" if scope == "ORGANIZATION" else f"{scope}:{owner.id if owner else department.id}"
        row = (await s.execute(select(m.Target).where(
            m.Target.org_id == uow.org_id, m.Target.scope_key == scope_key, m.Target.period == period).with_for_update())).scalar_one_or_none()
        before = {"wonAmount": str(row.won_amount) if row and row.won_amount is not None else None,
                  "newQualifiedCount": row.new_qualified_count if row else None}
        after = {"wonAmount": str(won) if won is not None else None, "newQualifiedCount": count}
        target_gid = None
        if won is None and count is None:
            if row is not None:
                target_gid = to_global("Target", row.id)
                await s.delete(row)
            row = None
        else:
            if row is None:
                row = m.Target(org_id=uow.org_id, scope=scope, scope_key=scope_key, period=period,
                               owner_id=owner.id if owner else None, department_id=department.id if department else None)
                s.add(row)
            row.won_amount, row.new_qualified_count, row.set_by_id, row.updated_at = won, count, viewer.id, uow.now
            await s.flush()
            target_gid = to_global("Target", row.id)
        # The event bumps the seq: cached target strips expire.
        await record_change(uow, "target", target_gid, "removed" if row is None else "set",
                            {"scope": scope_key, "period": period, **before}, {"scope": scope_key, "period": period, **after})
        return row

    return await mutate(ctx, work)


async def _user(s, org_id: int, gid) -> m.User:
    parsed = parse_global(gid or "")
    user = await s.get(m.User, parsed[1]) if parsed and parsed[0] == "User" else None
    if user is None or user.org_id != org_id:
        fail(VALIDATION, "An OWNER target needs ownerId, a user of the organization", "ownerId")
    return user


async def _department(s, org_id: int, key) -> m.Department:
    department = await s.scalar(select(m.Department).where(m.Department.org_id == org_id, m.Department.key == (key or "")))
    if department is None:
        fail(VALIDATION, "A DEPARTMENT target needs departmentKey, a department of the organization", "departmentKey")
    return department


@dataclass
class Attainment:
    target: m.Target
    won_amount: Decimal | None  # null when amounts are withheld from the viewer
    won_count: int
    new_qualified_count: int
    hidden_amount_count: int
    missing_rates: list[str]


async def targets(ctx: Ctx, period: str) -> list[Attainment]:
    viewer = ctx.require_viewer()
    bounds = period_bounds(period)
    if bounds is None:
        raise BadInput("A period is a month like 2026-11 or a quarter like 2026-Q4")
    start, end = bounds
    org_id = viewer.org_id
    rows = await ctx.loaders.all(
        select(m.Target).where(m.Target.org_id == org_id, m.Target.period == period.strip())
        .order_by(m.Target.scope, m.Target.id).limit(MAX_TARGETS)
    )
    if not rows:
        return []
    access = await ensure_access(ctx)
    stages = await ctx.loaders.all(
        select(m.Stage).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id).where(m.Pipeline.org_id == org_id))
    by_key = {(st.pipeline_id, st.key): st for st in stages}
    by_id = {st.id: st for st in stages}
    opps = {opp.id: (opp, department_id) for opp, department_id in await ctx.loaders.rows(
        select(m.Opportunity, m.User.department_id).join(m.User, m.User.id == m.Opportunity.owner_id)
        .where(m.Opportunity.org_id == org_id, m.Opportunity.created_at < end, *conditions(opportunity_clause(access))))}
    moves = defaultdict(list)  # every move: the first one's "from" is the stage a deal was created in
    if opps:
        for event in await ctx.loaders.all(
            select(m.Event).where(m.Event.org_id == org_id, m.Event.type.in_(("OPPORTUNITY_MOVED", "OPPORTUNITY_LOST")),
                                  m.Event.opportunity_id.is_not(None)).order_by(m.Event.seq)
        ):
            if event.opportunity_id in opps and event.changes and "stage" in event.changes:
                moves[event.opportunity_id].append(event)

    won, qualified = [], []  # (opportunity, owner's department)
    for opp, department_id in opps.values():
        stage = by_id.get(opp.stage_id)
        evs = moves.get(opp.id, [])
        won_at = [e.occurred_at for e in evs if _kind(by_key, opp.pipeline_id, e.changes["stage"][1]) == "WON"]
        if stage is not None and stage.kind == "WON" and won_at and start <= won_at[-1] < end:
            won.append((opp, department_id))
        mark = by_key.get((opp.pipeline_id, QUALIFIED))
        if mark is None:
            continue
        first_key = evs[0].changes["stage"][0] if evs else (stage.key if stage else None)
        timeline = [(first_key, opp.created_at)] + [(e.changes["stage"][1], e.occurred_at) for e in evs]
        reached = next((at for key, at in timeline if _beyond(by_key.get((opp.pipeline_id, key)), mark)), None)
        if reached is not None and start <= reached < end:
            qualified.append((opp, department_id))

    amounts_hidden = "amount" in access.hidden
    async with ctx.db.read() as s:
        base = await base_currency(s, org_id)
    rates = await rates_for(ctx, base, {o.currency for o, _ in won if o.amount is not None}) if not amounts_hidden else {}
    results = []
    for target in rows:
        mine = lambda pairs: [o for o, d in pairs if _counts_for(target, o, d)]  # noqa: E731
        won_here = mine(won)
        sums: dict[str, Decimal] = {}
        for o in won_here:
            if o.amount is not None and not amounts_hidden:
                sums[o.currency] = sums.get(o.currency, Decimal(0)) + o.amount
        total = money_totals(base, sums, rates).base
        results.append(Attainment(
            target=target, won_amount=None if amounts_hidden else total.converted, won_count=len(won_here),
            new_qualified_count=len(mine(qualified)),
            hidden_amount_count=sum(1 for o in won_here if o.amount is not None) if amounts_hidden else 0,
            missing_rates=total.missing_rates,
        ))
    return results


def _kind(by_key: dict, pipeline_id: int, key) -> str | None:
    stage = by_key.get((pipeline_id, key))
    return stage.kind if stage else None


def _beyond(stage: m.Stage | None, mark: m.Stage) -> bool:
    return stage is not None and stage.kind in ("OPEN", "WON") and stage.position >= mark.position


def _counts_for(target: m.Target, opp: m.Opportunity, owner_department_id: int) -> bool:
    if target.scope == "OWNER":
        return opp.owner_id == target.owner_id
    if target.scope == "DEPARTMENT":
        return owner_department_id == target.department_id
    return True
