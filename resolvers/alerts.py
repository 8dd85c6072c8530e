"""System alerts: stale deals, overdue tasks, slow handoffs and approval steps, follow-ups
past their planned time and customers gone silent.

Each condition alerts once until it changes: the Alert table remembers
(subject, fingerprint), and the fingerprint is what would change if the
condition were resolved and came back (last activity, due time, open time)."""
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError

from db import models as m
from db.engine import Database
from resolvers.approval_actions import on_timeout
from resolvers.context import system_ctx
from resolvers.escalation import climbing, escalate, load_rules
from resolvers.i18n import Msg, msg
from resolvers.notifications import department_member_ids
from resolvers.rows import organization_ids
from resolvers.uow import UnitOfWork, run_in_transaction

log = logging.getLogger("baton.alerts")
ACTIVE_TASKS = ("OPEN", "IN_PROGRESS")


@dataclass
class Condition:
    subject: str
    fingerprint: str
    kind: str  # stale | overdue_task | handoff_pending | approval_pending | follow_up_due | customer_silence
    message: Msg  # rendered in each reader's language; events keep the English text
    opportunity_id: int
    user_ids: list[int] = field(default_factory=list)
    department_ids: list[int] = field(default_factory=list)
    task_id: int | None = None
    handoff_id: int | None = None
    approval_id: int | None = None
    step_id: int | None = None
    timeout: str | None = None  # an approval step's timeout: remind | escalate | escalate_admins | final
    since: datetime | None = None  # when the condition began (escalation counts from it)
    escalation: str | None = None  # managers | admins: a level of an unanswered alert's climb (resolvers/escalation.py)


def silence_since(opp: m.Opportunity) -> datetime:
    """When the customer's silence began counting: the last follow-up or, with none
    logged, the card's entering its stage."""
    return opp.last_contact_at or opp.stage_entered_at


def customer_silent(opp: m.Opportunity, stage: m.Stage, now: datetime) -> bool:
    """An open card without a follow-up for longer than its stage's silenceAfterHours."""
    hours = stage.silence_after_hours
    return stage.kind == "OPEN" and hours is not None and silence_since(opp) + timedelta(hours=hours) < now


async def find_conditions(session, org_id: int, now: datetime, settings) -> list[Condition]:
    found: list[Condition] = []
    rules = await load_rules(session, org_id)
    handoff_hours = rules.alert_hours("handoff_pending", settings.handoff_alert_hours)
    # Stale deals: no activity for the stage's staleAfterHours, open stages only.
    rows = await session.execute(
        select(m.Opportunity, m.Stage).join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
        .where(m.Opportunity.org_id == org_id, m.Stage.kind == "OPEN", m.Stage.stale_after_hours.is_not(None))
    )
    for opp, stage in rows:
        if opp.last_activity_at < now - timedelta(hours=stage.stale_after_hours):
            found.append(Condition(
                f"stale:opportunity:{opp.id}", opp.last_activity_at.isoformat(), "stale",
                msg("{opp} has had no activity for over {hours} hours in {stage}",
                    opp=opp.title, hours=stage.stale_after_hours, stage=stage.name),
                opp.id, [opp.owner_id], [opp.department_id], since=opp.last_activity_at + timedelta(hours=stage.stale_after_hours),
            ))
    found += await follow_up_conditions(session, org_id, now)
    rows = await session.execute(
        select(m.Task, m.Opportunity).join(m.Opportunity, m.Opportunity.id == m.Task.opportunity_id)
        .where(m.Task.org_id == org_id, m.Task.status.in_(ACTIVE_TASKS), m.Task.due_at < now)
    )
    for task, opp in rows:
        found.append(Condition(
            f"overdue:task:{task.id}", task.due_at.isoformat(), "overdue_task",
            msg("Task “{task}” on {opp} is overdue", task=task.title, opp=opp.title),
            opp.id, [u for u in (task.assignee_id, opp.owner_id) if u], [task.department_id], task_id=task.id, since=task.due_at,
        ))
    rows = await session.execute(
        select(m.Handoff, m.Opportunity).join(m.Opportunity, m.Opportunity.id == m.Handoff.opportunity_id)
        .where(m.Handoff.org_id == org_id, m.Handoff.status == "PENDING",
               m.Handoff.created_at < now - timedelta(hours=handoff_hours))
    )
    for handoff, opp in rows:
        found.append(Condition(
            f"handoff:{handoff.id}", handoff.created_at.isoformat(), "handoff_pending",
            msg("The handoff of {opp} has waited over {hours} hours", opp=opp.title, hours=handoff_hours),
            opp.id, [handoff.requested_by_id, opp.owner_id], [handoff.to_department_id], handoff_id=handoff.id,
            since=handoff.created_at + timedelta(hours=handoff_hours),
        ))
    rows = await session.execute(
        select(m.ApprovalStep, m.Approval, m.Opportunity)
        .join(m.Approval, m.Approval.id == m.ApprovalStep.approval_id)
        .join(m.Opportunity, m.Opportunity.id == m.Approval.opportunity_id)
        .where(m.Approval.org_id == org_id, m.Approval.status == "PENDING", m.ApprovalStep.status == "PENDING",
               m.ApprovalStep.opened_at < now - timedelta(hours=settings.approval_alert_hours))
    )
    for step, approval, opp in rows:
        found.append(Condition(
            f"approval_step:{step.id}", step.opened_at.isoformat(), "approval_pending",
            msg("The {approval} approval on {opp} has waited over {hours} hours",
                approval=approval.kind, opp=opp.title, hours=settings.approval_alert_hours),
            opp.id, [opp.owner_id], [step.department_id], approval_id=approval.id,
        ))
    found += await climbing(session, org_id, now, found, rules)
    found += await approval_timeouts(session, org_id, now)
    return found


