"""Collaboration per department over [from, to), computed in Python from a few
statements so SQLite and PostgreSQL agree:

- handoff response: hours from a handoff's request to its accept/decline, handoffs
  requested in the window and answered, by receiving department;
- approval turnaround: hours from a step opening to its decision, steps opened in the
  window and decided (approved or rejected), by the step's department;
- deals taken part in: distinct deals whose events in the window name the department;
- time holding the baton: for those deals, the hours the department held each one from
  its creation up to `to` (resolvers/stage_work.time_in_stages, summed over stages).

Only the deals the viewer may see count. Medians and p90s interpolate linearly between
the two nearest ranks (p90 of n values: rank 1 + 0.9 x (n - 1))."""
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from db import models as m
from resolvers.context import Ctx
from resolvers.paging import BadInput
from resolvers.stage_work import time_in_stages
from resolvers.visibility import ensure_access, on_visible_card, visible_among

HOUR = 3600.0
BATON_EVENTS = ("OPPORTUNITY_MOVED", "OPPORTUNITY_LOST", "HANDOFF_RESOLVED")
MAX_SPAN_DAYS = 366


def percentile(values: list[float], share: float) -> float | None:
    """Linear interpolation between closest ranks, rounded to 4 places; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return round(value, 4)


@dataclass
class Spread:
    count: int
    median_hours: float | None
    p90_hours: float | None


def spread(hours: list[float]) -> Spread:
    return Spread(len(hours), percentile(hours, 0.5), percentile(hours, 0.9))


@dataclass
class DepartmentCollaboration:
    department: m.Department
    handoff_response: Spread
    approval_turnaround: Spread
    deal_count: int
    baton_hours: Spread  # per deal the department held
    baton_total_hours: float


async def collaboration(ctx: Ctx, start: datetime, end: datetime) -> list[DepartmentCollaboration]:
    viewer = ctx.require_viewer()
    if start >= end:
        raise BadInput("from must be before to")
    if (end - start).days > MAX_SPAN_DAYS:
        raise BadInput(f"A window spans at most {MAX_SPAN_DAYS} days")
    access = await ensure_access(ctx)
    org_id = viewer.org_id
    departments = await ctx.loaders.all(select(m.Department).where(m.Department.org_id == org_id).order_by(m.Department.id))
    by_key = {d.key: d for d in departments}

    handoffs = await ctx.loaders.all(select(m.Handoff).where(
        m.Handoff.org_id == org_id, m.Handoff.created_at >= start, m.Handoff.created_at < end,
        m.Handoff.responded_at.is_not(None), m.Handoff.status.in_(("ACCEPTED", "DECLINED")),
        *_visible(m.Handoff.opportunity_id, access, org_id)))
    response = defaultdict(list)
    for h in handoffs:
        response[h.to_department_id].append((h.responded_at - h.created_at).total_seconds() / HOUR)

    steps = await ctx.loaders.rows(
        select(m.ApprovalStep.department_id, m.ApprovalStep.opened_at, m.ApprovalStep.decided_at)
        .join(m.Approval, m.Approval.id == m.ApprovalStep.approval_id)
        .where(m.Approval.org_id == org_id, m.ApprovalStep.opened_at >= start, m.ApprovalStep.opened_at < end,
               m.ApprovalStep.decided_at.is_not(None), m.ApprovalStep.status.in_(("APPROVED", "REJECTED")),
               *_visible(m.Approval.opportunity_id, access, org_id)))
    turnaround = defaultdict(list)
    for department_id, opened_at, decided_at in steps:
        turnaround[department_id].append((decided_at - opened_at).total_seconds() / HOUR)

    named = await ctx.loaders.rows(select(m.Event.opportunity_id, m.Event.department_keys).where(
        m.Event.org_id == org_id, m.Event.occurred_at >= start, m.Event.occurred_at < end, m.Event.opportunity_id.is_not(None)))
    visible = await visible_among(ctx.loaders, access, org_id, {oid for oid, _ in named})
    deals = defaultdict(set)  # department id -> deal ids
    for opp_id, keys in named:
        if opp_id in visible:
            for key in keys or []:
                if key in by_key:
                    deals[by_key[key].id].add(opp_id)

    held = await _baton_hours(ctx, org_id, {i for ids in deals.values() for i in ids}, min(end, ctx.clock()))
    return [
        DepartmentCollaboration(
            department=d, handoff_response=spread(response[d.id]), approval_turnaround=spread(turnaround[d.id]),
            deal_count=len(deals[d.id]),
            baton_hours=spread([held[oid][d.key] for oid in deals[d.id] if held.get(oid, {}).get(d.key)]),
            baton_total_hours=round(sum(held.get(oid, {}).get(d.key, 0) for oid in deals[d.id]), 4),
        )
        for d in departments
    ]


def _visible(column, access, org_id: int) -> list:
    clause = on_visible_card(column, access, org_id)
    return [] if clause is None else [clause]


async def _baton_hours(ctx: Ctx, org_id: int, opp_ids: set[int], until: datetime) -> dict[int, dict[str, float]]:
    """{deal id: {department key: hours held up to `until`}} (time_in_stages per deal)."""
    if not opp_ids:
        return {}
    cards = await ctx.loaders.rows(
        select(m.Opportunity.id, m.Opportunity.created_at, m.Stage.key, m.Department.key)
        .join(m.Stage, m.Stage.id == m.Opportunity.stage_id).join(m.Department, m.Department.id == m.Opportunity.department_id)
        .where(m.Opportunity.org_id == org_id, m.Opportunity.id.in_(opp_ids)))
    events = defaultdict(list)
    for event in await ctx.loaders.all(select(m.Event).where(
            m.Event.org_id == org_id, m.Event.opportunity_id.in_(opp_ids), m.Event.type.in_(BATON_EVENTS)).order_by(m.Event.seq)):
        events[event.opportunity_id].append(event)
    held = {}
    for opp_id, created_at, stage_key, department_key in cards:
        # Up to `until`: later changes are left out, so the holder then is the last one before it.
        before = [e for e in events[opp_id] if e.occurred_at <= until]
        later = [e for e in events[opp_id] if e.occurred_at > until]
        department_then = _holder_before(later, department_key)
        per_stage = time_in_stages(created_at, until, stage_key, department_then, before)
        totals: dict[str, float] = defaultdict(float)
        for by_department in per_stage.values():
            for key, seconds in by_department.items():
                totals[key] += seconds / HOUR
        held[opp_id] = dict(totals)
    return held


def _holder_before(later: list[m.Event], current: str) -> str:
    """The department holding the card before `later` changes (oldest first) happened."""
    for event in later:
        if event.type == "HANDOFF_RESOLVED" and event.changes and "department" in event.changes:
            return event.changes["department"][0]
    return current
