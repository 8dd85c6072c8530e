"""Opportunities: create, edit, move through stage gates; list and search."""
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from db import models as m
from resolvers import assignment, stage_work, validate
from resolvers.accounts import account_for, raise_ownership_conflicts
from resolvers.access import ensure_can_edit, ensure_can_move
from resolvers.approvals import ensure_unlocked, reopen_superseded, supersede_changed
from resolvers.board import filter_conditions
from resolvers.context import Ctx
from resolvers.errors import INVALID_TRANSITION, NOT_FOUND, VALIDATION, UserErrors, fail
from resolvers.gates import auto_request, gated_path, move_refusal
from resolvers.ids import decode
from resolvers.money import base_currency
from resolvers.paging import Page, keyset, page_size, to_page
from resolvers.rows import jsonable, locked_opportunity, org_user
from resolvers.uow import UnitOfWork, mutate
from resolvers.visibility import conditions, ensure_access, opportunity_clause, refuse_hidden_writes

PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")


# ---------------------------------------------------------------- mutations


async def create_opportunity(ctx: Ctx, data: dict):
    viewer = ctx.require_viewer()

    async def work(uow: UnitOfWork) -> m.Opportunity:
        ctx.require_writer()
        s = uow.session
        refuse_hidden_writes(await ensure_access(ctx, s), {k: v for k, v in data.items() if v is not None})
        with validate.Checks() as check:
            title = check(validate.text, data.get("title"), "title", max_len=200, required=True)
            account_name = check(validate.text, data.get("account_name"), "accountName", max_len=200, required=True)
            amount = check(validate.amount, data.get("amount"))
            # Without one, a card is in the organization's base currency (resolvers/money.py).
            currency = check(validate.currency, data.get("currency") or await base_currency(s, uow.org_id))
            probability = check(validate.probability, data.get("probability"))
            close_date = check(validate.close_date, data.get("expected_close_date"))
            tags = check(validate.tags, data.get("tags"))
            next_step = check(validate.text, data.get("next_step"), "nextStep", max_len=500)
            source = check(validate.text, data.get("source"), "source", max_len=validate.MAX_SOURCE)
            owner = viewer.user
            if data.get("owner_id"):
                owner = await check.lookup(org_user(s, uow.org_id, data["owner_id"], "ownerId"))
            pipeline = await check.lookup(_pipeline(s, uow.org_id, data.get("pipeline_id")))
            if pipeline is not None:
                stages = await _stages(s, pipeline.id)
                stage = check(_stage_named, stages, data["stage_key"]) if data.get("stage_key") else stages[0]
            client_id = check(validate.text, data.get("client_mutation_id"), "clientMutationId", max_len=100)
        if client_id:
            earlier = await _by_client_id(s, uow.org_id, viewer.id, client_id)
            if earlier is not None:
                return earlier
        now = uow.now
        account = await account_for(s, uow.org_id, account_name, uow.now)
        opp = m.Opportunity(
            org_id=uow.org_id, pipeline_id=pipeline.id, stage_id=stage.id,
            account_id=account.id,
            owner_id=owner.id, department_id=owner.department_id, created_by_id=viewer.id,
            title=title, amount=amount, currency=currency, probability=probability, expected_close_date=close_date,
            priority=data.get("priority") or "MEDIUM", tags=tags, next_step=next_step, source=source, client_mutation_id=client_id,
            stage_entered_at=now, last_activity_at=now, created_at=now, updated_at=now,
            version=1,
        )
        error, _ = await move_refusal(s, opp, stages, gated_path(stages, None, stage))
        if error:
            raise UserErrors([error])
        # Without an owner named, the first matching assignment rule chooses one (or the pool).
        chosen = None if data.get("owner_id") else await assignment.pick(uow, opp, account)
        if chosen is not None:
            opp.owner_id = chosen.owner.id
            opp.department_id = chosen.user.department_id if chosen.user else chosen.pool_department_id
        s.add(opp)
        await s.flush()
        event = await uow.append_event(
            "OPPORTUNITY_CREATED", opportunity_id=opp.id,
            department_ids=(opp.department_id,),
        )
        if chosen is not None:
            await assignment.apply(uow, opp, chosen, None)
        elif owner.id != viewer.id:
            uow.notify([owner.id], "assigned", "{user} made you owner of {opp}", opportunity_id=opp.id, event=event, user=viewer.user.name, opp=title)
        await raise_ownership_conflicts(uow, [opp.id])  # 撞单
        return opp

    try:
        return await mutate(ctx, work)
    except IntegrityError:
        # A concurrent retry with the same clientMutationId won the insert: return its result.
        client_id = data.get("client_mutation_id")
        if not client_id:
            raise
        async with ctx.db.read() as s:
            earlier = await _by_client_id(s, viewer.org_id, viewer.id, client_id.strip())
        if earlier is None:
            raise
        return earlier, []


