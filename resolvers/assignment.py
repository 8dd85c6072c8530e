"""Assignment rules: admins' ordered rules that give new deals (created without an owner,
imported with --assign) and deals returned to the pool an owner, by round-robin or by
capacity; a deal no rule can place goes to the shared pool (公海, resolvers/pool.py).

Every assignment locks the organization's rule rows first (SELECT ... FOR UPDATE on
PostgreSQL; SQLite writes one at a time), so concurrent creations read each other's
round-robin cursor and open loads: no two take the same slot, none exceeds a capacity."""
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import delete, func, select

from db import models as m
from resolvers import validate
from resolvers.audit import record_change
from resolvers.context import Ctx
from resolvers.errors import DUPLICATE, FORBIDDEN, VALIDATION, UserErrors, fail
from resolvers.ids import decode, to_global
from resolvers.rows import department_keys
from resolvers.tokens import Forbidden
from resolvers.uow import UnitOfWork, mutate

STRATEGIES = ("ROUND_ROBIN", "CAPACITY")
TARGET_ROLES = ("MEMBER", "MANAGER")  # who of a department takes deals
MAX_RULES = 50
MAX_VALUES = 50  # regions, industries, tags, sources, users per rule
MAX_TARGET_USERS = 1000  # a department's people considered per assignment
# Why a deal entered the pool (OPPORTUNITY_POOLED changes.reason).
NO_MATCH, AT_CAPACITY, NO_FOLLOW_UP = "NO_MATCH", "AT_CAPACITY", "NO_FOLLOW_UP"


@dataclass
class Pick:
    """Where a deal goes: `user` chosen by `rule`, or (user None) the pool of
    `pool_department_id`, held by `holder` (its manager, else an admin)."""

    rule: m.AssignmentRule | None
    user: m.User | None
    pool_department_id: int | None = None
    holder: m.User | None = None
    reason: str | None = None

    @property
    def owner(self) -> m.User:
        return self.user or self.holder


# ---------------------------------------------------------------- rules (admins)


def _path(i: int, name: str | None = None) -> list[str]:
    return ["rules", str(i)] + ([name] if name else [])


def _name(value: str | None, i: int) -> str:
    text = (value or "").strip()
    if not text:
        fail(VALIDATION, "A rule needs a name", _path(i, "name"))
    if len(text) > 100:
        fail(VALIDATION, "A rule's name has at most {limit} characters", _path(i, "name"), limit=100)
    return text


def _values(check: validate.Checks, values, i: int, name: str) -> list[str]:
    cleaned = []
    for value in values or []:
        text = (value or "").strip()
        if not text or len(text) > 100:
            check.fail(VALIDATION, "Each value must have 1 to 100 characters", _path(i, name))
            return []
        if text.casefold() not in {v.casefold() for v in cleaned}:
            cleaned.append(text)
    if len(cleaned) > MAX_VALUES:
        check.fail(VALIDATION, "At most {limit} values", _path(i, name), limit=MAX_VALUES)
    return cleaned


def _amount(check: validate.Checks, value, i: int, name: str) -> Decimal | None:
    if value is None:
        return None
    if value < 0 or value >= validate.MAX_AMOUNT:
        check.fail(VALIDATION, "The amount must be between 0 and {limit}", _path(i, name), limit=validate.MAX_AMOUNT)
        return None
    return Decimal(value).quantize(Decimal("0.01"))


async def _target(check: validate.Checks, s, org_id: int, rule: dict, i: int) -> dict | None:
    key, user_ids = rule.get("department_key"), rule.get("user_ids")
    if bool(key) == bool(user_ids):
        check.fail(VALIDATION, "Name either a departmentKey or userIds to assign to", _path(i, "departmentKey"))
        return None
    if key:
        department = await s.scalar(select(m.Department).where(m.Department.org_id == org_id, m.Department.key == key))
        if department is None or department.archived_at is not None:
            check.fail(VALIDATION, "Unknown department {key!r}", _path(i, "departmentKey"), key=key)
            return None
        return {"departmentKey": key}
    if len(user_ids) > MAX_VALUES:
        check.fail(VALIDATION, "At most {limit} values", _path(i, "userIds"), limit=MAX_VALUES)
        return None
    ids = []
    for gid in user_ids:
        try:
            pk = decode(gid, "User", "userIds")
        except UserErrors:
            pk = None
        user = await s.get(m.User, pk) if pk else None
        if user is None or user.org_id != org_id or user.deactivated_at is not None:
            check.fail(VALIDATION, "No active user with id {gid!r}", _path(i, "userIds"), gid=gid)
            return None
        if pk not in ids:
            ids.append(pk)
    return {"userIds": ids}


