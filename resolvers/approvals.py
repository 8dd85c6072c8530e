"""Approvals: a state machine over ordered steps, each decided by its approvers.

SEQUENTIAL opens one step at a time (the next when the previous is approved);
PARALLEL opens all at once. A step is approved by ALL its approvers (会签), by ANY
one (或签) or by `min_approvals` of them; one rejection rejects the approval. A
step whose condition does not hold for the card is SKIPPED. Decisions lock the
card, then the approval row, so concurrent decisions produce one outcome.
Returning, transferring, adding signers and urging live in `approval_actions`."""
import difflib
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from db import models as m
from db.statements import built_once
from resolvers import approval_rules as rules
from resolvers import validate
from resolvers.access import ensure_can_edit
from resolvers.context import Ctx
from resolvers.errors import DUPLICATE, FORBIDDEN, INVALID_TRANSITION, LOCKED, NOT_FOUND, VALIDATION, UserError, fail
from resolvers.i18n import Msg, msg, status_word
from resolvers.ids import decode, to_global
from resolvers.paging import Page, statement_page
from resolvers.rows import locked_opportunity
from resolvers.uow import UnitOfWork, mutate

MODES = rules.MODES
ACTIVE = ("PENDING", "APPROVED", "REJECTED")  # approver rows that still count (not TRANSFERRED)


@dataclass
class Flow:
    """An approval loaded for a change: the card, the approval, its steps in order and
    each step's approver rows (all locked by the card's row lock)."""

    opp: m.Opportunity
    approval: m.Approval
    steps: list[m.ApprovalStep]
    approvers: dict[int, list[m.ApprovalApprover]]  # step id -> rows

    def active(self, step: m.ApprovalStep) -> list[m.ApprovalApprover]:
        return [a for a in self.approvers.get(step.id, []) if a.status in ACTIVE]

    def open_steps(self) -> list[m.ApprovalStep]:
        return [st for st in self.steps if st.status == "PENDING" and st.opened_at is not None]

    def my_open_step(self, user_id: int) -> m.ApprovalStep | None:
        return next((st for st in self.open_steps() if any(a.user_id == user_id and a.status == "PENDING" for a in self.active(st))), None)

    def row(self, step: m.ApprovalStep, user_id: int) -> m.ApprovalApprover | None:
        return next((a for a in self.approvers.get(step.id, []) if a.user_id == user_id), None)


async def department_keys_of(session, steps: list[m.ApprovalStep]) -> dict[int, str]:
    """Department id -> key for the steps that apply (SKIPPED ones left out)."""
    ids = {st.department_id for st in steps if st.status != "SKIPPED"}
    rows = await session.execute(select(m.Department.id, m.Department.key).where(m.Department.id.in_(ids)))
    return dict(rows.all())


async def has_approval(session, opportunity_id: int, kind: str, statuses: tuple[str, ...]) -> bool:
    found = await session.scalar(select(m.Approval.id).where(
        m.Approval.opportunity_id == opportunity_id, m.Approval.kind == kind, m.Approval.status.in_(statuses),
    ).limit(1))
    return found is not None


def record(uow: UnitOfWork, flow: Flow, action: str, step: m.ApprovalStep | None = None, *,
           comment: str | None = None, target_user_id: int | None = None) -> None:
    uow.session.add(m.ApprovalAction(
        approval_id=flow.approval.id, step_id=step.id if step else None, user_id=uow.actor_id,
        action=action, target_user_id=target_user_id, comment=comment, at=uow.now,
    ))


def pending_approver_ids(flow: Flow, steps: list[m.ApprovalStep]) -> list[int]:
    return [a.user_id for st in steps for a in flow.active(st) if a.status == "PENDING"]


