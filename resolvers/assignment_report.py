"""The fairness report: per owner and per assignment rule, the deals offered (assigned
by a rule), claimed from the pool, won and lost in a period, from the event log, with
each owner's open load now and each rule's spread (max - min open load of its people).

Attribution: an event on a deal counts for the rule of the deal's latest
OPPORTUNITY_ASSIGNED before it, and for the owner the deal had at that moment (the
latest owner change before it; without one, the first change's "before", else the
deal's owner now)."""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from db import models as m
from db.loaders import MAX_USERS
from resolvers.assignment import MAX_RULES, candidates, open_loads
from resolvers.context import Ctx
from resolvers.paging import BadInput
from resolvers.tokens import Forbidden

PERIOD_TYPES = ("OPPORTUNITY_ASSIGNED", "OPPORTUNITY_CLAIMED", "OPPORTUNITY_MOVED", "OPPORTUNITY_LOST")
OWNER_TYPES = ("OPPORTUNITY_ASSIGNED", "OPPORTUNITY_CLAIMED", "OPPORTUNITY_RELEASED", "OPPORTUNITY_POOLED", "OPPORTUNITY_UPDATED")
MAX_REPORT_DAYS = 366


@dataclass
class Stats:
    user_id: int | None = None
    offered: int = 0
    claimed: int = 0
    won: int = 0
    lost: int = 0
    open_load: int = 0


@dataclass
class RuleStats:
    rule_name: str
    offered: int = 0
    claimed: int = 0
    won: int = 0
    lost: int = 0
    people: list[Stats] = field(default_factory=list)
    max_open_load: int | None = None
    min_open_load: int | None = None

    @property
    def spread(self) -> int | None:
        return None if self.max_open_load is None else self.max_open_load - self.min_open_load


@dataclass
class Report:
    start: datetime
    end: datetime
    owners: list[Stats]
    rules: list[RuleStats]


def _owner_at(history: list[m.Event], seq: int, current: int) -> int:
    before = [e for e in history if e.seq < seq]
    if before:
        return before[-1].changes["owner"][1]
    after = [e for e in history if e.seq > seq]
    return after[0].changes["owner"][0] if after else current


def _rule_at(history: list[m.Event], seq: int) -> str | None:
    assigned = [e for e in history if e.type == "OPPORTUNITY_ASSIGNED" and e.seq < seq]
    return assigned[-1].changes["rule"][1] if assigned else None


async def assignment_report(ctx: Ctx, start: datetime, end: datetime) -> Report:
    viewer = ctx.require_viewer()
    if viewer.role not in ("ADMIN", "MANAGER"):
        raise Forbidden("Only admins and managers can see the assignment report")
    if end <= start or (end - start).days > MAX_REPORT_DAYS:
        raise BadInput(f"`to` must be after `from`, at most {MAX_REPORT_DAYS} days later")
    org_id = viewer.org_id
    e = m.Event
    async with ctx.db.read() as s:
        period = list((await s.execute(select(e).where(
            e.org_id == org_id, e.type.in_(PERIOD_TYPES), e.occurred_at >= start, e.occurred_at < end).order_by(e.seq))).scalars())
        deal_ids = {ev.opportunity_id for ev in period if ev.opportunity_id is not None}
        histories: dict[int, list[m.Event]] = {}
        deals: dict[int, tuple[int, int]] = {}
        won_keys: dict[int, set[str]] = {}
        if deal_ids:
            for ev in (await s.execute(select(e).where(
                    e.org_id == org_id, e.opportunity_id.in_(deal_ids), e.type.in_(OWNER_TYPES)).order_by(e.seq))).scalars():
                if (ev.changes or {}).get("owner"):
                    histories.setdefault(ev.opportunity_id, []).append(ev)
            deals = {pk: (owner, pipeline) for pk, owner, pipeline in await s.execute(select(
                m.Opportunity.id, m.Opportunity.owner_id, m.Opportunity.pipeline_id).where(m.Opportunity.id.in_(deal_ids)))}
            for pipeline_id, key in await s.execute(select(m.Stage.pipeline_id, m.Stage.key).where(
                    m.Stage.pipeline_id.in_({p for _, p in deals.values()}), m.Stage.kind == "WON")):
                won_keys.setdefault(pipeline_id, set()).add(key)
        rules = list((await s.execute(select(m.AssignmentRule).where(
            m.AssignmentRule.org_id == org_id).order_by(m.AssignmentRule.position).limit(MAX_RULES))).scalars())
        people = {rule.name: [u.id for u in await candidates(s, org_id, rule.target)] for rule in rules}

        owners: dict[int, Stats] = {}
        by_rule: dict[str, RuleStats] = {rule.name: RuleStats(rule.name) for rule in rules}
        per_rule_owner: dict[tuple[str, int], Stats] = {}

        def count(what: str, owner: int | None, rule: str | None) -> None:
            tallies = []
            if owner is not None:
                tallies.append(owners.setdefault(owner, Stats(owner)))
            if rule is not None:
                tallies.append(by_rule.setdefault(rule, RuleStats(rule)))
                if owner is not None:
                    tallies.append(per_rule_owner.setdefault((rule, owner), Stats(owner)))
            for tally in tallies:
                setattr(tally, what, getattr(tally, what) + 1)

        for ev in period:
            history = histories.get(ev.opportunity_id, [])
            if ev.type == "OPPORTUNITY_ASSIGNED":
                count("offered", ev.changes["owner"][1], ev.changes["rule"][1])
                continue
            if ev.opportunity_id not in deals:
                continue  # the deal was deleted
            current, pipeline = deals[ev.opportunity_id]
            if ev.type == "OPPORTUNITY_CLAIMED":
                count("claimed", ev.changes["owner"][1], _rule_at(history, ev.seq))
            elif ev.type == "OPPORTUNITY_LOST" or (ev.changes or {}).get("stage", [None, None])[1] in won_keys.get(pipeline, ()):
                what = "lost" if ev.type == "OPPORTUNITY_LOST" else "won"
                count(what, _owner_at(history, ev.seq, current), _rule_at(history, ev.seq))

        user_ids = set(owners) | {pk for ids in people.values() for pk in ids}
        loads = await open_loads(s, user_ids)
    for pk in user_ids:
        owners.setdefault(pk, Stats(pk)).open_load = loads[pk]
    for name, stats in by_rule.items():
        ids = people.get(name, [])
        stats.people = [per_rule_owner.get((name, pk), Stats(pk)) for pk in ids]
        for person in stats.people:
            person.open_load = loads[person.user_id]
        if ids:
            stats.max_open_load = max(loads[pk] for pk in ids)
            stats.min_open_load = min(loads[pk] for pk in ids)
    order = {rule.name: i for i, rule in enumerate(rules)}
    return Report(start, end, sorted(owners.values(), key=lambda st: st.user_id)[:MAX_USERS],
                  sorted(by_rule.values(), key=lambda st: (order.get(st.rule_name, len(order)), st.rule_name))[:MAX_RULES])