def rule_json(rule: m.AssignmentRule) -> dict:
    """The rule as the configuration log records it."""
    return {"name": rule.name, "match": rule.match, "target": rule.target, "strategy": rule.strategy, "capacity": rule.capacity}


def _require_admin(ctx: Ctx):
    viewer = ctx.require_writer()
    if not viewer.is_admin:
        fail(FORBIDDEN, "Only an admin can set assignment rules")
    return viewer


async def set_assignment_rules(ctx: Ctx, data: dict):
    """Replace the organization's rules (in the order given); every problem reported at once."""

    async def work(uow: UnitOfWork) -> list[m.AssignmentRule]:
        _require_admin(ctx)
        s = uow.session
        given = data.get("rules") or []
        rows, names = [], set()
        with validate.Checks() as check:
            if len(given) > MAX_RULES:
                check.fail(VALIDATION, "At most {limit} rules", "rules", limit=MAX_RULES)
                given = []
            for i, rule in enumerate(given):
                name = check(_name, rule.get("name"), i)
                if name is None:
                    pass
                elif name.casefold() in names:
                    check.fail(DUPLICATE, "Another rule is named {name!r}", _path(i, "name"), name=name)
                else:
                    names.add(name.casefold())
                amount_min = _amount(check, rule.get("amount_min"), i, "amountMin")
                amount_max = _amount(check, rule.get("amount_max"), i, "amountMax")
                if amount_min is not None and amount_max is not None and amount_min > amount_max:
                    check.fail(VALIDATION, "amountMax must not be below amountMin", _path(i, "amountMax"))
                match = {
                    "regions": _values(check, rule.get("regions"), i, "regions"),
                    "industries": _values(check, rule.get("industries"), i, "industries"),
                    "tags": _values(check, rule.get("tags"), i, "tags"),
                    "sources": _values(check, rule.get("sources"), i, "sources"),
                    "amountMin": str(amount_min) if amount_min is not None else None,
                    "amountMax": str(amount_max) if amount_max is not None else None,
                }
                target = await _target(check, s, uow.org_id, rule, i)
                strategy, capacity = rule.get("strategy"), rule.get("capacity")
                if strategy not in STRATEGIES:
                    check.fail(VALIDATION, "strategy must be one of {strategies}", _path(i, "strategy"), strategies=", ".join(STRATEGIES))
                if capacity is not None and not 1 <= capacity <= 100_000:
                    check.fail(VALIDATION, "capacity must be between 1 and {limit}", _path(i, "capacity"), limit=100_000)
                elif capacity is None and strategy == "CAPACITY":
                    check.fail(VALIDATION, "A CAPACITY rule needs a capacity", _path(i, "capacity"))
                rows.append(dict(name=name, match=match, target=target, strategy=strategy, capacity=capacity))
        old = list((await s.execute(
            select(m.AssignmentRule).where(m.AssignmentRule.org_id == uow.org_id)
            .order_by(m.AssignmentRule.position).with_for_update()
        )).scalars())
        cursors = {rule.name.casefold(): rule.rr_cursor for rule in old}
        await s.execute(delete(m.AssignmentRule).where(m.AssignmentRule.org_id == uow.org_id))
        await s.flush()
        new = [m.AssignmentRule(org_id=uow.org_id, position=i, updated_at=uow.now,
                                rr_cursor=cursors.get(row["name"].casefold(), 0), **row)
               for i, row in enumerate(rows)]
        s.add_all(new)
        await s.flush()
        await record_change(uow, "assignmentRules", None, "updated",
                            {"rules": [rule_json(r) for r in old]}, {"rules": [rule_json(r) for r in new]})
        return new

    return await mutate(ctx, work)


async def list_assignment_rules(ctx: Ctx) -> list[m.AssignmentRule]:
    """Admins and managers read the rules (FORBIDDEN for others)."""
    viewer = ctx.require_viewer()
    if viewer.role not in ("ADMIN", "MANAGER"):
        raise Forbidden("Only admins and managers can see assignment rules")
    return await ctx.loaders.all(
        select(m.AssignmentRule).where(m.AssignmentRule.org_id == viewer.org_id)
        .order_by(m.AssignmentRule.position).limit(MAX_RULES))


