"""Approvals: a state machine over ordered department steps.

SEQUENTIAL opens one step at a time (the next when the previous is approved);
PARALLEL opens all at once. Every step must approve; one rejection rejects.
A step is decidable once `opened_at` is set. Decisions lock the approval row
so two concurrent decisions produce one outcome."""
from sqlalchemy import exists, select

from db import models as m
from resolvers import validate
from resolvers.access import ensure_can_edit
from resolvers.context import Ctx
from resolvers.errors import DUPLICATE, FORBIDDEN, INVALID_TRANSITION, NOT_FOUND, VALIDATION, fail
from resolvers.ids import decode, to_global
from resolvers.notifications import department_member_ids
from resolvers.rows import locked_opportunity
from resolvers.uow import UnitOfWork, mutate

MODES = ("SEQUENTIAL", "PARALLEL")


async def departments_for(session, org_id: int, keys: list[str] | None, field: str = "departmentKeys") -> list[m.Department]:
    keys = [k.strip() for k in keys or []]
    if not keys:
        fail(VALIDATION, "Name at least one approver department", field)
    if len(set(keys)) != len(keys):
        fail(VALIDATION, "Each department may appear only once", field)
    found = {
        d.key: d
        for d in (await session.execute(select(m.Department).where(m.Department.org_id == org_id, m.Department.key.in_(keys)))).scalars()
    }
    unknown = [k for k in keys if k not in found]
    if unknown:
        fail(VALIDATION, f"Unknown department {', '.join(map(repr, unknown))}", field)
    return [found[k] for k in keys]


async def has_approval(session, opportunity_id: int, kind: str, statuses: tuple[str, ...]) -> bool:
    return bool(await session.scalar(select(exists().where(
        m.Approval.opportunity_id == opportunity_id, m.Approval.kind == kind, m.Approval.status.in_(statuses),
    ))))


async def _open_steps(uow: UnitOfWork, opp: m.Opportunity, approval: m.Approval, steps: list[m.ApprovalStep], event: m.Event) -> None:
    """Make steps decidable and tell their departments."""
    for step in steps:
        step.opened_at = uow.now
    members = await department_member_ids(uow.session, *(st.department_id for st in steps))
    uow.notify(members, "approval", f"Your approval is needed: {approval.kind} on {opp.title}", opportunity_id=opp.id, event=event)


async def open_approval(uow: UnitOfWork, opp: m.Opportunity, kind: str, departments: list[m.Department], mode: str, comment: str | None) -> m.Approval:
    """Create a PENDING approval with its steps (the caller holds the opportunity lock)."""
    if await has_approval(uow.session, opp.id, kind, ("PENDING",)):
        fail(DUPLICATE, f"A {kind} approval is already pending for this opportunity", "kind")
    approval = m.Approval(
        org_id=uow.org_id, opportunity_id=opp.id, requested_by_id=uow.actor_id, kind=kind, mode=mode,
        status="PENDING", comment=comment, created_at=uow.now,
    )
    uow.session.add(approval)
    await uow.session.flush()
    steps = [m.ApprovalStep(approval_id=approval.id, position=i, department_id=d.id, status="PENDING") for i, d in enumerate(departments)]
    uow.session.add_all(steps)
    event = await uow.append_event(
        "APPROVAL_REQUESTED", opportunity_id=opp.id, approval_id=approval.id,
        department_keys=[d.key for d in departments],
        changes={"kind": kind, "mode": mode, "departmentKeys": [d.key for d in departments]},
    )
    await _open_steps(uow, opp, approval, steps if mode == "PARALLEL" else steps[:1], event)
    await uow.session.flush()
    return approval


def _kind(value: str | None) -> str:
    return validate.text(value, "kind", max_len=40, required=True).lower()


def _mode(value: str | None) -> str:
    mode = value or "SEQUENTIAL"
    if mode not in MODES:
        fail(VALIDATION, "mode must be SEQUENTIAL or PARALLEL", "mode")
    return mode