async def follow_up_conditions(session, org_id: int, now: datetime) -> list[Condition]:
    """Open cards whose planned follow-up passed with none logged since (fingerprint: the
    plan, so a new plan alerts again), and cards in customer silence (fingerprint: when
    the silence began counting, so a follow-up starts it over). Both tell the owner."""
    found = []
    rows = await session.execute(
        select(m.Opportunity, m.Stage).join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
        .where(m.Opportunity.org_id == org_id, m.Stage.kind == "OPEN", m.Opportunity.next_follow_up_at < now)
    )
    for opp, _ in rows:
        planned = opp.next_follow_up_at
        if opp.last_contact_at is None or opp.last_contact_at < planned:
            found.append(Condition(
                f"follow_up_due:opportunity:{opp.id}", planned.isoformat(), "follow_up_due",
                msg("Follow-up due on {opp} (planned {time} UTC)", opp=opp.title, time=planned.strftime("%Y-%m-%d %H:%M")),
                opp.id, [opp.owner_id], since=planned,
            ))
    rows = await session.execute(
        select(m.Opportunity, m.Stage).join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
        .where(m.Opportunity.org_id == org_id, m.Stage.kind == "OPEN", m.Stage.silence_after_hours.is_not(None))
    )
    for opp, stage in rows:
        if customer_silent(opp, stage, now):
            since = silence_since(opp)
            found.append(Condition(
                f"silence:opportunity:{opp.id}", since.isoformat(), "customer_silence",
                msg("No follow-up with the customer on {opp} for over {hours} hours in {stage}",
                    opp=opp.title, hours=stage.silence_after_hours, stage=stage.name),
                opp.id, [opp.owner_id], since=since + timedelta(hours=stage.silence_after_hours),
            ))
    return found


async def approval_timeouts(session, org_id: int, now: datetime) -> list[Condition]:
    """Open steps past one of their rule's timeouts (each acts once per opening: the
    fingerprint is the step's opened_at, which a return or resubmission renews)."""
    rows = await session.execute(
        select(m.ApprovalStep, m.Approval, m.Opportunity)
        .join(m.Approval, m.Approval.id == m.ApprovalStep.approval_id)
        .join(m.Opportunity, m.Opportunity.id == m.Approval.opportunity_id)
        .where(m.Approval.org_id == org_id, m.Approval.status == "PENDING", m.ApprovalStep.status == "PENDING",
               m.ApprovalStep.opened_at.is_not(None), m.ApprovalStep.timeouts.is_not(None))
    )
    found = []
    for step, approval, opp in rows:
        t = step.timeouts or {}
        escalate = t.get("escalateAfterHours")
        limits = [("remind", t.get("remindAfterHours")), ("escalate", escalate),
                  ("escalate_admins", escalate and 2 * escalate), ("final", t.get("finalAfterHours"))]
        for name, hours in limits:
            if hours and step.opened_at + timedelta(hours=hours) <= now:
                found.append(Condition(
                    f"approval_step:{step.id}:{name}", step.opened_at.isoformat(), f"approval_{name}",
                    timeout_message(name, approval, opp, hours, t.get("finalAction")),
                    opp.id, [], [], approval_id=approval.id, step_id=step.id, timeout=name,
                ))
    return found