async def _by_client_id(session, org_id: int, user_id: int, client_id: str) -> m.Opportunity | None:
    return (
        await session.execute(
            select(m.Opportunity).where(
                m.Opportunity.org_id == org_id,
                m.Opportunity.created_by_id == user_id,
                m.Opportunity.client_mutation_id == client_id,
            )
        )
    ).scalar_one_or_none()


async def _pipeline(session, org_id: int, gid: str | None) -> m.Pipeline:
    stmt = select(m.Pipeline).where(m.Pipeline.org_id == org_id)
    if gid:
        stmt = stmt.where(m.Pipeline.id == decode(gid, "Pipeline", "pipelineId"))
    pipeline = (await session.execute(stmt.order_by(m.Pipeline.position, m.Pipeline.id).limit(1))).scalar_one_or_none()
    if pipeline is None:
        fail(NOT_FOUND, "No such pipeline", "pipelineId")
    return pipeline


async def _stages(session, pipeline_id: int) -> list[m.Stage]:
    """The pipeline's stages a card may be in or enter: archived ones are unknown to moves."""
    return list((await session.execute(
        select(m.Stage).where(m.Stage.pipeline_id == pipeline_id, m.Stage.archived_at.is_(None)).order_by(m.Stage.position)
    )).scalars())


def _stage_named(stages: list[m.Stage], key: str) -> m.Stage:
    stage = next((st for st in stages if st.key == key), None)
    if stage is None:
        fail(VALIDATION, "Unknown stage {key!r}; the stages are {stages}", "stageKey", key=key, stages=', '.join(st.key for st in stages))
    return stage


EDITABLE = {
    # input key -> (model attribute, API name, cleaner)
    "title": ("title", "title", lambda v: validate.text(v, "title", max_len=200, required=True)),
    "amount": ("amount", "amount", validate.amount),
    "currency": ("currency", "currency", lambda v: validate.currency(v) if v is not None else fail(VALIDATION, "currency cannot be cleared", "currency")),
    "probability": ("probability", "probability", validate.probability),
    "expected_close_date": ("expected_close_date", "expectedCloseDate", validate.close_date),
    "priority": ("priority", "priority", lambda v: v or "MEDIUM"),
    "tags": ("tags", "tags", validate.tags),
    "next_step": ("next_step", "nextStep", lambda v: validate.text(v, "nextStep", max_len=500)),
    "source": ("source", "source", lambda v: validate.text(v, "source", max_len=validate.MAX_SOURCE)),
}


