"""The shared pool (公海): deals no rule could place, deals given back with a reason, and
deals without a follow-up for their stage's `pool_after_days`. A pooled deal keeps an
accountable owner (its pool department's manager, else an admin: `Opportunity.owner`
is never null) and is visible to that department's members (resolvers/visibility.py).
Claims are limited per user per 24 hours and, for a deal one gave back, by a cooldown."""
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from db import models as m
from db.engine import Database
from resolvers import assignment, validate
from resolvers.access import can_move
from resolvers.context import Ctx, system_ctx
from resolvers.errors import COOLDOWN, FORBIDDEN, INVALID_TRANSITION, LIMIT_EXCEEDED, NOT_FOUND, VALIDATION, UserErrors, fail
from resolvers.ids import decode
from resolvers.i18n import msg
from resolvers.paging import Page, keyset, page_size, to_page
from resolvers.rows import department_keys, locked_opportunity, organization_ids
from resolvers.uow import UnitOfWork, mutate, run_in_transaction
from resolvers.visibility import conditions, ensure_access, opportunity_clause

log = logging.getLogger("baton.pool")
WARNING_HOURS = 24  # the owner hears this long before an idle deal returns to the pool
GIVEN_BACK = ("OPPORTUNITY_RELEASED", "OPPORTUNITY_POOLED")
MAX_POOL_DAYS = 3650


def sees_every_pool(viewer) -> bool:
    return viewer.role in ("ADMIN", "MANAGER")


async def list_pool(ctx: Ctx, department_key: str | None, first: int | None, after: str | None) -> Page:
    """Pooled deals, newest first: a member sees their department's pool; managers and
    admins every pool (or `department_key`'s)."""
    viewer = ctx.require_viewer()
    o = m.Opportunity
    conds = [o.org_id == viewer.org_id, o.pooled_at.is_not(None),
             *conditions(opportunity_clause(await ensure_access(ctx)))]
    if not sees_every_pool(viewer):
        conds.append(o.pool_department_id == viewer.user.department_id)
    if department_key:
        conds.append(o.pool_department_id.in_(select(m.Department.id).where(
            m.Department.org_id == viewer.org_id, m.Department.key == department_key)))
    size = page_size(first, ctx.max_page_size)
    rows = await ctx.loaders.all(keyset(select(o).where(*conds), o.id, size, after))

    async def count() -> int:
        return (await ctx.loaders.rows(select(func.count()).select_from(o).where(*conds)))[0][0]

    return to_page(rows, size, after, count=count)


async def claim_opportunity(ctx: Ctx, data: dict):
    """The caller takes a pooled deal: LIMIT_EXCEEDED past the day's claims, COOLDOWN
    for a deal they gave back within the cooldown."""

    async def work(uow: UnitOfWork) -> m.Opportunity:
        viewer = ctx.require_writer()
        s = uow.session
        opp = await locked_opportunity(uow, data["id"])
        if opp.pooled_at is None:
            fail(INVALID_TRANSITION, "This deal is not in the pool", "id")
        if not sees_every_pool(viewer) and viewer.user.department_id != opp.pool_department_id:
            fail(FORBIDDEN, "Only the pool department's members, managers and admins can claim this deal", "id")
        # The claimer's row lock: two claims of one user count each other.
        await s.execute(select(m.User.id).where(m.User.id == viewer.id).with_for_update())
        since = uow.now - timedelta(hours=24)
        claims = await s.scalar(select(func.count()).select_from(m.Event).where(
            m.Event.org_id == uow.org_id, m.Event.type == "OPPORTUNITY_CLAIMED",
            m.Event.actor_id == viewer.id, m.Event.occurred_at > since))
        if claims >= ctx.pool_claims_per_day:
            fail(LIMIT_EXCEEDED, "You have claimed {limit} deals in the last 24 hours, the most allowed", "id",
                 limit=ctx.pool_claims_per_day)
        cooldown = timedelta(hours=ctx.pool_reclaim_cooldown_hours)
        given_back = (await s.execute(select(m.Event.changes, m.Event.occurred_at).where(
            m.Event.org_id == uow.org_id, m.Event.opportunity_id == opp.id, m.Event.type.in_(GIVEN_BACK),
            m.Event.occurred_at > uow.now - cooldown))).all()
        mine = [at for changes, at in given_back if (changes or {}).get("owner", [None])[0] == viewer.id]
        if mine:
            fail(COOLDOWN, "You gave this deal back less than {hours} hours ago; you can claim it again after {at}", "id",
                 hours=ctx.pool_reclaim_cooldown_hours, at=max(mine) + cooldown)
        pool_key = (await department_keys(s, opp.pool_department_id) or [None])[0]
        old = opp.owner_id
        opp.owner_id, opp.assigned_at, opp.pooled_at, opp.pool_department_id = viewer.id, uow.now, None, None
        opp.version += 1
        opp.updated_at = uow.now
        await uow.append_event("OPPORTUNITY_CLAIMED", opportunity_id=opp.id,
                               department_ids=(opp.department_id,),
                               changes={"owner": [old, viewer.id], "pool": [pool_key, None]})
        return opp

    return await mutate(ctx, work)