def timeout_message(name: str, approval: m.Approval, opp: m.Opportunity, hours: int, action: str | None) -> Msg:
    said = {"approval": approval.kind, "opp": opp.title, "hours": hours}
    if name == "remind":
        return msg("The {approval} approval on {opp} has waited {hours} hours for your decision", **said)
    if name == "escalate":
        return msg("The {approval} approval on {opp} has waited {hours} hours: please chase your team", **said)
    if name == "escalate_admins":
        return msg("The {approval} approval on {opp} has waited {hours} hours: it needs an admin's attention", **said)
    if action == "APPROVE":
        return msg("The {approval} approval on {opp} has waited {hours} hours; it was approved automatically", **said)
    return msg("The {approval} approval on {opp} has waited {hours} hours; it was returned to the requester automatically", **said)


async def _raise_one(uow: UnitOfWork, cond: Condition) -> None:
    s = uow.session
    s.add(m.Alert(org_id=uow.org_id, subject=cond.subject, fingerprint=cond.fingerprint, raised_at=uow.now))
    if cond.escalation:
        await escalate(uow, cond)
        return
    if cond.timeout:
        await on_timeout(uow, cond.approval_id, cond.step_id, cond.fingerprint, cond.timeout, cond.kind, cond.message)
        return
    opp = await s.get(m.Opportunity, cond.opportunity_id)
    last_activity = opp.last_activity_at
    keys = (await s.execute(select(m.Department.key).where(m.Department.id.in_(set(cond.department_ids))))).scalars()
    event = await uow.append_event(
        "ALERT_RAISED", opportunity_id=cond.opportunity_id, task_id=cond.task_id, handoff_id=cond.handoff_id,
        approval_id=cond.approval_id, department_keys=list(keys), changes={"alert": cond.kind, "message": str(cond.message)},
    )
    # An alert is not activity on the deal: keep its staleness (and fingerprint) as it was.
    opp.last_activity_at = last_activity
    members = await department_member_ids(s, *cond.department_ids)
    uow.notify([*cond.user_ids, *members], "alert", cond.message, opportunity_id=cond.opportunity_id, event=event)


LOOKUP_SLICE = 500  # (subject, fingerprint) pairs per statement


async def raise_alerts(db: Database, now: datetime, settings, *, publish=None, org_id: int | None = None) -> int:
    """Raise every new alert (in every organization, or just `org_id`); returns how many were raised."""
    ctx = system_ctx(db, now, publish)
    org_ids = await organization_ids(db, org_id)
    raised = 0
    for oid in org_ids:
        async with db.read() as s:
            conditions = await find_conditions(s, oid, now, settings)
            if not conditions:
                continue
            keys = [(c.subject, c.fingerprint) for c in conditions]
            seen = set()
            # In slices: a large organization's first round finds tens of thousands of
            # conditions, more than one statement may carry (PostgreSQL: "stack depth limit exceeded").
            for start in range(0, len(keys), LOOKUP_SLICE):
                seen.update(await s.execute(
                    select(m.Alert.subject, m.Alert.fingerprint).where(
                        m.Alert.org_id == oid, tuple_(m.Alert.subject, m.Alert.fingerprint).in_(keys[start:start + LOOKUP_SLICE]),
                    )
                ))
        for cond in conditions:
            if (cond.subject, cond.fingerprint) in seen:
                continue
            try:
                # One transaction per alert: a race on the unique (subject, fingerprint) loses only that one.
                await run_in_transaction(ctx, lambda uow, c=cond: _raise_one(uow, c), actor_id=None, org_id=oid)
                raised += 1
            except IntegrityError:
                log.info("alert %s already raised by another process", cond.subject)
    return raised