async def update_opportunity(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Opportunity:
        viewer = ctx.require_writer()
        opp = await locked_opportunity(uow, data["id"], data["version"])
        refuse_hidden_writes(viewer.access, data)
        owner = await uow.session.get(m.User, opp.owner_id)
        ensure_can_edit(viewer, opp, owner)
        with validate.Checks() as check:
            clean = {key: check(cleaner, data[key]) for key, (_, _, cleaner) in EDITABLE.items() if key in data}
            new_owner = None
            if data.get("owner_id"):
                new_owner = await check.lookup(org_user(uow.session, uow.org_id, data["owner_id"], "ownerId"))
        changes = {}
        for key, new in clean.items():
            attr, api_name, _ = EDITABLE[key]
            old = getattr(opp, attr)
            if new != old:
                changes[api_name] = [jsonable(old), jsonable(new)]
        await ensure_unlocked(uow.session, opp, list(changes))
        for key, new in clean.items():
            setattr(opp, EDITABLE[key][0], new)
        if new_owner is not None and new_owner.id != opp.owner_id:
            changes["owner"] = [opp.owner_id, new_owner.id]
            opp.owner_id = new_owner.id
        if not changes:
            return opp
        opp.version += 1
        opp.updated_at = uow.now
        event = await uow.append_event(
            "OPPORTUNITY_UPDATED", opportunity_id=opp.id, changes=changes,
            department_ids=(opp.department_id, owner.department_id),
        )
        if new_owner is not None and "owner" in changes:
            uow.notify([new_owner.id], "assigned", "{user} made you owner of {opp}", opportunity_id=opp.id, event=event, user=viewer.user.name, opp=opp.title)
            await raise_ownership_conflicts(uow, [opp.id], "owner")  # 撞单: the new owner meets another's open deal
        await reopen_superseded(uow, opp, await supersede_changed(uow, opp))
        return opp

    return await mutate(ctx, work)


async def enter_stage(uow: UnitOfWork, viewer, opp: m.Opportunity, current: m.Stage, target: m.Stage, owner: m.User) -> None:
    """The move itself, once its gates passed (or an admin set them aside: archiveStage moves
    an archived stage's cards, resolvers/pipelines.py): leaving the stage's unanswered
    handoff, the lost reason, time in stage, version, the OPPORTUNITY_MOVED (or _LOST)
    event and the handoff to the target's owner."""
    changes = {"stage": [current.key, target.key], **await stage_work.leaving(uow, viewer, opp, current, owner)}
    if target.kind == "LOST":
        changes["lostReason"] = [None, opp.lost_reason]
    elif opp.lost_reason is not None:
        changes["lostReason"] = [opp.lost_reason, None]
        opp.lost_reason = None
    opp.moved_from_stage_id = current.id  # not a column: the payload's previousStage
    opp.stage_id = target.id
    opp.stage_entered_at = uow.now
    opp.version += 1
    opp.updated_at = uow.now
    await uow.append_event(
        "OPPORTUNITY_LOST" if target.kind == "LOST" else "OPPORTUNITY_MOVED",
        opportunity_id=opp.id, changes=changes,
        department_ids=(opp.department_id, owner.department_id),
    )
    await stage_work.enter(uow, opp, target, viewer.user)
    if current.kind != "OPEN" and target.kind == "OPEN":
        await raise_ownership_conflicts(uow, [opp.id], "reopened")  # 撞单: a reopened deal meets another owner's open one


async def move_opportunity(ctx: Ctx, data: dict):
    auto = {}  # the stage's automatic approval to open once the refused move has rolled back

    async def work(uow: UnitOfWork) -> m.Opportunity:
        viewer = ctx.require_writer()
        opp = await locked_opportunity(uow, data["id"], data["version"])
        refuse_hidden_writes(viewer.access, data)
        owner = await uow.session.get(m.User, opp.owner_id)
        ensure_can_move(viewer, opp, owner)
        stages = await _stages(uow.session, opp.pipeline_id)
        with validate.Checks() as check:
            target = check(_stage_named, stages, data["stage_key"])
            lost_reason = check(validate.text, data.get("lost_reason"), "lostReason", max_len=500)
        # (A card left in an archived stage by a move racing its archiving may still leave it.)
        current = next((st for st in stages if st.id == opp.stage_id), None) or await uow.session.get(m.Stage, opp.stage_id)
        if target.id == current.id:
            fail(INVALID_TRANSITION, "The card is already in {current}", "stageKey", current=current.name)
        if target.kind == "LOST":
            opp.lost_reason = lost_reason
        error, rule = await move_refusal(uow.session, opp, stages, gated_path(stages, current, target))
        if error:
            if rule:
                auto.update(opportunity_id=opp.id, rule=rule)
            raise UserErrors([error])
        await enter_stage(uow, viewer, opp, current, target, owner)
        return opp

    result = await mutate(ctx, work)
    if auto:
        await auto_request(ctx, auto["opportunity_id"], auto["rule"])
    return result


# ---------------------------------------------------------------- queries


async def current_card(ctx: Ctx, gid: str) -> m.Opportunity | None:
    """The card as the viewer may see it now (after a refused change), or None."""
    try:
        pk = decode(gid, "Opportunity", "id")
    except UserErrors:
        return None
    visible = opportunity_clause(await ensure_access(ctx))
    rows = await ctx.loaders.all(select(m.Opportunity).where(
        m.Opportunity.id == pk, m.Opportunity.org_id == ctx.require_viewer().org_id, *conditions(visible)))
    return rows[0] if rows else None


async def list_opportunities(ctx: Ctx, flt: dict | None, first: int | None, after: str | None) -> Page:
    conds = await filter_conditions(ctx, flt)
    size = page_size(first, ctx.max_page_size)
    rows = await ctx.loaders.all(keyset(select(m.Opportunity).where(*conds), m.Opportunity.id, size, after))

    async def count() -> int:
        return (await ctx.loaders.rows(select(func.count()).select_from(m.Opportunity).where(*conds)))[0][0]

    return to_page(rows, size, after, count=count)
