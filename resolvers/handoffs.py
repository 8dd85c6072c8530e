"""Handoffs: one department passes the baton (Opportunity.department) to another.

Lock order everywhere: the opportunity row first, then the handoff, then the
organization's event counter (last, in UnitOfWork.write_log), so concurrent writers queue
instead of deadlocking."""
from sqlalchemy import exists, select

from db import models as m
from resolvers import validate
from resolvers.access import can_respond, ensure_can_edit
from resolvers.context import Ctx
from resolvers.errors import DUPLICATE, FORBIDDEN, INVALID_TRANSITION, NOT_FOUND, VALIDATION, fail
from resolvers.i18n import msg, status_word
from resolvers.ids import decode, to_global
from resolvers.notifications import department_member_ids
from resolvers.rows import locked_opportunity, org_user
from resolvers.uow import UnitOfWork, mutate


async def department_by_key(session, org_id: int, key: str | None, field: str) -> m.Department:
    dept = (
        await session.execute(select(m.Department).where(m.Department.org_id == org_id, m.Department.key == (key or "").strip()))
    ).scalar_one_or_none()
    if dept is None:
        fail(VALIDATION, "Unknown department {key!r}", field, key=key)
    return dept


async def _receiver(session, opp: m.Opportunity, key: str | None) -> m.Department:
    dept = await department_by_key(session, opp.org_id, key, "toDepartmentKey")
    if dept.id == opp.department_id:
        fail(VALIDATION, "{dept} already holds this opportunity", "toDepartmentKey", dept=dept.name)
    return dept