def open_steps(uow: UnitOfWork, flow: Flow, steps: list[m.ApprovalStep], event: m.Event, why: Msg = msg("Your approval is needed")) -> None:
    """Make steps decidable and tell their approvers."""
    for step in steps:
        step.opened_at = uow.now
        step.urged_at = None
    uow.notify(pending_approver_ids(flow, steps), "approval", "{why}: {approval} on {opp}",
               opportunity_id=flow.opp.id, event=event, why=why, approval=flow.approval.kind, opp=flow.opp.title)


def first_to_open(flow: Flow) -> list[m.ApprovalStep]:
    waiting = [st for st in flow.steps if st.status == "PENDING"]
    return waiting if flow.approval.mode == "PARALLEL" else waiting[:1]


def restart_steps(flow: Flow, steps: list[m.ApprovalStep]) -> None:
    """Back to undecided and unopened; the record of earlier decisions stays in the actions."""
    for step in steps:
        if step.status == "SKIPPED":
            continue
        step.status, step.opened_at, step.decided_by_id, step.decided_at, step.comment = "PENDING", None, None, None, None
        for row in flow.active(step):
            row.status, row.decided_at = "PENDING", None


def evaluate_conditions(flow: Flow) -> None:
    """Skip the steps whose condition no longer holds for the card; revive those that do."""
    for step in flow.steps:
        if step.condition is None or step.status not in ("PENDING", "SKIPPED"):
            continue
        step.status = "PENDING" if rules.applies(step.condition, flow.opp) else "SKIPPED"


def finish_if_approved(uow: UnitOfWork, flow: Flow) -> bool:
    if any(st.status == "PENDING" for st in flow.steps):
        return False
    flow.approval.status = "APPROVED"
    flow.approval.decided_at = uow.now
    flow.approval.snapshot_approved = rules.snapshot(flow.opp, flow.approval.locks or [])
    return True


async def open_approval(uow: UnitOfWork, opp: m.Opportunity, rule: dict, comment: str | None) -> m.Approval:
    """Create a PENDING approval from a rule (the caller holds the card's lock)."""
    s = uow.session
    kind = rule["kind"]
    if await has_approval(s, opp.id, kind, ("PENDING", "RETURNED")):
        fail(DUPLICATE, "A {kind} approval is already open for this opportunity", "kind", kind=kind)
    locks = rule.get("locks") or []
    approval = m.Approval(
        org_id=uow.org_id, opportunity_id=opp.id, requested_by_id=uow.actor_id, kind=kind, mode=rule["mode"],
        status="PENDING", comment=comment, created_at=uow.now, rule=rule, locks=locks,
        snapshot_requested=rules.snapshot(opp, locks), urge_count=0,
    )
    s.add(approval)
    await s.flush()
    steps, approvers = [], {}
    for position, spec in enumerate(rule["steps"]):
        department_id, user_ids = await rules.approver_ids(s, uow.org_id, spec)
        if not user_ids:
            who = spec["departmentKey"] + (f" {spec['role']}s" if spec["role"] else "") if spec["departmentKey"] else "the named users"
            fail(VALIDATION, "Step {step} has no one to approve it: {who} has no members who may approve", "departmentKeys", step=position + 1, who=who)
        condition = {"amountAtLeast": spec["amountAtLeast"]} if spec["amountAtLeast"] is not None else None
        timeouts = {k: spec[k] for k in rules.TIMEOUT_KEYS if spec[k] is not None} or None
        step = m.ApprovalStep(
            approval_id=approval.id, position=position, department_id=department_id, status="PENDING",
            sign_mode=spec["signMode"], min_approvals=spec["minApprovals"], role=spec["role"],
            condition=condition, timeouts=timeouts,
        )
        s.add(step)
        steps.append((step, user_ids))
    await s.flush()
    for step, user_ids in steps:
        approvers[step.id] = [m.ApprovalApprover(step_id=step.id, user_id=u, status="PENDING") for u in user_ids]
        s.add_all(approvers[step.id])
    flow = Flow(opp, approval, [st for st, _ in steps], approvers)
    evaluate_conditions(flow)
    approved = finish_if_approved(uow, flow)  # every step's condition skips it: nothing to ask
    keys = await department_keys_of(s, flow.steps)
    live_keys = list(dict.fromkeys(keys[st.department_id] for st in flow.steps if st.status == "PENDING"))
    event = await uow.append_event(
        "APPROVAL_REQUESTED", opportunity_id=opp.id, approval_id=approval.id,
        department_keys=live_keys,
        changes={"kind": kind, "mode": approval.mode, "departmentKeys": live_keys,
                 **({"skipped": skipped} if (skipped := [st.position for st in flow.steps if st.status == "SKIPPED"]) else {}),
                 **({"status": [None, "APPROVED"]} if approved else {})},
    )
    if not approved:
        open_steps(uow, flow, first_to_open(flow), event)
    await s.flush()
    return approval


