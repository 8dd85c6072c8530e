"""Escalation: an alert nobody answers climbs from the person to their department's
managers, then to the admins.

Admins set the hours per organization and alert kind (`escalation_rules`; a stale
deal's or a silent customer's rule may name a stage, which wins over the kind's general
rule): hours after the alert's condition began (a deal went stale, a task fell due, a
handoff passed its alert time, a planned follow-up passed, a customer's silence passed
the stage's hours) until the managers hear, and until the admins do. Each level is an alert
condition of its own, `<subject>:managers` / `<subject>:admins` with the alert's
fingerprint, so the alerts table's unique (subject, fingerprint) makes it act once,
across processes; activity on the deal, a done task, an answered handoff or a logged follow-up changes
the fingerprint and the climb starts over. Approval steps climb by their own rule's
timeouts (resolvers/approval_actions.py) and are not escalated here."""
import dataclasses
from datetime import datetime, timedelta

from sqlalchemy import select

from db import models as m
from resolvers import validate
from resolvers.context import Ctx
from resolvers.errors import VALIDATION, UserError, UserErrors, fail
from resolvers.i18n import msg
from resolvers.tokens import require_admin, require_admin_query
from resolvers.uow import UnitOfWork

# API name -> alert kind (resolvers/alerts.py)
KINDS = {"STALE_DEAL": "stale", "OVERDUE_TASK": "overdue_task", "PENDING_HANDOFF": "handoff_pending",
         "FOLLOW_UP_DUE": "follow_up_due", "CUSTOMER_SILENCE": "customer_silence"}
API_NAMES = {kind: name for name, kind in KINDS.items()}
LEVELS = ("managers", "admins")
STAGE_KINDS = ("stale", "customer_silence")  # a rule of these kinds may name a stage (their hours are the stage's)
MAX_HOURS = 24 * 365
MAX_RULES = 100


class Rules:
    """An organization's escalation rules, looked up by alert kind and stage."""

    def __init__(self, rows):
        self.rows = {(row.kind, row.stage_key): row for row in rows}

    def rule(self, kind: str, stage_key: str | None = None) -> m.EscalationRule | None:
        return self.rows.get((kind, stage_key or "")) or self.rows.get((kind, ""))

    def alert_hours(self, kind: str, default: int) -> int:
        rule = self.rule(kind)
        return rule.alert_after_hours if rule is not None and rule.alert_after_hours else default


async def load_rules(session, org_id: int) -> Rules:
    return Rules((await session.execute(select(m.EscalationRule).where(m.EscalationRule.org_id == org_id))).scalars())


async def climbing(session, org_id: int, now: datetime, conditions: list, rules: Rules) -> list:
    """The escalation conditions due now for `conditions` (alerts.Condition rows with
    `since`, the time each began): one per level whose hours have passed."""
    if not rules.rows:
        return []
    staged_cards = {c.opportunity_id for c in conditions if c.kind in STAGE_KINDS}
    stage_keys = dict((await session.execute(
        select(m.Opportunity.id, m.Stage.key).join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
        .where(m.Opportunity.id.in_(staged_cards))
    )).all()) if staged_cards else {}
    found = []
    for cond in conditions:
        if cond.kind not in API_NAMES or cond.since is None or cond.escalation:
            continue
        rule = rules.rule(cond.kind, stage_keys.get(cond.opportunity_id) if cond.kind in STAGE_KINDS else None)
        if rule is None:
            continue
        for level, hours in (("managers", rule.managers_after_hours), ("admins", rule.admins_after_hours)):
            if hours is not None and cond.since + timedelta(hours=hours) <= now:
                to = msg("their department's managers") if level == "managers" else msg("the admins")
                found.append(dataclasses.replace(
                    cond, subject=f"{cond.subject}:{level}", escalation=level,
                    message=msg("Escalated to {to}, unanswered: {alert}", to=to, alert=cond.message),
                ))
    return found


