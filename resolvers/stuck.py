"""Why a card is stuck: its current waits (a pending handoff, a pending approval step,
customer silence, an overdue task), the one waiting longest told in one sentence.

`card_waits` is a plain function over rows the board already primed (handoffs,
approvals with their steps, the stage, the task badge counts) plus the organization's
departments (one statement), so the board gains at most that statement.
`stuck_condition` is the same rule in SQL, for the `stuckForHours` filter."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, false, func, or_, select

from db import models as m
from resolvers.alerts import customer_silent, silence_since
from resolvers.context import Ctx
from resolvers.i18n import Msg, msg
from resolvers.tasks import ACTIVE as ACTIVE_TASK

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Wait:
    since: datetime
    message: Msg


def _hours(since: datetime, now: datetime) -> int:
    return max(int((now - since) / HOUR), 0)


def card_waits(
    opp: m.Opportunity, stage: m.Stage, handoffs: list[m.Handoff], approvals: list[tuple[m.Approval, list[m.ApprovalStep]]],
    departments: dict[int, m.Department], oldest_overdue: datetime | None, overdue_count: int, now: datetime,
) -> list[Wait]:
    """The card's current waits, the longest first. Only open cards wait."""
    if stage.kind != "OPEN":
        return []

    def name(department_id: int) -> str:
        department = departments.get(department_id)
        return department.name if department is not None else "?"

    waits = [
        Wait(h.created_at, msg("Waiting for {department} to accept · {hours} h",
                               department=name(h.to_department_id), hours=_hours(h.created_at, now)))
        for h in handoffs if h.status == "PENDING"
    ]
    for approval, steps in approvals:
        if approval.status != "PENDING":
            continue
        for step in steps:
            if step.status != "PENDING" or step.opened_at is None:
                continue
            hours, department, urged = _hours(step.opened_at, now), name(step.department_id), approval.urge_count or 0
            if urged == 0:
                text = msg("Waiting for {department}'s approval · {hours} h", department=department, hours=hours)
            elif urged == 1:
                text = msg("Waiting for {department}'s approval · {hours} h · urged once", department=department, hours=hours)
            else:
                text = msg("Waiting for {department}'s approval · {hours} h · urged {count} times",
                           department=department, hours=hours, count=urged)
            waits.append(Wait(step.opened_at, text))
    if customer_silent(opp, stage, now):
        since = silence_since(opp)
        days = int((now - since) / DAY)
        waits.append(Wait(since, msg("No follow-up with the customer for a day") if days == 1 else
                          msg("No follow-up with the customer for {days} days", days=days)))
    if oldest_overdue is not None and oldest_overdue < now:
        hours = _hours(oldest_overdue, now)
        waits.append(Wait(oldest_overdue, msg("A task is overdue · {hours} h", hours=hours) if overdue_count <= 1 else
                          msg("{count} tasks are overdue · {hours} h", count=overdue_count, hours=hours)))
    return sorted(waits, key=lambda w: w.since)


def org_departments(ctx: Ctx):
    """Every department of the organization by id (at most a handful), loaded once per
    request and primed into the department loader."""

    async def batch(org_ids):
        rows = await ctx.loaders.all(select(m.Department).where(m.Department.org_id.in_(org_ids)))
        ctx.loaders.department.prime_many({d.id: d for d in rows})
        return [{d.id: d for d in rows if d.org_id == org_id} for org_id in org_ids]

    return ctx.loaders.custom("org_departments", batch)


def stuck_condition(ctx: Ctx, hours: int, stages: list[m.Stage]):
    """SQL: an open card one of whose current waits began more than `hours` ago (the
    same waits as card_waits)."""
    now = ctx.clock()
    cutoff = now - timedelta(hours=hours)
    opp = m.Opportunity
    open_ids = [st.id for st in stages if st.kind == "OPEN"]
    if not open_ids:
        return false()
    handoff = exists(select(m.Handoff.id).where(
        m.Handoff.opportunity_id == opp.id, m.Handoff.status == "PENDING", m.Handoff.created_at < cutoff))
    step = exists(
        select(m.ApprovalStep.id).join(m.Approval, m.Approval.id == m.ApprovalStep.approval_id)
        .where(m.Approval.opportunity_id == opp.id, m.Approval.status == "PENDING", m.ApprovalStep.status == "PENDING",
               m.ApprovalStep.opened_at < cutoff)
    )
    task = exists(select(m.Task.id).where(
        m.Task.opportunity_id == opp.id, m.Task.status.in_(ACTIVE_TASK), m.Task.due_at < min(cutoff, now)))
    since = func.coalesce(opp.last_contact_at, opp.stage_entered_at)
    silent = [
        and_(opp.stage_id == st.id, since < min(cutoff, now - timedelta(hours=st.silence_after_hours)))
        for st in stages if st.kind == "OPEN" and st.silence_after_hours is not None
    ]
    return and_(opp.stage_id.in_(open_ids), or_(handoff, step, task, *silent))