def rule_user_ids(rule: m.AssignmentRule) -> list[str]:
    return [to_global("User", pk) for pk in rule.target.get("userIds", [])]


# ---------------------------------------------------------------- choosing an owner


async def locked_rules(s, org_id: int) -> list[m.AssignmentRule]:
    """The organization's rules in order, locked until commit (serializes assignments)."""
    return list((await s.execute(
        select(m.AssignmentRule).where(m.AssignmentRule.org_id == org_id)
        .order_by(m.AssignmentRule.position).with_for_update()
    )).scalars())


async def in_base(s, org_id: int, amount: Decimal | None, currency: str, day) -> Decimal | None:
    """The amount in the organization's base currency by the newest rate on or before
    `day` (resolvers/money.py); None when there is no amount or no rate."""
    if amount is None:
        return None
    base = await s.scalar(select(m.Organization.base_currency).where(m.Organization.id == org_id))
    if currency == base:
        return Decimal(amount)
    r = m.ExchangeRate
    rate = await s.scalar(select(r.rate).where(
        r.org_id == org_id, r.base_currency == base, r.currency == currency, r.day <= day).order_by(r.day.desc()).limit(1))
    return None if rate is None else Decimal(amount) * Decimal(rate)


def matches(match: dict, account: m.Account | None, amount: Decimal | None, tags: list[str],
            source: str | None = None) -> bool:
    """Every condition the rule sets holds (an empty list or null bound sets none; a deal
    without a source matches no rule that names sources)."""
    def one_of(values, value):
        return not values or (value or "").strip().casefold() in {v.casefold() for v in values}

    if not one_of(match.get("regions"), account.region if account else None):
        return False
    if not one_of(match.get("industries"), account.industry if account else None):
        return False
    if match.get("tags") and not {t.casefold() for t in tags or []} & {t.casefold() for t in match["tags"]}:
        return False
    if not one_of(match.get("sources"), source):
        return False
    low, high = match.get("amountMin"), match.get("amountMax")
    if low is not None or high is not None:
        if amount is None:
            return False
        if low is not None and amount < Decimal(low):
            return False
        if high is not None and amount > Decimal(high):
            return False
    return True


async def candidates(s, org_id: int, target: dict) -> list[m.User]:
    """The rule's people in round-robin order: a department's active members and
    managers by id, or the named group's active users in the order given."""
    if target.get("departmentKey"):
        return list((await s.execute(
            select(m.User).join(m.Department, m.Department.id == m.User.department_id)
            .where(m.User.org_id == org_id, m.Department.key == target["departmentKey"],
                   m.User.role.in_(TARGET_ROLES), m.User.deactivated_at.is_(None))
            .order_by(m.User.id).limit(MAX_TARGET_USERS)
        )).scalars())
    ids = target.get("userIds") or []
    found = {u.id: u for u in (await s.execute(
        select(m.User).where(m.User.org_id == org_id, m.User.id.in_(ids), m.User.deactivated_at.is_(None)))).scalars()}
    return [found[pk] for pk in ids if pk in found]


async def open_loads(s, user_ids) -> dict[int, int]:
    """Open deals each user owns now (OPEN stages, not waiting in the pool)."""
    ids = list(user_ids)
    counts = dict.fromkeys(ids, 0)
    if not ids:
        return counts
    rows = await s.execute(
        select(m.Opportunity.owner_id, func.count()).join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
        .where(m.Opportunity.owner_id.in_(ids), m.Stage.kind == "OPEN", m.Opportunity.pooled_at.is_(None))
        .group_by(m.Opportunity.owner_id))
    counts.update({owner: n for owner, n in rows})
    return counts


async def choose(s, rule: m.AssignmentRule, people: list[m.User], exclude=()) -> m.User | None:
    """The rule's next owner, advancing its cursor; None when everyone is at capacity.
    ROUND_ROBIN: the next in turn below capacity; CAPACITY: the least loaded below it,
    ties to whoever is next in turn."""
    n = len(people)
    if n == 0:
        return None
    start = rule.rr_cursor % n
    loads = await open_loads(s, [u.id for u in people]) if rule.capacity is not None else {}
    eligible = [i for i, u in enumerate(people)
                if u.id not in exclude and (rule.capacity is None or loads[u.id] < rule.capacity)]
    if not eligible:
        return None
    if rule.strategy == "CAPACITY":
        chosen = min(eligible, key=lambda i: (loads[people[i].id], (i - start) % n))
    else:
        chosen = min(eligible, key=lambda i: (i - start) % n)
    rule.rr_cursor = (chosen + 1) % n
    return people[chosen]