async def return_to_pool(uow: UnitOfWork, opp: m.Opportunity, event_type: str, extra: dict) -> None:
    """Put the deal in the pool (the event `event_type`), then let the first matching rule
    give it to someone other than its last owner; with no rule or nobody free it stays."""
    s = uow.session
    old = opp.owner_id
    account = await s.get(m.Account, opp.account_id)
    chosen = await assignment.pick(uow, opp, account, exclude={old})
    department_id = chosen.pool_department_id if chosen and chosen.user is None else opp.department_id
    holder = chosen.holder if chosen and chosen.user is None else await assignment.pool_holder(s, uow.org_id, department_id)
    if holder is None:
        fail(INVALID_TRANSITION, "The pool has nobody to hold it: the department has no manager and the organization no admin")
    await assignment.enter_pool(uow, opp, department_id, holder.id, event_type, extra, old)
    if chosen is not None and chosen.user is not None:
        await assignment.apply(uow, opp, chosen, holder.id)
    opp.version += 1
    opp.updated_at = uow.now


async def release_opportunity(ctx: Ctx, data: dict):
    """The owner (or their manager, or an admin) gives a deal back with a reason."""

    async def work(uow: UnitOfWork) -> m.Opportunity:
        viewer = ctx.require_writer()
        s = uow.session
        opp = await locked_opportunity(uow, data["id"], data.get("version"))
        owner = await s.get(m.User, opp.owner_id)
        if not can_move(viewer, opp, owner):
            fail(FORBIDDEN, "Only the owner, the owner's manager or an admin can release this deal", "id")
        with validate.Checks() as check:
            reason = check(validate.text, data.get("reason"), "reason", max_len=500, required=True)
        if opp.pooled_at is not None:
            fail(INVALID_TRANSITION, "This deal is already in the pool", "id")
        stage = await s.get(m.Stage, opp.stage_id)
        if stage.kind != "OPEN":
            fail(INVALID_TRANSITION, "Only an open deal can be released", "id")
        await return_to_pool(uow, opp, "OPPORTUNITY_RELEASED", {"reason": [None, reason]})
        return opp

    return await mutate(ctx, work)


# ---------------------------------------------------------------- automatic return (alerts job)


def idle_since(opp: m.Opportunity) -> datetime:
    """When the deal's idleness began: its last follow-up, else its entering the stage,
    but never before its owner got it."""
    since = opp.last_contact_at or opp.stage_entered_at
    return max(since, opp.assigned_at) if opp.assigned_at else since


async def _due(db: Database, org_id: int, now: datetime) -> list[tuple[str, int, str]]:
    """(what, deal id, fingerprint): warnings and returns due and not yet done."""
    async with db.read() as s:
        rows = (await s.execute(
            select(m.Opportunity, m.Stage.pool_after_days).join(m.Stage, m.Stage.id == m.Opportunity.stage_id)
            .where(m.Opportunity.org_id == org_id, m.Stage.kind == "OPEN", m.Stage.pool_after_days.is_not(None),
                   m.Opportunity.pooled_at.is_(None))
        )).all()
        done = set((await s.execute(select(m.Alert.subject, m.Alert.fingerprint).where(
            m.Alert.org_id == org_id, m.Alert.subject.like("pool_%")))).all())
    due = []
    for opp, days in rows:
        since = idle_since(opp)
        fingerprint = since.isoformat()
        returns_at = since + timedelta(days=days)
        warned = (f"pool_warning:opportunity:{opp.id}", fingerprint) in done
        if not warned and now >= returns_at - timedelta(hours=WARNING_HOURS):
            due.append(("warning", opp.id, fingerprint))
        elif warned and now >= returns_at and (f"pool_return:opportunity:{opp.id}", fingerprint) not in done:
            due.append(("return", opp.id, fingerprint))
    return due


