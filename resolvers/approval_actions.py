"""What approvers do besides approving or rejecting: 退回 return (to an earlier step
or to the requester, who edits and resubmits the same approval), 转交 transfer a
pending decision, 加签 add a signer before, after or with one's own step, and
催办 urge (the requester or the card's owner, once an hour per step)."""
from datetime import timedelta

from sqlalchemy import select

from db import models as m
from resolvers import validate
from resolvers.approvals import (
    Flow,
    apply_decision,
    department_keys_of,
    evaluate_conditions,
    finish_if_approved,
    first_to_open,
    load_flow,
    open_steps,
    pending_approver_ids,
    record,
    restart_steps,
)
from resolvers.approval_rules import MAX_STEPS, snapshot
from resolvers.context import Ctx
from resolvers.errors import DUPLICATE, FORBIDDEN, TOO_SOON, VALIDATION, UserErrors, fail
from resolvers.i18n import Msg, msg
from resolvers.ids import to_global
from resolvers.rows import org_user
from resolvers.uow import UnitOfWork, mutate

URGE_EVERY = timedelta(hours=1)
PLACEMENTS = ("BEFORE", "AFTER", "WITH")


def _comment(value: str | None, required: bool = False) -> str | None:
    return validate.text(value, "comment", max_len=5000, required=required)


RETURN = msg("return")


def _my_step(flow: Flow, viewer, what: Msg) -> m.ApprovalStep:
    step = flow.my_open_step(viewer.id)
    if step is None:
        if viewer.is_admin and what is RETURN and flow.open_steps():
            return flow.open_steps()[0]
        fail(FORBIDDEN, "Only an approver of an open step can {what} it", what=what)
    return step


async def _event(uow: UnitOfWork, flow: Flow, type: str, changes: dict, actor_id=...) -> m.Event:
    keys = await department_keys_of(uow.session, flow.steps)
    return await uow.append_event(
        type, opportunity_id=flow.opp.id, approval_id=flow.approval.id,
        department_keys=list(keys.values()), changes=changes, actor_id=actor_id,
    )


async def send_back(uow: UnitOfWork, flow: Flow, step: m.ApprovalStep, to_step: int | None, comment: str | None,
                    *, actor_id=...) -> m.Event:
    """Return to an earlier step (it reopens; its and later decisions are cleared) or,
    with no step, to the requester (RETURNED: the locks lift until resubmission)."""
    approval = flow.approval
    record(uow, flow, "RETURNED", step, comment=comment)
    said = msg(": {comment}", comment=comment) if comment else ""
    if to_step is None:
        restart_steps(flow, flow.steps)
        approval.status = "RETURNED"
        event = await _event(uow, flow, "APPROVAL_RETURNED", {"status": ["PENDING", "RETURNED"], "fromStep": step.position}, actor_id)
        uow.notify([approval.requested_by_id], "approval",
                   "The {approval} approval on {opp} was returned to you{said}",
                   opportunity_id=flow.opp.id, event=event, approval=approval.kind, opp=flow.opp.title, said=said)
        return event
    target = next((st for st in flow.steps if st.position == to_step), None)
    if approval.mode != "SEQUENTIAL":
        fail(VALIDATION, "A parallel approval returns to the requester only: leave toStep empty", "toStep")
    if target is None or target.position >= step.position or target.status == "SKIPPED":
        fail(VALIDATION, "toStep must be an earlier step that applies (before step {position})", "toStep", position=step.position)
    restart_steps(flow, [st for st in flow.steps if st.position >= target.position])
    event = await _event(uow, flow, "APPROVAL_RETURNED", {"fromStep": step.position, "toStep": target.position}, actor_id)
    open_steps(uow, flow, [target], event, msg("Returned to your step{said}", said=said))
    return event