async def pool_holder(s, org_id: int, department_id: int | None) -> m.User | None:
    """Who holds a pooled deal: the pool department's first active manager, else the first active admin."""
    base = select(m.User).where(m.User.org_id == org_id, m.User.deactivated_at.is_(None)).order_by(m.User.id).limit(1)
    holder = None
    if department_id is not None:
        holder = await s.scalar(base.where(m.User.department_id == department_id, m.User.role == "MANAGER"))
    return holder or await s.scalar(base.where(m.User.role == "ADMIN"))


async def pick(uow: UnitOfWork, opp: m.Opportunity, account: m.Account | None, *, exclude=()) -> Pick | None:
    """Where the first matching rule puts `opp` (None when the organization has no rules).
    A rule whose people are all at capacity (or excluded) sends it to its department's pool;
    with no matching rule it goes to the pool of the deal's own department."""
    s = uow.session
    rules = await locked_rules(s, uow.org_id)
    if not rules:
        return None
    amount = await in_base(s, uow.org_id, opp.amount, opp.currency, uow.now.date())
    for rule in rules:
        if matches(rule.match, account, amount, opp.tags, opp.source):
            user = await choose(s, rule, await candidates(s, uow.org_id, rule.target), exclude)
            if user is not None:
                return Pick(rule, user)
            department_id = opp.department_id
            if rule.target.get("departmentKey"):
                department_id = await s.scalar(select(m.Department.id).where(
                    m.Department.org_id == uow.org_id, m.Department.key == rule.target["departmentKey"]))
            return await _to_pool(s, uow.org_id, rule, department_id, AT_CAPACITY)
    return await _to_pool(s, uow.org_id, None, opp.department_id, NO_MATCH)


async def _to_pool(s, org_id: int, rule, department_id: int | None, reason: str) -> Pick:
    holder = await pool_holder(s, org_id, department_id)
    if holder is None:
        fail(VALIDATION, "The pool has nobody to hold it: the department has no manager and the organization no admin")
    return Pick(rule, None, department_id, holder, reason)


async def apply(uow: UnitOfWork, opp: m.Opportunity, chosen: Pick, old_owner_id: int | None) -> None:
    """Give `opp` to the chosen owner (OPPORTUNITY_ASSIGNED, the owner notified) or put
    it in the pool (OPPORTUNITY_POOLED); the card's own version is the caller's."""
    s = uow.session
    keys = await department_keys(s, opp.department_id)
    if chosen.user is not None:
        opp.owner_id, opp.assigned_at = chosen.user.id, uow.now
        opp.pooled_at = opp.pool_department_id = None
        event = await uow.append_event(
            "OPPORTUNITY_ASSIGNED", opportunity_id=opp.id, department_keys=keys,
            changes={"owner": [old_owner_id, chosen.user.id], "rule": [None, chosen.rule.name]})
        uow.notify([chosen.user.id], "assigned", "{opp} was assigned to you by the rule {rule}",
                   opportunity_id=opp.id, event=event, opp=opp.title, rule=chosen.rule.name)
        return
    await enter_pool(uow, opp, chosen.pool_department_id, chosen.holder.id, "OPPORTUNITY_POOLED",
                     {"reason": [None, chosen.reason]}, old_owner_id)


async def enter_pool(uow: UnitOfWork, opp: m.Opportunity, department_id: int | None, holder_id: int,
                     event_type: str, extra: dict, old_owner_id: int | None) -> m.Event:
    opp.owner_id, opp.pooled_at, opp.pool_department_id = holder_id, uow.now, department_id
    pool_key = (await department_keys(uow.session, department_id) or [None])[0]
    return await uow.append_event(
        event_type, opportunity_id=opp.id, department_ids=(opp.department_id, department_id),
        changes={"owner": [old_owner_id, holder_id], "pool": [None, pool_key], **extra})


async def assign_new_deal(uow: UnitOfWork, opp: m.Opportunity) -> Pick | None:
    """For a deal already flushed (imports with --assign): the first matching rule gives it
    an owner, or it goes to the pool; None (nothing changes) without rules."""
    account = await uow.session.get(m.Account, opp.account_id)
    chosen = await pick(uow, opp, account)
    if chosen is not None:
        opp.department_id = chosen.user.department_id if chosen.user else chosen.pool_department_id
        await apply(uow, opp, chosen, opp.owner_id)
    return chosen