def _kind(value: str | None) -> str:
    return validate.text(value, "kind", max_len=40, required=True).lower()


def _mode(value: str | None) -> str:
    mode = value or "SEQUENTIAL"
    if mode not in MODES:
        fail(VALIDATION, "mode must be SEQUENTIAL or PARALLEL", "mode")
    return mode


async def stage_rule(session, pipeline_id: int, kind: str) -> dict | None:
    """The rule a stage of the card's pipeline sets for this kind of approval."""
    stages = (await session.execute(select(m.Stage).where(
        m.Stage.pipeline_id == pipeline_id, m.Stage.archived_at.is_(None)).order_by(m.Stage.position))).scalars()
    return next((rules.normalized(st.auto_approval) for st in stages if st.auto_approval and st.auto_approval.get("kind") == kind), None)


async def approval_kinds(session, org_id: int) -> list[str]:
    """The approval kinds the organization configures: those its stages require and
    those its stage approval rules define, sorted."""
    rows = await session.execute(
        select(m.Stage.required_approvals, m.Stage.auto_approval).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id)
        .where(m.Pipeline.org_id == org_id)
    )
    kinds = set()
    for required, rule in rows:
        kinds.update(k.lower() for k in required or [])
        if rule and rule.get("kind"):
            kinds.add(rule["kind"].lower())
    return sorted(kinds)


def misspelt_kind(kind: str, known: list[str]) -> str | None:
    """The configured kind `kind` is a near miss of, or None. Kinds no stage configures
    stay open to ad-hoc approvals (named departments, e.g. a one-off `discount` sign-off);
    only a near miss of a configured kind ("discnt", "contrct") is refused."""
    if kind in known:
        return None
    close = difflib.get_close_matches(kind, known, n=1, cutoff=0.75)
    return close[0] if close else None


async def list_approval_kinds(ctx: Ctx) -> list[str]:
    org_id = ctx.require_viewer().org_id
    async with ctx.db.read() as session:
        return await approval_kinds(session, org_id)


async def request_approval(ctx: Ctx, data: dict):
    """departmentKeys name one ANY step per department; an empty list asks for the
    flow the pipeline's stage rule defines for this kind."""

    async def work(uow: UnitOfWork) -> m.Approval:
        viewer = ctx.require_writer()
        opp = await locked_opportunity(uow, data["opportunity_id"])
        ensure_can_edit(viewer, opp, await uow.session.get(m.User, opp.owner_id))
        with validate.Checks() as check:
            kind = check(_kind, data.get("kind"))
            if kind and (near := misspelt_kind(kind, await approval_kinds(uow.session, uow.org_id))):
                # A typo ("discnt") would open an approval no gate ever accepts.
                check.errors.append(UserError(VALIDATION, "Unknown approval kind {kind!r}: did you mean {near!r}?", ["kind"],
                                              {"kind": kind, "near": near}))
                kind = None
            mode = check(_mode, data.get("mode"))
            keys = data.get("department_keys") or []
            rule = None
            if keys:
                rule = await check.lookup(rules.clean_rule(uow.session, uow.org_id, {"kind": kind or "x", "mode": mode, "departmentKeys": keys}, "departmentKeys"))
            elif kind:
                rule = await stage_rule(uow.session, opp.pipeline_id, kind)
                if rule is None:
                    check.errors.append(UserError(VALIDATION, "Name at least one approver department", ["departmentKeys"]))
            comment = check(validate.text, data.get("comment"), "comment", max_len=5000)
        return await open_approval(uow, opp, {**rule, "kind": kind}, comment)

    return await mutate(ctx, work)