async def escalate(uow: UnitOfWork, cond) -> None:
    """Tell the level's people (an `escalation` notification) with an ALERT_RAISED event."""
    s = uow.session
    if cond.escalation == "managers":
        departments = set(cond.department_ids)
        if cond.user_ids:
            departments |= set((await s.execute(select(m.User.department_id).where(m.User.id.in_(cond.user_ids)))).scalars())
        people = select(m.User.id).where(m.User.org_id == uow.org_id, m.User.role == "MANAGER", m.User.department_id.in_(departments))
    else:
        people = select(m.User.id).where(m.User.org_id == uow.org_id, m.User.role == "ADMIN")
    recipients = list((await s.execute(people)).scalars())
    keys = (await s.execute(select(m.Department.key).where(m.Department.id.in_(set(cond.department_ids))))).scalars()
    opp = await s.get(m.Opportunity, cond.opportunity_id)
    last_activity = opp.last_activity_at
    event = await uow.append_event(
        "ALERT_RAISED", opportunity_id=cond.opportunity_id, task_id=cond.task_id, handoff_id=cond.handoff_id,
        department_keys=list(keys), changes={"alert": cond.kind, "escalation": cond.escalation, "message": str(cond.message)},
    )
    opp.last_activity_at = last_activity  # escalating is not activity on the deal
    uow.notify(recipients, "escalation", cond.message, opportunity_id=cond.opportunity_id, event=event)


# ------------------------------------------------------------------ admins' settings


def _hours(value, field: str, *, positive: bool = False) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or value < (1 if positive else 0) or value > MAX_HOURS:
        fail(VALIDATION, "{field_name} must be between {low} and {max_hours} hours", field, field_name=field, low=1 if positive else 0, max_hours=MAX_HOURS)
    return value


async def set_rule(ctx: Ctx, data: dict) -> tuple[m.EscalationRule | None, list[UserError]]:
    """Create or replace the rule of a kind (and stage, for stale deals and silent customers)."""
    try:
        viewer = require_admin(ctx)
        async with ctx.db.write() as session:
            with validate.Checks() as check:
                kind = KINDS.get(data.get("kind"))
                if kind is None:
                    check.fail(VALIDATION, "kind must be one of {known}", "kind", known=', '.join(KINDS))
                stage_key = validate.text(data.get("stage_key"), "stageKey", max_len=40) or ""
                if stage_key and kind not in STAGE_KINDS:
                    check.fail(VALIDATION, "Only STALE_DEAL and CUSTOMER_SILENCE rules name a stage", "stageKey")
                elif stage_key:
                    found = await session.scalar(
                        select(m.Stage.id).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id)
                        .where(m.Pipeline.org_id == viewer.org_id, m.Stage.key == stage_key).limit(1)
                    )
                    if found is None:
                        check.fail(VALIDATION, "No stage {stage_key!r}", "stageKey", stage_key=stage_key)
                alert = check(_hours, data.get("alert_after_hours"), "alertAfterHours", positive=True)
                if alert is not None and kind != "handoff_pending":
                    check.fail(VALIDATION, "alertAfterHours applies to PENDING_HANDOFF (a stage's staleAfterHours "
                          "and a task's due time say when the others alert)", "alertAfterHours")
                managers = check(_hours, data.get("managers_after_hours"), "managersAfterHours")
                admins = check(_hours, data.get("admins_after_hours"), "adminsAfterHours")
                if managers is not None and admins is not None and admins < managers:
                    check.fail(VALIDATION, "adminsAfterHours must not come before managersAfterHours", "adminsAfterHours")
            row = (await session.execute(select(m.EscalationRule).where(
                m.EscalationRule.org_id == viewer.org_id, m.EscalationRule.kind == kind,
                m.EscalationRule.stage_key == stage_key,
            ))).scalar_one_or_none()
            if row is None:
                if len((await session.execute(select(m.EscalationRule.id).where(
                        m.EscalationRule.org_id == viewer.org_id).limit(MAX_RULES))).all()) >= MAX_RULES:
                    fail(VALIDATION, "At most {max_rules} escalation rules", "kind", max_rules=MAX_RULES)
                row = m.EscalationRule(org_id=viewer.org_id, kind=kind, stage_key=stage_key)
                session.add(row)
            row.alert_after_hours, row.managers_after_hours, row.admins_after_hours = alert, managers, admins
            row.updated_at = ctx.clock()
            await session.flush()
        return row, []
    except UserErrors as exc:
        return None, exc.errors


async def list_rules(ctx: Ctx) -> list[m.EscalationRule]:
    viewer = require_admin_query(ctx)
    async with ctx.db.read() as session:
        return list((await session.execute(
            select(m.EscalationRule).where(m.EscalationRule.org_id == viewer.org_id)
            .order_by(m.EscalationRule.kind, m.EscalationRule.stage_key).limit(MAX_RULES)
        )).scalars())
