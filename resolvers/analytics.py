"""Pipeline analytics from the event log, computed in Python over a few statements
so SQLite and PostgreSQL agree (no dialect-specific percentile functions).

The cohort is the pipeline's opportunities created within [from, to] (UTC dates,
inclusive). A card's stage timeline starts at its creation stage (the first
move's "from", or its current stage if it never moved)."""
import functools
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from statistics import median

from sqlalchemy import select

from db import models as m
from resolvers.context import Ctx
from resolvers.ids import parse_global
from resolvers.money import ConvertedTotal, Money, Totals, base_currency, rates_for
from resolvers.money import totals as money_totals
from resolvers.paging import BadInput
from resolvers.visibility import conditions, ensure_access, opportunity_clause

HOUR = 3600.0


@dataclass
class FunnelRow:
    stage: m.Stage
    entered: int
    current: int
    amount: Decimal  # of the amounts the viewer may see, in the base currency (those with a rate)
    hidden_amount_count: int
    conversion_to_next: float | None
    median_hours_in_stage: float | None
    totals: list[Money]
    base_total: ConvertedTotal


@dataclass
class AnalyticsData:
    funnel: list[FunnelRow]
    win_rate: float | None
    median_cycle_days: float | None
    loss_reasons: dict
    median_handoff_response_hours: float | None
    median_approval_hours: float | None
    # The visible amounts of the cohort (all cards, those in open stages, the won ones):
    # per currency and converted, never one sum over several currencies.
    everything: Totals
    open: Totals
    won: Totals


def _median(values: list[float]) -> float | None:
    return round(median(values), 4) if values else None


