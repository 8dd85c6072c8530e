"""Row helpers the rule modules share: the locked card, org-scoped users,
department keys for events, JSON-ready values for event changes."""
from decimal import Decimal

from sqlalchemy import bindparam, select

from db import models as m
from db.statements import built_once
from resolvers.errors import CONFLICT, NOT_FOUND, VALIDATION, fail
from resolvers.ids import decode
from resolvers.uow import UnitOfWork
from resolvers.visibility import conditions, ensure_access, opportunity_clause


def jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


async def department_keys(session, *department_ids: int | None) -> list[str]:
    ids = {i for i in department_ids if i is not None}
    if not ids:
        return []
    return list((await session.execute(select(m.Department.key).where(m.Department.id.in_(ids)))).scalars())


def _locked_card():
    return (
        select(m.Opportunity, m.User)
        .outerjoin(m.User, m.User.id == m.Opportunity.owner_id)
        .where(m.Opportunity.id == bindparam("id"), m.Opportunity.org_id == bindparam("org_id"))
        .with_for_update(of=m.Opportunity)
    )


async def locked_opportunity(uow: UnitOfWork, gid: str, version: int | None = None) -> m.Opportunity:
    """Load for update within the organization and what the viewer may see (a card
    outside it does not exist for them); NOT_FOUND or CONFLICT as user errors."""
    pk = decode(gid, "Opportunity", "id")
    visible = opportunity_clause(await ensure_access(uow.ctx, uow.session))
    # The owner comes along (into the session's identity map), for the edit rights every
    # caller checks next: `session.get(m.User, opp.owner_id)` then costs no statement.
    stmt = built_once(_locked_card)  # db/statements.py; a visibility rule adds its condition
    if visible is not None:
        stmt = stmt.where(visible)
    row = (await uow.session.execute(stmt, {"id": pk, "org_id": uow.org_id})).one_or_none()
    if row is None:
        fail(NOT_FOUND, "No opportunity with id {gid!r}", "id", gid=gid)
    opp, owner = row
    uow.held.append(owner)  # the identity map holds objects weakly
    if version is not None and opp.version != version:
        fail(CONFLICT, "Someone else changed this opportunity (now version {version}); reload and retry", "version", version=opp.version)
    return opp


async def org_user(session, org_id: int, gid: str, field: str, *, active: bool = True) -> m.User:
    """A user of the organization; unless `active` is False, one who may still be given work
    (a deactivated user owns, is assigned and decides nothing new)."""
    pk = decode(gid, "User", field)
    user = await session.get(m.User, pk)
    if user is None or user.org_id != org_id:
        fail(NOT_FOUND, "No user with id {gid!r}", field, gid=gid)
    if active and user.deactivated_at is not None:
        fail(VALIDATION, "{name} is deactivated; reactivate them first", field, name=user.name)
    return user


async def organization_ids(db, only: int | None = None) -> list[int]:
    """The organizations a background job visits: `only`, or every one."""
    if only is not None:
        return [only]
    async with db.read() as s:
        return list((await s.execute(select(m.Organization.id).order_by(m.Organization.id))).scalars())


async def visible_row(ctx, session, model, pk: int, clause, *, lock: bool = False):
    """The viewer's organization's `model` row `pk` when `clause` (a visibility condition;
    None: every row) admits it, else None; `lock` takes it FOR UPDATE."""
    stmt = select(model).where(model.id == pk, model.org_id == ctx.require_viewer().org_id, *conditions(clause))
    if lock:
        stmt = stmt.with_for_update(of=model)
    return (await session.execute(stmt)).scalar_one_or_none()
