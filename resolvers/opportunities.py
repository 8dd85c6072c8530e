"""Opportunities: create, edit, move through stage gates; list, filter and the board."""
import asyncio
import json
import re
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Select, and_, bindparam, exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from db import models as m
from db.loaders import any_of
from resolvers import validate
from resolvers.access import ensure_can_edit, ensure_can_move
from resolvers.context import Ctx
from resolvers.errors import CONFLICT, INVALID_TRANSITION, NOT_FOUND, STAGE_GATE, VALIDATION, UserError, UserErrors, fail
from resolvers.ids import decode, parse_global
from resolvers.paging import BadInput, Page, decode_cursor, keyset, page_size, to_page
from resolvers.uow import UnitOfWork, mutate

PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")

# Gate field names (as in the API) -> model attribute and words for messages.
GATE_FIELDS = {
    "amount": ("amount", "amount"),
    "expectedCloseDate": ("expected_close_date", "expected close date"),
    "probability": ("probability", "probability"),
    "nextStep": ("next_step", "next step"),
    "lostReason": ("lost_reason", "lost reason"),
}


def normalize_account_name(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


async def account_for(session, org_id: int, name: str) -> m.Account:
    """Customers are deduplicated by normalized name within an organization."""
    key = normalize_account_name(name)
    account = (
        await session.execute(select(m.Account).where(m.Account.org_id == org_id, m.Account.normalized_name == key))
    ).scalar_one_or_none()
    if account is None:
        account = m.Account(org_id=org_id, name=name, normalized_name=key)
        session.add(account)
        await session.flush()
    return account


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


async def locked_opportunity(uow: UnitOfWork, gid: str, version: int | None = None) -> m.Opportunity:
    """Load for update within the organization; NOT_FOUND or CONFLICT as user errors."""
    pk = decode(gid, "Opportunity", "id")
    opp = (
        await uow.session.execute(
            select(m.Opportunity)
            .where(m.Opportunity.id == pk, m.Opportunity.org_id == uow.org_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if opp is None:
        fail(NOT_FOUND, f"No opportunity with id {gid!r}", "id")
    if version is not None and opp.version != version:
        fail(CONFLICT, f"Someone else changed this opportunity (now version {opp.version}); reload and retry", "version")
    return opp


async def org_user(session, org_id: int, gid: str, field: str) -> m.User:
    pk = decode(gid, "User", field)
    user = await session.get(m.User, pk)
    if user is None or user.org_id != org_id:
        fail(NOT_FOUND, f"No user with id {gid!r}", field)
    return user


async def gate_problems(session, opp: m.Opportunity, stage: m.Stage) -> tuple[list[str], list[str]]:
    """(missing field names, missing approval kinds) for `opp` to enter `stage`."""
    missing_fields = [f for f in stage.required_fields or [] if getattr(opp, GATE_FIELDS.get(f, (f,))[0], None) in (None, "")]
    missing_approvals = []
    for kind in stage.required_approvals or []:
        approved = await session.scalar(
            select(
                exists().where(
                    m.Approval.opportunity_id == opp.id, m.Approval.kind == kind, m.Approval.status == "APPROVED"
                )
            )
        )
        if not approved:
            missing_approvals.append(kind)
    return missing_fields, missing_approvals


def gate_error(stage: m.Stage, missing_fields: list[str], missing_approvals: list[str]) -> UserError:
    parts = [GATE_FIELDS.get(f, (f, f))[1] for f in missing_fields]
    parts += [f"an approved {kind} approval" for kind in missing_approvals]
    return UserError(
        STAGE_GATE,
        f"{stage.name} needs {', '.join(parts)} first",
        missing_fields + [f"approval:{kind}" for kind in missing_approvals],
    )


# ---------------------------------------------------------------- mutations


async def create_opportunity(ctx: Ctx, data: dict):
    viewer = ctx.require_viewer()

    async def work(uow: UnitOfWork) -> m.Opportunity:
        ctx.require_writer()
        s = uow.session
        client_id = validate.text(data.get("client_mutation_id"), "clientMutationId", max_len=100)
        if client_id:
            earlier = await _by_client_id(s, uow.org_id, viewer.id, client_id)
            if earlier is not None:
                return earlier
        title = validate.text(data.get("title"), "title", max_len=200, required=True)
        account_name = validate.text(data.get("account_name"), "accountName", max_len=200, required=True)
        owner = await org_user(s, uow.org_id, data["owner_id"], "ownerId") if data.get("owner_id") else viewer.user
        pipeline = await _pipeline(s, uow.org_id, data.get("pipeline_id"))
        stages = await _stages(s, pipeline.id)
        stage_key = data.get("stage_key")
        stage = stages[0] if not stage_key else next((st for st in stages if st.key == stage_key), None)
        if stage is None:
            fail(VALIDATION, f"Unknown stage {stage_key!r}; the stages are {', '.join(st.key for st in stages)}", "stageKey")
        priority = data.get("priority") or "MEDIUM"
        now = uow.now
        opp = m.Opportunity(
            org_id=uow.org_id, pipeline_id=pipeline.id, stage_id=stage.id,
            account_id=(await account_for(s, uow.org_id, account_name)).id,
            owner_id=owner.id, department_id=owner.department_id, created_by_id=viewer.id,
            title=title, amount=validate.amount(data.get("amount")), currency=validate.currency(data.get("currency")),
            probability=validate.probability(data.get("probability")),
            expected_close_date=validate.close_date(data.get("expected_close_date")),
            priority=priority, tags=validate.tags(data.get("tags")),
            next_step=validate.text(data.get("next_step"), "nextStep", max_len=500),
            client_mutation_id=client_id, stage_entered_at=now, last_activity_at=now, created_at=now, updated_at=now,
            version=1,
        )
        missing_fields, missing_approvals = await gate_problems(s, opp, stage)
        if missing_fields or missing_approvals:
            raise UserErrors([gate_error(stage, missing_fields, missing_approvals)])
        s.add(opp)
        await s.flush()
        event = await uow.append_event(
            "OPPORTUNITY_CREATED", opportunity_id=opp.id,
            department_keys=await department_keys(s, opp.department_id),
        )
        if owner.id != viewer.id:
            uow.notify([owner.id], "assigned", f"{viewer.user.name} made you owner of {title}", opportunity_id=opp.id, event=event)
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
    return list(
        (await session.execute(select(m.Stage).where(m.Stage.pipeline_id == pipeline_id).order_by(m.Stage.position))).scalars()
    )


EDITABLE = {
    # input key -> (model attribute, API name, cleaner)
    "title": ("title", "title", lambda v: validate.text(v, "title", max_len=200, required=True)),
    "amount": ("amount", "amount", validate.amount),
    "probability": ("probability", "probability", validate.probability),
    "expected_close_date": ("expected_close_date", "expectedCloseDate", validate.close_date),
    "priority": ("priority", "priority", lambda v: v or "MEDIUM"),
    "tags": ("tags", "tags", validate.tags),
    "next_step": ("next_step", "nextStep", lambda v: validate.text(v, "nextStep", max_len=500)),
}


async def update_opportunity(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> m.Opportunity:
        viewer = ctx.require_writer()
        opp = await locked_opportunity(uow, data["id"], data["version"])
        owner = await uow.session.get(m.User, opp.owner_id)
        ensure_can_edit(viewer, opp, owner)
        changes = {}
        for key, (attr, api_name, clean) in EDITABLE.items():
            if key in data:
                new, old = clean(data[key]), getattr(opp, attr)
                if new != old:
                    changes[api_name] = [jsonable(old), jsonable(new)]
                    setattr(opp, attr, new)
        new_owner = None
        if data.get("owner_id"):
            new_owner = await org_user(uow.session, uow.org_id, data["owner_id"], "ownerId")
            if new_owner.id != opp.owner_id:
                changes["owner"] = [opp.owner_id, new_owner.id]
                opp.owner_id = new_owner.id
        if not changes:
            return opp
        opp.version += 1
        opp.updated_at = uow.now
        event = await uow.append_event(
            "OPPORTUNITY_UPDATED", opportunity_id=opp.id, changes=changes,
            department_keys=await department_keys(uow.session, opp.department_id, owner.department_id),
        )
        if new_owner is not None and "owner" in changes:
            uow.notify([new_owner.id], "assigned", f"{viewer.user.name} made you owner of {opp.title}", opportunity_id=opp.id, event=event)
        return opp

    return await mutate(ctx, work)


async def move_opportunity(ctx: Ctx, data: dict):
    auto = {}  # the stage's automatic approval to open once the refused move has rolled back

    async def work(uow: UnitOfWork) -> m.Opportunity:
        viewer = ctx.require_writer()
        opp = await locked_opportunity(uow, data["id"], data["version"])
        owner = await uow.session.get(m.User, opp.owner_id)
        ensure_can_move(viewer, opp, owner)
        stages = await _stages(uow.session, opp.pipeline_id)
        target = next((st for st in stages if st.key == data["stage_key"]), None)
        if target is None:
            fail(VALIDATION, f"Unknown stage {data['stage_key']!r}; the stages are {', '.join(st.key for st in stages)}", "stageKey")
        current = next(st for st in stages if st.id == opp.stage_id)
        if target.id == current.id:
            fail(INVALID_TRANSITION, f"The card is already in {current.name}", "stageKey")
        lost_reason = validate.text(data.get("lost_reason"), "lostReason", max_len=500)
        if target.kind == "LOST":
            opp.lost_reason = lost_reason
        missing_fields, missing_approvals = await gate_problems(uow.session, opp, target)
        if missing_fields or missing_approvals:
            error = gate_error(target, missing_fields, missing_approvals)
            rule = target.auto_approval
            if rule and rule.get("kind") in missing_approvals:
                from resolvers.approvals import has_approval

                if await has_approval(uow.session, opp.id, rule["kind"], ("PENDING",)):
                    error = UserError(error.code, f"{error.message} (a {rule['kind']} approval is pending)", error.field)
                else:
                    auto.update(opportunity_id=opp.id, rule=rule)
                    error = UserError(error.code, f"{error.message}; a {rule['kind']} approval has been requested", error.field)
            raise UserErrors([error])
        changes = {"stage": [current.key, target.key]}
        if target.kind == "LOST":
            changes["lostReason"] = [None, opp.lost_reason]
        elif opp.lost_reason is not None:
            changes["lostReason"] = [opp.lost_reason, None]
            opp.lost_reason = None
        opp.stage_id = target.id
        opp.stage_entered_at = uow.now
        opp.version += 1
        opp.updated_at = uow.now
        await uow.append_event(
            "OPPORTUNITY_LOST" if target.kind == "LOST" else "OPPORTUNITY_MOVED",
            opportunity_id=opp.id, changes=changes,
            department_keys=await department_keys(uow.session, opp.department_id, owner.department_id),
        )
        return opp

    result = await mutate(ctx, work)
    if auto:
        from resolvers.approvals import auto_request

        await auto_request(ctx, auto["opportunity_id"], auto["rule"])
    return result


# ---------------------------------------------------------------- queries


async def org_stages(ctx: Ctx) -> list[m.Stage]:
    """Every stage of the organization, loaded once per request (the board applies
    its filter twice: for the column totals and for the cards)."""

    async def batch(org_ids):
        stages = await ctx.loaders.all(
            select(m.Stage).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id).where(m.Pipeline.org_id.in_(org_ids))
        )
        return [stages for _ in org_ids]  # one organization per request

    return await ctx.loaders.custom("org_stages", batch).load(ctx.require_viewer().org_id)


async def filter_conditions(ctx: Ctx, flt: dict | None) -> list:
    """SQL conditions for an OpportunityFilter (as a dict of its set fields)."""
    org_id = ctx.require_viewer().org_id
    conds = [m.Opportunity.org_id == org_id]
    if not flt:
        return conds
    if flt.get("owner_ids") is not None:
        owners = [p[1] for p in map(parse_global, flt["owner_ids"]) if p and p[0] == "User"]
        conds.append(m.Opportunity.owner_id.in_(owners) if owners else false())
    if flt.get("department_keys") is not None:
        conds.append(
            m.Opportunity.department_id.in_(
                select(m.Department.id).where(m.Department.org_id == org_id, m.Department.key.in_(flt["department_keys"]))
            )
        )
    if flt.get("stage_keys") is not None:
        stage_ids = [st.id for st in await org_stages(ctx) if st.key in flt["stage_keys"]]
        conds.append(m.Opportunity.stage_id.in_(stage_ids) if stage_ids else false())
    if flt.get("priority") is not None:
        conds.append(m.Opportunity.priority.in_(flt["priority"]))
    if flt.get("tags"):
        conds.append(tags_match_any(ctx, [t.lower() for t in flt["tags"]]))
    if flt.get("search"):
        term = flt["search"].strip()
        conds.append(
            or_(
                m.Opportunity.title.icontains(term, autoescape=True),
                m.Opportunity.account_id.in_(
                    select(m.Account.id).where(m.Account.org_id == org_id, m.Account.name.icontains(term, autoescape=True))
                ),
            )
        )
    if flt.get("stale_only"):
        now = ctx.clock()
        stale = [
            and_(m.Opportunity.stage_id == st.id, m.Opportunity.last_activity_at < now - timedelta(hours=st.stale_after_hours))
            for st in await org_stages(ctx)
            if st.stale_after_hours
        ]
        conds.append(or_(*stale) if stale else false())
    return conds


def tags_match_any(ctx: Ctx, tags: list[str]):
    if ctx.db.is_sqlite:
        each = func.json_each(m.Opportunity.tags).table_valued("value")
        return exists(select(each.c.value).where(each.c.value.in_(tags)))
    from sqlalchemy.dialects.postgresql import array

    return m.Opportunity.tags.op("?|")(array(tags))


async def list_opportunities(ctx: Ctx, flt: dict | None, first: int | None, after: str | None) -> Page:
    conds = await filter_conditions(ctx, flt)
    size = page_size(first, ctx.max_page_size)
    rows = await ctx.loaders.all(keyset(select(m.Opportunity).where(*conds), m.Opportunity.id, size, after))

    async def count() -> int:
        return (await ctx.loaders.rows(select(func.count()).select_from(m.Opportunity).where(*conds)))[0][0]

    return to_page(rows, size, after, count=count)


async def board(ctx: Ctx, pipeline_gid: str | None, flt: dict | None):
    """The pipeline with its stages (one statement) and, per stage, its card
    count and total amount (one grouped statement)."""
    viewer = ctx.require_viewer()
    stmt = (
        select(m.Stage, m.Pipeline)
        .join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id)
        .where(m.Pipeline.org_id == viewer.org_id)
        .order_by(m.Pipeline.position, m.Pipeline.id, m.Stage.position)
    )
    if pipeline_gid:
        parsed = parse_global(pipeline_gid)
        if not parsed or parsed[0] != "Pipeline":
            raise BadInput(f"Invalid pipeline id {pipeline_gid!r}")
        stmt = stmt.where(m.Pipeline.id == parsed[1])
    rows = await ctx.loaders.rows(stmt)
    if not rows:
        raise BadInput("No such pipeline")
    pipeline = rows[0][1]
    stages = [stage for stage, p in rows if p.id == pipeline.id]
    ctx.loaders.pipeline.prime(pipeline.id, pipeline)
    ctx.loaders.stages_by_pipeline.prime(pipeline.id, stages)
    ctx.loaders.prime("stage", stages)
    conds = await filter_conditions(ctx, flt)
    totals = {
        stage_id: (count, amount)
        for stage_id, count, amount in await ctx.loaders.rows(
            select(m.Opportunity.stage_id, func.count(), func.coalesce(func.sum(m.Opportunity.amount), 0))
            .where(m.Opportunity.pipeline_id == pipeline.id, *conds)
            .group_by(m.Opportunity.stage_id)
        )
    }
    filter_key = json.dumps(flt or {}, sort_keys=True, default=str)
    columns = [BoardColumnData(stage, *totals.get(stage.id, (0, Decimal(0))), filter_key=filter_key) for stage in stages]
    return pipeline, columns


class BoardColumnData:
    def __init__(self, stage: m.Stage, count: int, amount, filter_key: str):
        self.stage = stage
        self.total_count = count
        self.total_amount = Decimal(amount).quantize(Decimal("0.01"))
        self.filter_key = filter_key


async def column_cards(ctx: Ctx, column: BoardColumnData, first: int | None, after: str | None) -> Page:
    """Cards of one column. All columns of a board load in one statement that also
    brings each card's account, owner, departments and open/overdue task counts;
    the handoff and approval badges follow in one statement each. Everything is primed into
    the loaders, so the cards' fields then resolve without further awaits."""
    size = page_size(first, ctx.max_page_size)

    async def batch(keys):
        results = {}
        for filter_key, page_first, page_after in {k[1:] for k in keys}:
            flt = json.loads(filter_key)
            conds = await filter_conditions(ctx, flt) if flt else None
            stage_ids = [k[0] for k in keys if k[1:] == (filter_key, page_first, page_after)]
            pages = await _card_pages(ctx, stage_ids, conds, page_first, page_after)
            for stage_id, page in pages.items():
                results[(stage_id, filter_key, page_first, page_after)] = page
        return [results[k] for k in keys]

    page = await ctx.loaders.custom("column_cards", batch).load((column.stage.id, column.filter_key, size, after))
    page.count = column.total_count
    return page


_HOLDER, _OWNERS_DEPARTMENT = aliased(m.Department), aliased(m.Department)


async def _prefetch(loader, keys: list) -> None:
    """Load `keys` with the loader's batch function and prime its cache with them."""
    loader.prime_many(dict(zip(keys, await loader.load_fn(keys), strict=True)))


# The unfiltered cards statement, built once per (database kind, paged): building and
# keying a statement this size costs about a millisecond per board.
_UNFILTERED_CARDS: dict[tuple[bool, bool], Select] = {}


def _cards_statement(sqlite: bool, conds: list, paged: bool) -> Select:
    """Every column's cards (numbered per stage, newest first) with account, owner,
    both departments and open/overdue task counts. Parameters: stage_ids, limit,
    now and, when paged, after_id."""
    from resolvers.tasks import ACTIVE as ACTIVE_TASK  # here: resolvers.tasks imports this module

    in_stages = any_of(m.Opportunity.stage_id, sqlite, name="stage_ids")
    # Number only the ids (a narrow subquery), then join the rows each card shows.
    numbered = select(
        m.Opportunity.id, func.row_number().over(partition_by=m.Opportunity.stage_id, order_by=m.Opportunity.id.desc()).label("rn")
    ).where(in_stages, *conds)
    if paged:
        numbered = numbered.where(m.Opportunity.id < bindparam("after_id"))
    numbered = numbered.subquery()
    active = (m.Task.opportunity_id == m.Opportunity.id, m.Task.status.in_(ACTIVE_TASK))
    open_tasks = select(func.count()).where(*active).correlate(m.Opportunity).scalar_subquery()
    overdue_tasks = select(func.count()).where(*active, m.Task.due_at < bindparam("now")).correlate(m.Opportunity).scalar_subquery()
    return (
        select(m.Opportunity, m.Account, m.User, _HOLDER, _OWNERS_DEPARTMENT, open_tasks, overdue_tasks)
        .join(numbered, numbered.c.id == m.Opportunity.id)
        .join(m.Account, m.Account.id == m.Opportunity.account_id)
        .join(m.User, m.User.id == m.Opportunity.owner_id)
        .join(_HOLDER, _HOLDER.id == m.Opportunity.department_id)
        .join(_OWNERS_DEPARTMENT, _OWNERS_DEPARTMENT.id == m.User.department_id)
        .where(numbered.c.rn <= bindparam("limit"))
        .order_by(m.Opportunity.stage_id, m.Opportunity.id.desc())
    )


async def _card_pages(
    ctx: Ctx, stage_ids: list[int], conds: list | None, first: int, after: str | None
) -> dict[int, Page]:
    """The first page of cards of each stage; `conds` None: no filter."""
    from resolvers.tasks import open_task_stats  # here: resolvers.tasks imports this module

    after_id = decode_cursor(after)
    params = {"stage_ids": stage_ids, "limit": first + 1, "now": ctx.clock()}
    if after_id is not None:
        params["after_id"] = after_id
    sqlite, paged = ctx.db.is_sqlite, after_id is not None
    if conds is None:
        stmt = _UNFILTERED_CARDS.get((sqlite, paged))
        if stmt is None:
            in_org = [m.Opportunity.org_id == bindparam("org_id")]
            stmt = _UNFILTERED_CARDS[(sqlite, paged)] = _cards_statement(sqlite, in_org, paged)
        params["org_id"] = ctx.require_viewer().org_id
    else:
        stmt = _cards_statement(sqlite, conds, paged)
    rows = await ctx.loaders.rows(stmt, params)
    loaders = ctx.loaders
    grouped: dict[int, list] = {stage_id: [] for stage_id in stage_ids}
    stats, accounts, owners, departments = {}, {}, {}, {}
    for opp, account, owner, holding, owners_department, open_count, overdue_count in rows:
        grouped[opp.stage_id].append(opp)
        stats[opp.id] = (open_count, overdue_count)
        accounts[account.id] = account
        owners[owner.id] = owner
        departments[holding.id] = holding
        departments[owners_department.id] = owners_department
    open_task_stats(ctx).prime_many(stats)
    loaders.account.prime_many(accounts)
    loaders.user.prime_many(owners)
    loaders.department.prime_many(departments)
    shown = [opp.id for items in grouped.values() for opp in items[:first]]
    if shown:
        # The badge loads run together, straight through the loaders' batch functions
        # (no future per card), and their results are primed into the loaders' caches.
        await asyncio.gather(
            _prefetch(loaders.handoffs_by_opportunity, shown),
            _prefetch(loaders.approvals_by_opportunity, shown),
        )
    return {stage_id: to_page(items, first, after) for stage_id, items in grouped.items()}