async def return_approval(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Approval:
        viewer = ctx.require_writer()
        flow = await load_flow(uow, data["id"])
        step = _my_step(flow, viewer, RETURN)
        comment = _comment(data.get("comment"), required=True)
        await send_back(uow, flow, step, data.get("to_step"), comment)
        return flow.approval

    return await mutate(ctx, work)


async def resubmit_approval(ctx: Ctx, data: dict):
    """The requester continues a RETURNED approval: conditions are evaluated again on
    the edited card and the flow starts over from its first step."""

    async def work(uow: UnitOfWork) -> m.Approval:
        viewer = ctx.require_writer()
        flow = await load_flow(uow, data["id"], ("RETURNED",))
        approval = flow.approval
        if not (viewer.is_admin or viewer.id == approval.requested_by_id):
            fail(FORBIDDEN, "Only the requester (or an admin) can resubmit this approval")
        comment = _comment(data.get("comment"))
        approval.status = "PENDING"
        evaluate_conditions(flow)
        approved = finish_if_approved(uow, flow)  # no step applies to the edited card any more
        record(uow, flow, "RESUBMITTED", comment=comment)
        # The locked fields edited while it was returned, at the top: redacted per viewer like any change.
        changes = {"status": ["RETURNED", approval.status], **{
            k: [v, now] for k, v in (approval.snapshot_requested or {}).items()
            if (now := snapshot(flow.opp, [k]).get(k)) != v
        }}
        event = await _event(uow, flow, "APPROVAL_RESUBMITTED", changes)
        if not approved:
            open_steps(uow, flow, first_to_open(flow), event, msg("Resubmitted for your approval"))
        return approval

    return await mutate(ctx, work)


async def _colleague(uow: UnitOfWork, gid: str, field: str) -> m.User:
    user = await org_user(uow.session, uow.org_id, gid, field)
    if user.role == "VIEWER":
        fail(VALIDATION, "{user} is read-only and cannot approve", field, user=user.name)
    return user


def _seat(uow: UnitOfWork, flow: Flow, step: m.ApprovalStep, user: m.User) -> None:
    """Make `user` a pending approver of `step` (reusing a row they once transferred)."""
    row = flow.row(step, user.id)
    if row is None:
        row = m.ApprovalApprover(step_id=step.id, user_id=user.id)
        uow.session.add(row)
        flow.approvers.setdefault(step.id, []).append(row)
    row.status, row.decided_at = "PENDING", None


async def transfer_approval_step(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Approval:
        viewer = ctx.require_writer()
        flow = await load_flow(uow, data["id"])
        step = _my_step(flow, viewer, msg("transfer"))
        with validate.Checks() as check:
            to = await check.lookup(_colleague(uow, data.get("to_user_id"), "toUserId"))
            comment = check(_comment, data.get("comment"))
        if to.id == viewer.id:
            fail(DUPLICATE, "You already approve this step: name a colleague", "toUserId")
        flow.row(step, viewer.id).status = "TRANSFERRED"
        if not (flow.row(step, to.id) and flow.row(step, to.id).status == "PENDING"):
            _seat(uow, flow, step, to)  # (someone already seated keeps their row)
        record(uow, flow, "TRANSFERRED", step, comment=comment, target_user_id=to.id)
        event = await _event(uow, flow, "APPROVAL_TRANSFERRED", {"step": step.position, "from": viewer.user.name, "to": to.name})
        said = msg(": {comment}", comment=comment) if comment else ""
        uow.notify([to.id], "approval", "{user} handed you their decision on {approval} for {opp}{said}",
                   opportunity_id=flow.opp.id, event=event, user=viewer.user.name, approval=flow.approval.kind, opp=flow.opp.title, said=said)
        return flow.approval

    return await mutate(ctx, work)


async def _insert_step(uow: UnitOfWork, flow: Flow, position: int, user: m.User) -> m.ApprovalStep:
    """A one-person step at `position`; later steps move one place right (through
    positions out of the way, so the unique (approval, position) holds at each UPDATE)."""
    later = [st for st in flow.steps if st.position >= position]
    for st in later:
        st.position += 1000
    await uow.session.flush()
    for st in later:
        st.position -= 999
    step = m.ApprovalStep(approval_id=flow.approval.id, position=position, department_id=user.department_id,
                          status="PENDING", sign_mode="ANY")
    uow.session.add(step)
    await uow.session.flush()
    flow.steps.append(step)
    flow.steps.sort(key=lambda st: st.position)
    flow.approvers[step.id] = []
    _seat(uow, flow, step, user)
    return step


async def add_approval_signer(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Approval:
        viewer = ctx.require_writer()
        flow = await load_flow(uow, data["id"])
        step = _my_step(flow, viewer, msg("add a signer to"))
        with validate.Checks() as check:
            user = await check.lookup(_colleague(uow, data.get("user_id"), "userId"))
            comment = check(_comment, data.get("comment"))
            placement = data.get("placement") or "AFTER"
        if placement not in PLACEMENTS:
            fail(VALIDATION, "placement must be one of {placements}", "placement", placements=', '.join(PLACEMENTS))
        if placement != "WITH" and flow.approval.mode == "PARALLEL":
            fail(VALIDATION, "In a parallel approval, add signers WITH your step", "placement")
        if placement != "WITH" and len(flow.steps) >= MAX_STEPS:
            fail(VALIDATION, "An approval has at most {max_steps} steps", "placement", max_steps=MAX_STEPS)
        if user.id == viewer.id or (flow.row(step, user.id) and flow.row(step, user.id).status != "TRANSFERRED" and placement == "WITH"):
            fail(DUPLICATE, "{user} already approves this step", "userId", user=user.name)
        said = msg(": {comment}", comment=comment) if comment else ""
        if placement == "WITH":
            _seat(uow, flow, step, user)
            added, opens = step, True
        elif placement == "AFTER":
            added, opens = await _insert_step(uow, flow, step.position + 1, user), False
        else:  # BEFORE: the new signer decides first, then the step comes back to me
            at = step.position
            step.opened_at = None
            added, opens = await _insert_step(uow, flow, at, user), True
        record(uow, flow, "SIGNER_ADDED", step, comment=comment, target_user_id=user.id)
        event = await _event(uow, flow, "APPROVAL_SIGNER_ADDED", {"step": added.position, "placement": placement, "signer": user.name})
        if opens:
            if added.opened_at is None:
                added.opened_at = uow.now
            uow.notify([user.id], "approval", "{user} added you as an approver of {approval} on {opp}{said}",
                       opportunity_id=flow.opp.id, event=event, user=viewer.user.name, approval=flow.approval.kind, opp=flow.opp.title, said=said)
        return flow.approval

    return await mutate(ctx, work)


async def urge_approval(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Approval:
        viewer = ctx.require_writer()
        flow = await load_flow(uow, data["id"])
        approval = flow.approval
        if not (viewer.is_admin or viewer.id in (approval.requested_by_id, flow.opp.owner_id)):
            fail(FORBIDDEN, "Only the requester, the card's owner or an admin can urge this approval")
        comment = _comment(data.get("comment"))
        steps = flow.open_steps()
        due = [st for st in steps if st.urged_at is None or st.urged_at + URGE_EVERY <= uow.now]
        if not due:
            again = min(st.urged_at for st in steps) + URGE_EVERY
            fail(TOO_SOON, "This step was urged less than an hour ago; urge again after {again:%H:%M} UTC", "id", again=again)
        for st in due:
            st.urged_at = uow.now
        approval.urge_count += 1
        record(uow, flow, "URGED", due[0], comment=comment)
        event = await _event(uow, flow, "APPROVAL_URGED", {"steps": [st.position for st in due], "count": approval.urge_count})
        said = msg(": {comment}", comment=comment) if comment else ""
        uow.notify(pending_approver_ids(flow, due), "approval",
                   "{user} is waiting for your {approval} approval on {opp}{said}",
                   opportunity_id=flow.opp.id, event=event, user=viewer.user.name, approval=approval.kind, opp=flow.opp.title, said=said)
        return approval

    return await mutate(ctx, work)



async def on_timeout(uow: UnitOfWork, approval_id: int, step_id: int, opened_at: str, timeout: str, kind: str, alert: Msg) -> None:
    """A step's timeout acts (from the alerts job, once per condition): remind its
    approvers, escalate to the department's managers, then to admins, or finally
    return or approve it. Nothing happens if the step has moved on meanwhile.
    The record keeps the English text; the notification is read in each reader's language."""
    message = str(alert)
    try:
        flow = await load_flow(uow, to_global("Approval", approval_id))
    except UserErrors:  # decided, returned or cancelled meanwhile: its steps have moved on
        return
    step = next((st for st in flow.steps if st.id == step_id), None)
    if step is None or step.status != "PENDING" or step.opened_at is None or step.opened_at.isoformat() != opened_at:
        return
    if timeout == "final":
        if (step.timeouts or {}).get("finalAction") == "APPROVE":
            await apply_decision(uow, flow, step, True, message, decider_id=None)
        else:
            await send_back(uow, flow, step, None, message, actor_id=None)
        return
    s = uow.session
    if timeout == "remind":
        recipients = pending_approver_ids(flow, [step])
    elif timeout == "escalate":
        recipients = list((await s.execute(select(m.User.id).where(
            m.User.department_id == step.department_id, m.User.role == "MANAGER"))).scalars())
    else:
        recipients = list((await s.execute(select(m.User.id).where(
            m.User.org_id == uow.org_id, m.User.role == "ADMIN"))).scalars())
    record(uow, flow, "REMINDED" if timeout == "remind" else "ESCALATED", step, comment=message)
    keys = await department_keys_of(s, [step])
    event = await uow.append_event(
        "ALERT_RAISED", opportunity_id=flow.opp.id, approval_id=flow.approval.id, department_keys=list(keys.values()),
        changes={"alert": kind, "message": message, "step": step.position}, actor_id=None,
    )
    uow.notify(recipients, "alert", alert, opportunity_id=flow.opp.id, event=event)