async def load_flow(uow: UnitOfWork, gid: str, statuses: tuple[str, ...] = ("PENDING",)) -> Flow:
    pk = decode(gid, "Approval", "id")
    found = await uow.session.get(m.Approval, pk)
    if found is None or found.org_id != uow.org_id:
        fail(NOT_FOUND, "No approval with id {gid!r}", "id", gid=gid)
    # Lock order: opportunity, then approval (as everywhere), then the event counter.
    opp = await locked_opportunity(uow, to_global("Opportunity", found.opportunity_id))
    approval = (
        await uow.session.execute(
            select(m.Approval).where(m.Approval.id == pk).with_for_update().execution_options(populate_existing=True)
        )
    ).scalar_one()
    if approval.status not in statuses:
        fail(INVALID_TRANSITION, "This approval is already {status}", "id", status=status_word(approval.status))
    steps = list((await uow.session.execute(
        select(m.ApprovalStep).where(m.ApprovalStep.approval_id == pk).order_by(m.ApprovalStep.position)
        .execution_options(populate_existing=True)
    )).scalars())
    approvers: dict[int, list] = {st.id: [] for st in steps}
    rows = await uow.session.execute(
        select(m.ApprovalApprover).where(m.ApprovalApprover.step_id.in_(list(approvers))).order_by(m.ApprovalApprover.id)
        .execution_options(populate_existing=True)
    )
    for row in rows.scalars():
        approvers[row.step_id].append(row)
    return Flow(opp, approval, steps, approvers)


def step_outcome(flow: Flow, step: m.ApprovalStep) -> str | None:
    rows = flow.active(step)
    if any(a.status == "REJECTED" for a in rows):
        return "REJECTED"
    approved = sum(a.status == "APPROVED" for a in rows)
    needed = {"ANY": 1, "ALL": len(rows), "COUNT": min(step.min_approvals or 1, len(rows))}[step.sign_mode]
    return "APPROVED" if approved >= needed else None


def acting_step(flow: Flow, viewer) -> m.ApprovalStep:
    """The open step the viewer decides now, or the reason they may not act."""
    step = flow.my_open_step(viewer.id)
    if step is not None:
        return step
    mine = [st for st in flow.steps if flow.row(st, viewer.id) is not None and flow.row(st, viewer.id).status in ACTIVE]
    if viewer.is_admin and flow.open_steps():
        return flow.open_steps()[0]
    if not mine:
        fail(FORBIDDEN, "Only the step's approvers (or an admin) can act on this approval")
    if any(st.status == "PENDING" and st.opened_at is None for st in mine):
        fail(INVALID_TRANSITION, "Your step is not open yet: an earlier step must approve first")
    fail(INVALID_TRANSITION, "Your department's step is already decided")


def close_remaining(steps: list[m.ApprovalStep], status: str) -> None:
    for step in steps:
        if step.status == "PENDING":
            step.status = status