async def request_approval(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Approval:
        viewer = ctx.require_writer()
        opp = await locked_opportunity(uow, data["opportunity_id"])
        ensure_can_edit(viewer, opp, await uow.session.get(m.User, opp.owner_id))
        with validate.Checks() as check:
            kind = check(_kind, data.get("kind"))
            mode = check(_mode, data.get("mode"))
            departments = await check.lookup(departments_for(uow.session, uow.org_id, data.get("department_keys")))
            comment = check(validate.text, data.get("comment"), "comment", max_len=5000)
        return await open_approval(uow, opp, kind, departments, mode, comment)

    return await mutate(ctx, work)


async def _locked_approval(uow: UnitOfWork, gid: str) -> tuple[m.Approval, list[m.ApprovalStep], m.Opportunity]:
    pk = decode(gid, "Approval", "id")
    found = await uow.session.get(m.Approval, pk)
    if found is None or found.org_id != uow.org_id:
        fail(NOT_FOUND, f"No approval with id {gid!r}", "id")
    # Lock order: opportunity, then approval (as everywhere), then the event counter.
    opp = await locked_opportunity(uow, to_global("Opportunity", found.opportunity_id))
    approval = (
        await uow.session.execute(
            select(m.Approval).where(m.Approval.id == pk).with_for_update().execution_options(populate_existing=True)
        )
    ).scalar_one()
    if approval.status != "PENDING":
        fail(INVALID_TRANSITION, f"This approval is already {approval.status.lower()}", "id")
    steps = list((await uow.session.execute(
        select(m.ApprovalStep).where(m.ApprovalStep.approval_id == pk).order_by(m.ApprovalStep.position)
        .execution_options(populate_existing=True)
    )).scalars())
    return approval, steps, opp


def _close_remaining(steps: list[m.ApprovalStep], status: str) -> None:
    for step in steps:
        if step.status == "PENDING":
            step.status = status


async def decide_approval(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Approval:
        viewer = ctx.require_writer()
        approval, steps, opp = await _locked_approval(uow, data["id"])
        mine = steps if viewer.is_admin else [st for st in steps if st.department_id == viewer.user.department_id]
        if not mine:
            fail(FORBIDDEN, "Only a member of a step's department (or an admin) can decide it")
        step = next((st for st in mine if st.status == "PENDING" and st.opened_at is not None), None)
        if step is None:
            if any(st.status == "PENDING" for st in mine):
                fail(INVALID_TRANSITION, "Your step is not open yet: an earlier step must approve first")
            fail(INVALID_TRANSITION, "Your department's step is already decided")
        comment = validate.text(data.get("comment"), "comment", max_len=5000)
        decision = "APPROVED" if data["approve"] else "REJECTED"
        step.status, step.decided_by_id, step.decided_at, step.comment = decision, viewer.id, uow.now, comment
        s = uow.session
        keys = {d.id: d.key for d in (await s.execute(select(m.Department).where(m.Department.id.in_({st.department_id for st in steps})))).scalars()}
        changes = {"step": step.position, "department": keys[step.department_id], "decision": decision}
        to_open = []
        if decision == "REJECTED":
            approval.status = "REJECTED"
            _close_remaining(steps, "CANCELLED")
        elif all(st.status == "APPROVED" for st in steps):
            approval.status = "APPROVED"
        elif approval.mode == "SEQUENTIAL":
            to_open = [next(st for st in steps if st.status == "PENDING")]
        if approval.status != "PENDING":
            approval.decided_at = uow.now
            changes["status"] = ["PENDING", approval.status]
        event = await uow.append_event(
            "APPROVAL_DECIDED", opportunity_id=opp.id, approval_id=approval.id,
            department_keys=sorted(set(keys.values())), changes=changes,
        )
        if to_open:
            await _open_steps(uow, opp, approval, to_open, event)
        if approval.status != "PENDING":
            uow.notify([approval.requested_by_id], "approval",
                       f"The {approval.kind} approval on {opp.title} was {approval.status.lower()}" + (f": {comment}" if comment else ""),
                       opportunity_id=opp.id, event=event)
        return approval

    return await mutate(ctx, work)


async def cancel_approval(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Approval:
        viewer = ctx.require_writer()
        approval, steps, opp = await _locked_approval(uow, data["id"])
        if not (viewer.is_admin or viewer.id == approval.requested_by_id):
            fail(FORBIDDEN, "Only the requester (or an admin) can cancel this approval")
        approval.status = "CANCELLED"
        approval.decided_at = uow.now
        _close_remaining(steps, "CANCELLED")
        keys = await uow.session.execute(select(m.Department.key).where(m.Department.id.in_({st.department_id for st in steps})))
        await uow.append_event(
            "APPROVAL_DECIDED", opportunity_id=opp.id, approval_id=approval.id,
            department_keys=list(keys.scalars()), changes={"status": ["PENDING", "CANCELLED"]},
        )
        return approval

    return await mutate(ctx, work)


async def list_approvals(ctx: Ctx, department_key: str | None, statuses: list[str] | None) -> list[m.Approval]:
    """Newest first; with a department, those where it has a step (its work queue)."""
    org_id = ctx.require_viewer().org_id
    stmt = select(m.Approval).where(m.Approval.org_id == org_id)
    if statuses:
        stmt = stmt.where(m.Approval.status.in_(statuses))
    if department_key:
        stmt = stmt.where(m.Approval.id.in_(
            select(m.ApprovalStep.approval_id).join(m.Department, m.Department.id == m.ApprovalStep.department_id)
            .where(m.Department.org_id == org_id, m.Department.key == department_key)
        ))
    return await ctx.loaders.all(stmt.order_by(m.Approval.id.desc()).limit(500))