async def request_handoff(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Handoff:
        viewer = ctx.require_writer()
        s = uow.session
        opp = await locked_opportunity(uow, data["opportunity_id"])
        ensure_can_edit(viewer, opp, await s.get(m.User, opp.owner_id))
        with validate.Checks() as check:
            to_dept = await check.lookup(_receiver(s, opp, data.get("to_department_key")))
            assignee = None
            if data.get("assignee_id"):
                assignee = await check.lookup(org_user(s, uow.org_id, data["assignee_id"], "assigneeId"))
            note = check(validate.text, data.get("note"), "note", max_len=5000)
        if assignee and assignee.department_id != to_dept.id:
            fail(VALIDATION, "The assignee must belong to {to_dept}", "assigneeId", to_dept=to_dept.name)
        if await pending_to(s, opp, to_dept):
            fail(DUPLICATE, "A handoff to {to_dept} is already pending", "toDepartmentKey", to_dept=to_dept.name)
        return await open_handoff(uow, opp, to_dept, by=viewer.user, assignee=assignee, note=note)

    return await mutate(ctx, work)


async def pending_to(session, opp: m.Opportunity, to_dept: m.Department) -> bool:
    """A handoff to the department is pending (the card's row is locked: no race)."""
    return bool(await session.scalar(select(exists().where(
        m.Handoff.opportunity_id == opp.id, m.Handoff.to_department_id == to_dept.id, m.Handoff.status == "PENDING",
    ))))


async def open_handoff(uow: UnitOfWork, opp: m.Opportunity, to_dept: m.Department, *, by: m.User,
                       assignee: m.User | None, note: str | None, changes: dict | None = None) -> m.Handoff:
    """A PENDING handoff of the card to `to_dept`, its event and notifications."""
    s = uow.session
    from_dept = await s.get(m.Department, opp.department_id)
    handoff = m.Handoff(
        org_id=uow.org_id, opportunity_id=opp.id, from_department_id=from_dept.id, to_department_id=to_dept.id,
        requested_by_id=by.id, assignee_id=assignee.id if assignee else None, note=note, status="PENDING",
        created_at=uow.now,
    )
    s.add(handoff)
    await s.flush()
    event = await uow.append_event(
        "HANDOFF_REQUESTED", opportunity_id=opp.id, handoff_id=handoff.id,
        department_keys=[from_dept.key, to_dept.key], changes=changes,
    )
    uow.notify(await department_member_ids(s, to_dept.id), "handoff",
               "{by} hands {opp} from {from_dept} to {to_dept}", opportunity_id=opp.id, event=event, by=by.name, opp=opp.title, from_dept=from_dept.name, to_dept=to_dept.name)
    if assignee:
        uow.notify([assignee.id], "assigned", "{by} assigned you the handoff of {opp}", opportunity_id=opp.id, event=event, by=by.name, opp=opp.title)
    return handoff


async def pass_baton(uow: UnitOfWork, opp: m.Opportunity, to_department_id: int) -> dict:
    """The card now belongs to the receiving department; returns the event's change."""
    if opp.department_id == to_department_id:
        return {}
    keys = {d.id: d.key for d in [await uow.session.get(m.Department, i) for i in (opp.department_id, to_department_id)]}
    change = {"department": [keys[opp.department_id], keys[to_department_id]]}
    opp.department_id = to_department_id
    opp.version += 1
    opp.updated_at = uow.now
    return change


async def _locked_handoff(uow: UnitOfWork, gid: str) -> tuple[m.Handoff, m.Opportunity]:
    pk = decode(gid, "Handoff", "id")
    found = await uow.session.get(m.Handoff, pk)
    if found is None or found.org_id != uow.org_id:
        fail(NOT_FOUND, "No handoff with id {gid!r}", "id", gid=gid)
    opp = await locked_opportunity(uow, to_global("Opportunity", found.opportunity_id))
    handoff = (
        await uow.session.execute(select(m.Handoff).where(m.Handoff.id == pk).with_for_update().execution_options(populate_existing=True))
    ).scalar_one()
    if handoff.status != "PENDING":
        fail(INVALID_TRANSITION, "This handoff is already {status}", "id", status=status_word(handoff.status))
    return handoff, opp


async def resolved(uow: UnitOfWork, handoff: m.Handoff, opp: m.Opportunity, changes: dict) -> m.Event:
    s = uow.session
    from_dept = await s.get(m.Department, handoff.from_department_id)
    to_dept = await s.get(m.Department, handoff.to_department_id)
    return await uow.append_event(
        "HANDOFF_RESOLVED", opportunity_id=opp.id, handoff_id=handoff.id,
        department_keys=[from_dept.key, to_dept.key], changes=changes,
    )


async def respond_handoff(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Handoff:
        viewer = ctx.require_writer()
        handoff, opp = await _locked_handoff(uow, data["id"])
        if not can_respond(viewer, handoff):
            fail(FORBIDDEN, "Only the receiving department (or an admin) can respond to this handoff")
        note = validate.text(data.get("note"), "note", max_len=5000)
        accept = bool(data["accept"])
        handoff.status = "ACCEPTED" if accept else "DECLINED"
        handoff.response_note = note
        handoff.responded_by_id = viewer.id
        handoff.responded_at = uow.now
        changes = {"status": ["PENDING", handoff.status]}
        if accept:  # accepting passes the baton
            changes.update(await pass_baton(uow, opp, handoff.to_department_id))
        event = await resolved(uow, handoff, opp, changes)
        said = msg(": {note}", note=note) if note else ""
        uow.notify([handoff.requested_by_id], "handoff",
                   msg("{user} accepted the handoff of {opp}{said}") if accept else msg("{user} declined the handoff of {opp}{said}"),
                   opportunity_id=opp.id, event=event, user=viewer.user.name, opp=opp.title, said=said)
        return handoff

    return await mutate(ctx, work)


async def cancel_handoff(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Handoff:
        viewer = ctx.require_writer()
        handoff, opp = await _locked_handoff(uow, data["id"])
        if not (viewer.is_admin or viewer.id == handoff.requested_by_id):
            fail(FORBIDDEN, "Only the requester (or an admin) can cancel this handoff")
        handoff.status = "CANCELLED"
        handoff.responded_at = uow.now
        handoff.responded_by_id = viewer.id
        await resolved(uow, handoff, opp, {"status": ["PENDING", "CANCELLED"]})
        return handoff

    return await mutate(ctx, work)