async def apply_decision(uow: UnitOfWork, flow: Flow, step: m.ApprovalStep, approve: bool, comment: str | None,
                         *, decider_id: int | None) -> m.Event:
    """One approver's decision (or, with no approver row, an admin's or the timeout's
    decision of the whole step) and what follows from it."""
    decision = "APPROVED" if approve else "REJECTED"
    row = flow.row(step, decider_id) if decider_id else None
    if row is not None and row.status == "PENDING":
        row.status, row.decided_at = decision, uow.now
        outcome = step_outcome(flow, step)
    else:
        outcome = decision
    record(uow, flow, decision, step, comment=comment)
    approval = flow.approval
    if outcome is not None:
        step.status, step.decided_by_id, step.decided_at, step.comment = outcome, decider_id, uow.now, comment
    keys = await department_keys_of(uow.session, flow.steps)
    changes = {"step": step.position, "department": keys[step.department_id], "decision": decision}
    if outcome is not None:
        changes["stepStatus"] = outcome
    to_open = []
    if outcome == "REJECTED":
        approval.status, approval.decided_at = "REJECTED", uow.now
        close_remaining(flow.steps, "CANCELLED")
    elif outcome == "APPROVED" and not finish_if_approved(uow, flow) and approval.mode == "SEQUENTIAL":
        to_open = [next(st for st in flow.steps if st.status == "PENDING")]
    if approval.status != "PENDING":
        changes["status"] = ["PENDING", approval.status]
    event = await uow.append_event(
        "APPROVAL_DECIDED", opportunity_id=flow.opp.id, approval_id=approval.id,
        department_keys=list(keys.values()), changes=changes, actor_id=decider_id,
    )
    if to_open:
        open_steps(uow, flow, to_open, event)
    if approval.status != "PENDING":
        said = msg(": {comment}", comment=comment) if comment else ""
        uow.notify([approval.requested_by_id], "approval",
                   "The {approval} approval on {opp} was {status}{said}",
                   opportunity_id=flow.opp.id, event=event, approval=approval.kind, opp=flow.opp.title, status=status_word(approval.status), said=said)
    return event