async def _act(uow: UnitOfWork, what: str, opp_id: int, fingerprint: str) -> None:
    s = uow.session
    opp = (await s.execute(select(m.Opportunity).where(m.Opportunity.id == opp_id).with_for_update())).scalar_one()
    s.add(m.Alert(org_id=uow.org_id, subject=f"pool_{what}:opportunity:{opp.id}", fingerprint=fingerprint, raised_at=uow.now))
    if opp.pooled_at is not None or assignment_fingerprint(opp) != fingerprint:
        return  # changed since it was found: claimed, followed up, pooled
    stage = await s.get(m.Stage, opp.stage_id)
    owner_id = opp.owner_id
    if what == "warning":
        text = msg("{opp} has had no follow-up for a while: it returns to the pool in {hours} hours unless it is followed up",
                   opp=opp.title, hours=WARNING_HOURS)
        last_activity = opp.last_activity_at
        event = await uow.append_event("ALERT_RAISED", opportunity_id=opp.id, department_ids=(opp.department_id,),
                                       changes={"alert": "pool_warning", "message": str(text)})
        opp.last_activity_at = last_activity  # a warning is not activity on the deal
        uow.notify([owner_id], "alert", text, opportunity_id=opp.id, event=event)
        return
    await return_to_pool(uow, opp, "OPPORTUNITY_POOLED", {"reason": [None, assignment.NO_FOLLOW_UP]})
    event = uow.events[0]
    uow.notify([owner_id], "alert", "{opp} had no follow-up for {days} days in {stage} and returned to the pool",
               opportunity_id=opp.id, event=event, opp=opp.title, days=stage.pool_after_days, stage=stage.name)


def assignment_fingerprint(opp: m.Opportunity) -> str:
    return idle_since(opp).isoformat()


async def return_idle_deals(db: Database, now: datetime, *, publish=None, org_id: int | None = None) -> int:
    """Warn owners of deals about to return to the pool and return those past their
    stage's pool_after_days (a warning first, each once); returns how many were returned."""
    ctx = system_ctx(db, now, publish)
    org_ids = await organization_ids(db, org_id)
    returned = 0
    for oid in org_ids:
        for what, opp_id, fingerprint in await _due(db, oid, now):
            try:
                await run_in_transaction(ctx, lambda uow, w=what, i=opp_id, f=fingerprint: _act(uow, w, i, f),
                                         actor_id=None, org_id=oid)
                returned += what == "return"
            except IntegrityError:
                log.info("pool %s of deal %s already done by another process", what, opp_id)
            except UserErrors as exc:
                log.warning("pool %s of deal %s refused: %s", what, opp_id, exc)
    return returned


async def set_stage_pool_after_days(ctx: Ctx, data: dict):
    """Admins: how many days without a follow-up return a stage's open deals to the pool (null: never)."""

    async def work(uow: UnitOfWork) -> m.Stage:
        viewer = ctx.require_writer()
        if not viewer.is_admin:
            fail(FORBIDDEN, "Only an admin can change a stage's pool rule")
        stage_id = decode(data["stage_id"], "Stage", "stageId")
        stage = (await uow.session.execute(
            select(m.Stage).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id)
            .where(m.Stage.id == stage_id, m.Pipeline.org_id == uow.org_id).with_for_update(of=m.Stage))).scalar_one_or_none()
        if stage is None:
            fail(NOT_FOUND, "No stage with id {gid!r}", "stageId", gid=data["stage_id"])
        days = data.get("days")
        if days is not None and not 1 <= days <= MAX_POOL_DAYS:
            fail(VALIDATION, "days must be between 1 and {limit}, or null for never", "days", limit=MAX_POOL_DAYS)
        if days != stage.pool_after_days:
            before, stage.pool_after_days = stage.pool_after_days, days
            await uow.append_event("PIPELINE_UPDATED", changes={"stage": [None, stage.key], "poolAfterDays": [before, days]})
        return stage

    return await mutate(ctx, work)
