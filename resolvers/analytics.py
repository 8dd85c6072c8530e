"""Pipeline analytics from the event log. Counts and amounts per stage are summed by the
database (as for the board's columns); the figures of each card's stage timeline (entries,
conversions, time in stage, cycle) are computed in Python over plain rows, so SQLite and
PostgreSQL agree (no dialect-specific percentile functions).

The cohort is the pipeline's opportunities created within [from, to] (UTC dates,
inclusive). A card's stage timeline starts at its creation stage (the first
move's "from", or its current stage if it never moved)."""
import functools
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from statistics import median

from sqlalchemy import DateTime, func, select, type_coerce

from db import models as m
from resolvers.context import Ctx
from resolvers.ids import parse_global
from resolvers.board import stage_totals
from resolvers.money import ConvertedTotal, Money, Totals, base_currency
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
    # Plain rows of the columns used, with plain (naive UTC) times: a large organization has
    # 100,000 cards and 200,000 moves, and an ORM object, an aware datetime or a decoded JSON
    # document per row cost more than everything else here (only differences of times are
    # used). Counts and amounts per stage are summed by the database, as for the board.
    opps = {o.id: o for o in await ctx.loaders.rows(select(
        m.Opportunity.id, m.Opportunity.stage_id, _naive(m.Opportunity.created_at)).where(*conds))}
    # The same cards as a subquery, not a list of their ids: the statements keep a few
    # parameters however many cards there are (PostgreSQL takes at most 32,767).
    ids = select(m.Opportunity.id).where(*conds)
    # Each move's stage pair as two strings, taken out of `changes` by the database.
    moves = await ctx.loaders.rows(
        select(m.Event.opportunity_id, _naive(m.Event.occurred_at),
               m.Event.changes[("stage", 0)].as_string(), m.Event.changes[("stage", 1)].as_string())
        .where(m.Event.org_id == org_id, m.Event.opportunity_id.in_(ids),
               m.Event.type.in_(("OPPORTUNITY_MOVED", "OPPORTUNITY_LOST"))).order_by(m.Event.seq)
    ) if opps else []
    handoff_hours = await _hours_between(ctx, m.Handoff.created_at, m.Handoff.responded_at, m.Handoff.opportunity_id.in_(ids),
                                         m.Handoff.status.in_(("ACCEPTED", "DECLINED"))) if opps else []
    approval_hours = await _hours_between(ctx, m.Approval.created_at, m.Approval.decided_at, m.Approval.opportunity_id.in_(ids),
                                          m.Approval.status.in_(("APPROVED", "REJECTED"))) if opps else []

    # Timeline per card: [(stage key, entered at)], oldest first.
    current_key = {st.id: st.key for st in stages}
    timelines: dict[int, list[tuple[str, datetime]]] = {}
    for oid, at, from_key, to_key in moves:
        timeline = timelines.get(oid)
        if timeline is None:
            timeline = timelines[oid] = [(from_key, opps[oid].created_at)]
        timeline.append((to_key, at))
    for oid, opp in opps.items():
        if oid not in timelines:
            timelines[oid] = [(current_key[opp.stage_id], opp.created_at)]

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
    async with ctx.db.read() as session:
        base = await base_currency(session, org_id)
    every_card = access.every_card and not start and not end  # the stages' tallies hold the figures
    counts, sums, rates = await stage_totals(ctx, base, [st.id for st in stages], None if every_card else conds)
    funnel = []
    by_kind: dict[str, dict[str, Decimal]] = defaultdict(dict)  # stage kind -> currency -> sum
    for st in stages:
        if st.archived_at is not None:
            continue  # an archived stage left the funnel (its cards were moved out)
        here, hidden_amounts = counts.get(st.id, (0, 0))
        _add(by_kind[st.kind], sums.get(st.id, {}))
        money = money_totals(base, sums.get(st.id, {}), rates)
        funnel.append(FunnelRow(
            stage=st, entered=entered[st.key], current=here, amount=money.base.converted,
            totals=money.per_currency, base_total=money.base, hidden_amount_count=hidden_amounts,
            conversion_to_next=round(converted[st.key] / entered[st.key], 4) if entered[st.key] and st.kind == "OPEN" else None,
            median_hours_in_stage=_median(durations[st.key]),
        ))

    kind_of = {st.id: st.kind for st in stages}
    won_count = sum(counts.get(st.id, (0, 0))[0] for st in stages if st.kind == "WON")
    lost_count = sum(counts.get(st.id, (0, 0))[0] for st in stages if st.kind == "LOST")
    cycle_days = []
    for oid, opp in opps.items():
        if kind_of[opp.stage_id] == "WON":
            won_at = [at for key, at in timelines[oid] if key in by_key and by_key[key].kind == "WON"]
            if won_at:
                cycle_days.append((won_at[-1] - opp.created_at).total_seconds() / 86400)
    return AnalyticsData(
        funnel=funnel,
        win_rate=round(won_count / (won_count + lost_count), 4) if won_count or lost_count else None,
        median_cycle_days=_median(cycle_days),
        loss_reasons=await _loss_reasons(ctx, access, conds, [st.id for st in stages if st.kind == "LOST"]) if lost_count else {},
        median_handoff_response_hours=_median(handoff_hours),
        median_approval_hours=_median(approval_hours),
        everything=money_totals(base, functools.reduce(_add, by_kind.values(), {}), rates),
        open=money_totals(base, by_kind["OPEN"], rates),
        won=money_totals(base, by_kind["WON"], rates),
    )


async def _loss_reasons(ctx: Ctx, access, conds: list, lost_stage_ids: list[int]) -> dict[str, int]:
    """Lost cards per reason ("unspecified" without one, "hidden" where a rule withholds it)."""
    reason = m.Opportunity.lost_reason
    found: Counter = Counter()
    for text, count in await ctx.loaders.rows(
        select(reason, func.count()).where(*conds, m.Opportunity.stage_id.in_(lost_stage_ids)).group_by(reason)
    ):
        found["hidden" if "lostReason" in access.hidden else text or "unspecified"] += count
    return dict(sorted(found.items(), key=lambda rc: (-rc[1], rc[0])))  # most frequent first, as lossReasonCounts


def _naive(column):
    """A UTC time column read as the naive datetime stored (no aware copy per row)."""
    return type_coerce(column, DateTime()).label(column.key)


async def _hours_between(ctx: Ctx, start, end, *conds) -> list[float]:
    """Hours from `start` to `end` of each row matching `conds`."""
    return [(done - began).total_seconds() / HOUR for began, done in await ctx.loaders.rows(select(_naive(start), _naive(end)).where(*conds))]


def _add(into: dict[str, Decimal], sums: dict[str, Decimal]) -> dict[str, Decimal]:
    for currency, amount in sums.items():
        into[currency] = into.get(currency, Decimal(0)) + amount
    return into