async def decide_approval(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Approval:
        viewer = ctx.require_writer()
        flow = await load_flow(uow, data["id"])
        step = acting_step(flow, viewer)
        comment = validate.text(data.get("comment"), "comment", max_len=5000)
        await apply_decision(uow, flow, step, bool(data["approve"]), comment, decider_id=viewer.id)
        return flow.approval

    return await mutate(ctx, work)


async def cancel_approval(ctx: Ctx, data: dict):
    """撤回: the requester (or an admin) withdraws an approval still open or returned."""

    async def work(uow: UnitOfWork) -> m.Approval:
        viewer = ctx.require_writer()
        flow = await load_flow(uow, data["id"], ("PENDING", "RETURNED"))
        approval = flow.approval
        if not (viewer.is_admin or viewer.id == approval.requested_by_id):
            fail(FORBIDDEN, "Only the requester (or an admin) can cancel this approval")
        before = approval.status
        approval.status = "CANCELLED"
        approval.decided_at = uow.now
        close_remaining(flow.steps, "CANCELLED")
        record(uow, flow, "CANCELLED")
        keys = await department_keys_of(uow.session, flow.steps)
        await uow.append_event(
            "APPROVAL_DECIDED", opportunity_id=flow.opp.id, approval_id=approval.id,
            department_keys=list(keys.values()), changes={"status": [before, "CANCELLED"]},
        )
        return approval

    return await mutate(ctx, work)


# ---------------------------------------------------------------- integrity


# Every edit of a card reads both: built once (db/statements.py).
def _pending_of_card():
    return select(m.Approval).where(
        m.Approval.opportunity_id == bindparam("opportunity_id"), m.Approval.status == "PENDING",
    ).order_by(m.Approval.id)


def _approved_of_card():
    return select(m.Approval).where(
        m.Approval.opportunity_id == bindparam("opportunity_id"), m.Approval.status == "APPROVED",
    ).with_for_update()


async def ensure_unlocked(session, opp: m.Opportunity, changed: list[str]) -> None:
    """Refuse a change to a field a pending approval locks."""
    pending = (await session.execute(built_once(_pending_of_card), {"opportunity_id": opp.id})).scalars()
    for approval in pending:
        locked = [f for f in changed if f in (approval.locks or [])]
        if locked:
            fail(LOCKED, "{fields} cannot change while the {approval} approval ({approval_id}) is pending", locked, fields=', '.join(locked), approval=approval.kind, approval_id=to_global('Approval', approval.id))


async def supersede_changed(uow: UnitOfWork, opp: m.Opportunity) -> list[m.Approval]:
    """After an edit: every APPROVED approval whose locked fields moved is SUPERSEDED.
    Returns them, for the caller to reopen where the card already passed the gate."""
    approved = (await uow.session.execute(built_once(_approved_of_card), {"opportunity_id": opp.id})).scalars()
    superseded = []
    for approval in approved:
        moved = rules.differences(approval.snapshot_approved, opp)
        if not moved:
            continue
        approval.status = "SUPERSEDED"
        superseded.append(approval)
        event = await uow.append_event(
            "APPROVAL_SUPERSEDED", opportunity_id=opp.id, approval_id=approval.id,
            changes={"status": ["APPROVED", "SUPERSEDED"], **moved},  # fields at the top: redacted per viewer like any change
        )
        uow.notify([opp.owner_id, approval.requested_by_id], "approval",
                   "The {approval} approval on {opp} no longer holds: {moved} changed",
                   opportunity_id=opp.id, event=event, approval=approval.kind, opp=opp.title, moved=', '.join(moved))
    return superseded


async def reopen_superseded(uow: UnitOfWork, opp: m.Opportunity, superseded: list[m.Approval]) -> None:
    """Re-approval: a card already in or beyond the stage an approval gates gets a new one."""
    if not superseded:
        return
    stages = list((await uow.session.execute(
        select(m.Stage).where(m.Stage.pipeline_id == opp.pipeline_id).order_by(m.Stage.position))).scalars())
    current = next(st for st in stages if st.id == opp.stage_id)
    if current.kind == "LOST":
        return
    for approval in superseded:
        gate = next((st for st in stages if approval.kind in (st.required_approvals or [])), None)
        if gate is None or gate.position > current.position or approval.rule is None:
            continue
        if await has_approval(uow.session, opp.id, approval.kind, ("PENDING", "RETURNED")):
            continue
        await open_approval(uow, opp, rules.normalized(approval.rule), "Re-approval: the approved terms changed")


async def list_approvals(ctx: Ctx, department_key: str | None, statuses: list[str] | None) -> list[m.Approval]:
    """Newest first; with a department, those where it has a step (its work queue)."""
    stmt = await _approvals_query(ctx, department_key, statuses)
    return await ctx.loaders.all(stmt.order_by(m.Approval.id.desc()).limit(500))


async def approvals_page(ctx: Ctx, department_key: str | None, statuses: list[str] | None, first: int | None, after: str | None) -> Page:
    """`list_approvals` in pages (newest first), with the same visibility and filters."""
    stmt = await _approvals_query(ctx, department_key, statuses)
    return await statement_page(ctx.loaders, stmt, m.Approval.id, first, after, ctx.max_page_size)


async def _approvals_query(ctx: Ctx, department_key: str | None, statuses: list[str] | None):
    org_id = ctx.require_viewer().org_id
    from resolvers.visibility import conditions, ensure_access, on_visible_card  # approvals of cards the viewer sees

    visible = on_visible_card(m.Approval.opportunity_id, await ensure_access(ctx), org_id)
    stmt = select(m.Approval).where(m.Approval.org_id == org_id, *conditions(visible))
    if statuses:
        stmt = stmt.where(m.Approval.status.in_(statuses))
    if department_key:
        stmt = stmt.where(m.Approval.id.in_(
            select(m.ApprovalStep.approval_id).join(m.Department, m.Department.id == m.ApprovalStep.department_id)
            .where(m.Department.org_id == org_id, m.Department.key == department_key)
        ))
    return stmt