async def analytics(ctx: Ctx, pipeline_gid: str | None, start: date | None, end: date | None) -> AnalyticsData:
    org_id = ctx.require_viewer().org_id
    access = await ensure_access(ctx)
    stmt = select(m.Pipeline).where(m.Pipeline.org_id == org_id)
    if pipeline_gid:
        parsed = parse_global(pipeline_gid)
        if not parsed or parsed[0] != "Pipeline":
            raise BadInput(f"Invalid pipeline id {pipeline_gid!r}")
        stmt = stmt.where(m.Pipeline.id == parsed[1])
    pipelines = await ctx.loaders.all(stmt.order_by(m.Pipeline.position, m.Pipeline.id).limit(1))
    if not pipelines:
        raise BadInput("No such pipeline")
    stages = await ctx.loaders.all(select(m.Stage).where(m.Stage.pipeline_id == pipelines[0].id).order_by(m.Stage.position))
    by_key = {st.key: st for st in stages}

    # Figures cover only the cards the viewer sees.
    conds = [m.Opportunity.org_id == org_id, m.Opportunity.pipeline_id == pipelines[0].id, *conditions(opportunity_clause(access))]
    if start:
        conds.append(m.Opportunity.created_at >= datetime.combine(start, time(), timezone.utc))
    if end:
        conds.append(m.Opportunity.created_at < datetime.combine(end + timedelta(days=1), time(), timezone.utc))
    # Plain rows of the columns used (no ORM object per card or event: a large organization
    # has 100,000 cards and their moves), and of each move only its stage pair.
    opps = {o.id: o for o in await ctx.loaders.rows(select(
        m.Opportunity.id, m.Opportunity.stage_id, m.Opportunity.created_at, m.Opportunity.amount,
        m.Opportunity.currency, m.Opportunity.lost_reason).where(*conds))}
    # The same cards as a subquery, not a list of their ids: the statements keep a few
    # parameters however many cards there are (PostgreSQL takes at most 32,767).
    ids = select(m.Opportunity.id).where(*conds)
    moves = await ctx.loaders.rows(
        select(m.Event.opportunity_id, m.Event.occurred_at, m.Event.changes["stage"].label("stage"))
        .where(m.Event.org_id == org_id, m.Event.opportunity_id.in_(ids),
               m.Event.type.in_(("OPPORTUNITY_MOVED", "OPPORTUNITY_LOST"))).order_by(m.Event.seq)
    ) if opps else []
    handoffs = await ctx.loaders.all(select(m.Handoff).where(m.Handoff.opportunity_id.in_(ids), m.Handoff.status.in_(("ACCEPTED", "DECLINED")))) if opps else []
    approvals = await ctx.loaders.all(select(m.Approval).where(m.Approval.opportunity_id.in_(ids), m.Approval.status.in_(("APPROVED", "REJECTED")))) if opps else []

    # Timeline per card: [(stage key, entered at)], oldest first.
    timelines: dict[int, list[tuple[str, datetime]]] = {}
    moves_by_opp = defaultdict(list)
    for ev in moves:
        moves_by_opp[ev.opportunity_id].append(ev)
    current_key = {st.id: st.key for st in stages}
    for oid, opp in opps.items():
        evs = moves_by_opp.get(oid, [])
        first = evs[0].stage[0] if evs else current_key[opp.stage_id]
        timelines[oid] = [(first, opp.created_at)] + [(ev.stage[1], ev.occurred_at) for ev in evs]

    # Per stage, in one pass over each timeline: cards that entered it, those that went on
    # to a later open or won stage after first entering it, and each completed stay's hours.
    entered, converted, durations = Counter(), Counter(), defaultdict(list)
    onward = {key: st.position for key, st in by_key.items() if st.kind in ("OPEN", "WON")}
    for tl in timelines.values():
        first_at: dict[str, int] = {}
        for i, (key, at) in enumerate(tl):
            first_at.setdefault(key, i)
            if i + 1 < len(tl):
                durations[key].append((tl[i + 1][1] - at).total_seconds() / HOUR)
        furthest, after = [], -1  # furthest[i]: the highest onward position after entry i
        for key, _ in reversed(tl):
            furthest.append(after)
            after = max(after, onward.get(key, -1))
        furthest.reverse()
        for key, i in first_at.items():
            entered[key] += 1
            if key in by_key and furthest[i] > by_key[key].position:
                converted[key] += 1
    by_stage = defaultdict(list)
    for o in opps.values():
        by_stage[o.stage_id].append(o)

    amounts_shown = "amount" not in access.hidden
    async with ctx.db.read() as s:
        base = await base_currency(s, org_id)
    rates = await rates_for(ctx, base, {o.currency for o in opps.values() if o.amount is not None}) if amounts_shown else {}
    funnel = []
    by_kind: dict[str, dict[str, Decimal]] = defaultdict(dict)  # stage kind -> currency -> sum
    for st in stages:
        if st.archived_at is not None:
            continue  # an archived stage left the funnel (its cards were moved out)
        here = by_stage[st.id]
        shown = here if amounts_shown else []
        sums: dict[str, Decimal] = {}
        for o in shown:
            if o.amount is not None:
                sums[o.currency] = sums.get(o.currency, Decimal(0)) + o.amount
        _add(by_kind[st.kind], sums)
        money = money_totals(base, sums, rates)
        funnel.append(FunnelRow(
            stage=st, entered=entered[st.key], current=len(here), amount=money.base.converted,
            totals=money.per_currency, base_total=money.base,
            hidden_amount_count=sum(1 for o in here if o.amount is not None) - sum(1 for o in shown if o.amount is not None),
            conversion_to_next=round(converted[st.key] / entered[st.key], 4) if entered[st.key] and st.kind == "OPEN" else None,
            median_hours_in_stage=_median(durations[st.key]),
        ))

    kind_of = {st.id: st.kind for st in stages}
    won = [o for o in opps.values() if kind_of[o.stage_id] == "WON"]
    lost = [o for o in opps.values() if kind_of[o.stage_id] == "LOST"]
    cycle_days = []
    for o in won:
        won_at = [at for key, at in timelines[o.id] if by_key.get(key) is not None and by_key[key].kind == "WON"]
        if won_at:
            cycle_days.append((won_at[-1] - o.created_at).total_seconds() / 86400)
    return AnalyticsData(
        funnel=funnel,
        win_rate=round(len(won) / (len(won) + len(lost)), 4) if won or lost else None,
        median_cycle_days=_median(cycle_days),
        loss_reasons=dict(Counter(
            "hidden" if "lostReason" in access.hidden else o.lost_reason or "unspecified" for o in lost
        )),
        median_handoff_response_hours=_median([(h.responded_at - h.created_at).total_seconds() / HOUR for h in handoffs]),
        median_approval_hours=_median([(a.decided_at - a.created_at).total_seconds() / HOUR for a in approvals]),
        everything=money_totals(base, functools.reduce(_add, by_kind.values(), {}), rates),
        open=money_totals(base, by_kind["OPEN"], rates),
        won=money_totals(base, by_kind["WON"], rates),
    )


def _add(into: dict[str, Decimal], sums: dict[str, Decimal]) -> dict[str, Decimal]:
    for currency, amount in sums.items():
        into[currency] = into.get(currency, Decimal(0)) + amount
    return into
