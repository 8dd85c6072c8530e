"""The board: a pipeline's columns with their totals and cards, the filters they
share with lists and exports, and the cards' task badges."""
import asyncio
import json
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Integer, Select, and_, bindparam, case, exists, false, func, or_, select, true
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.orm import aliased

from db import models as m
from db.loaders import any_of
from resolvers.context import Ctx
from resolvers.ids import parse_global
from resolvers.money import Totals, rate_subqueries, today
from resolvers.money import totals as money_totals
from resolvers.paging import BadInput, Page, decode_cursor, page_size, to_page
from resolvers.stuck import stuck_condition
from resolvers.tasks import ACTIVE as ACTIVE_TASK
from resolvers.visibility import ensure_access, opportunity_clause


async def org_stages(ctx: Ctx) -> list[m.Stage]:
    """Every stage of the organization, loaded once per request (the board applies
    its filter twice: for the column totals and for the cards)."""

    async def batch(org_ids):
        stages = await ctx.loaders.all(
            select(m.Stage).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id).where(m.Pipeline.org_id.in_(org_ids))
        )
        return [stages for _ in org_ids]  # one organization per request

    return await ctx.loaders.custom("org_stages", batch).load(ctx.require_viewer().org_id)


MAX_FILTER_IDS = 100


async def filter_conditions(ctx: Ctx, flt: dict | None) -> list:
    """SQL conditions for an OpportunityFilter (as a dict of its set fields), always
    within the cards the viewer may see."""
    org_id = ctx.require_viewer().org_id
    access = await ensure_access(ctx)
    conds = [m.Opportunity.org_id == org_id]
    visible = opportunity_clause(access)
    if visible is not None:
        conds.append(visible)
    if not flt:
        return conds
    if flt.get("ids") is not None:
        if len(flt["ids"]) > MAX_FILTER_IDS:
            raise BadInput(f"A filter names at most {MAX_FILTER_IDS} ids")
        keys = [p[1] for p in map(parse_global, flt["ids"]) if p and p[0] == "Opportunity"]
        conds.append(m.Opportunity.id.in_(keys) if keys else false())
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
    if flt.get("sources"):
        # Case-insensitive; lower() on both sides (SQLite's folds ASCII only: 展会 has no case).
        sources = sorted({v.strip().lower() for v in flt["sources"] if v and v.strip()})
        conds.append(func.lower(m.Opportunity.source).in_(sources) if sources else false())
    if flt.get("search"):
        term = flt["search"].strip()
        by_title = m.Opportunity.title.icontains(term, autoescape=True)
        if "account" in access.hidden:
            conds.append(by_title)  # a withheld account must not be found by its name either
        else:
            conds.append(or_(
                by_title,
                m.Opportunity.account_id.in_(
                    select(m.Account.id).where(m.Account.org_id == org_id, m.Account.name.icontains(term, autoescape=True))
                ),
            ))
    if flt.get("stale_only"):
        now = ctx.clock()
        stale = [
            and_(m.Opportunity.stage_id == st.id, m.Opportunity.last_activity_at < now - timedelta(hours=st.stale_after_hours))
            for st in await org_stages(ctx)
            if st.stale_after_hours
        ]
        conds.append(or_(*stale) if stale else false())
    if flt.get("silent_only"):
        # Customer silence (resolvers/alerts.customer_silent): from the last follow-up, else from entering the stage.
        now, since = ctx.clock(), func.coalesce(m.Opportunity.last_contact_at, m.Opportunity.stage_entered_at)
        silent = [
            and_(m.Opportunity.stage_id == st.id, since < now - timedelta(hours=st.silence_after_hours))
            for st in await org_stages(ctx)
            if st.silence_after_hours and st.kind == "OPEN"
        ]
        conds.append(or_(*silent) if silent else false())
    if flt.get("stuck_for_hours") is not None:
        # The waits Opportunity.stuckReason tells (resolvers/stuck.py), begun over N hours ago.
        if flt["stuck_for_hours"] < 0:
            raise BadInput("stuckForHours must be 0 or more")
        conds.append(stuck_condition(ctx, flt["stuck_for_hours"], await org_stages(ctx)))
    return conds


def json_has_any(ctx: Ctx, column, values: list[str]):
    """A JSON array column holds any of `values` (JSONB `?|` on PostgreSQL)."""
    if ctx.db.is_sqlite:
        each = func.json_each(column).table_valued("value")
        return exists(select(each.c.value).where(each.c.value.in_(values)))
    return column.op("?|")(array(values))


def tags_match_any(ctx: Ctx, tags: list[str]):
    return json_has_any(ctx, m.Opportunity.tags, tags)


def every_card(ctx: Ctx, flt: dict | None) -> bool:
    """An unfiltered board of a viewer who sees every card: its columns are the same for
    all such viewers (shared statements, the stages' tallies)."""
    return not flt and ctx.access.every_card


async def board(ctx: Ctx, pipeline_gid: str | None, flt: dict | None):
    """The pipeline with its stages and the organization's base currency (one
    statement) and, per stage, its card count and totals per currency with each
    currency's rate into the base (one grouped statement)."""
    viewer = ctx.require_viewer()
    stmt = (
        select(m.Stage, m.Pipeline, m.Organization.base_currency)
        .join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id)
        .join(m.Organization, m.Organization.id == m.Pipeline.org_id)
        .where(m.Pipeline.org_id == viewer.org_id, m.Stage.archived_at.is_(None))  # archived stages left the board
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
    pipeline, base = rows[0][1], rows[0][2]
    stages = [stage for stage, p, _ in rows if p.id == pipeline.id]
    ctx.loaders.pipeline.prime(pipeline.id, pipeline)
    ctx.loaders.stages_by_pipeline.prime(pipeline.id, stages)
    ctx.loaders.prime("stage", stages)
    conds = await filter_conditions(ctx, flt)
    counts, sums, rates = await stage_totals(ctx, base, [stage.id for stage in stages],
                                             None if every_card(ctx, flt) else conds)  # None: the stages' tallies
    filter_key = json.dumps(flt or {}, sort_keys=True, default=str)
    columns = [
        BoardColumnData(stage, *counts.get(stage.id, (0, 0)), money_totals(base, sums.get(stage.id, {}), rates), filter_key=filter_key)
        for stage in stages
    ]
    return pipeline, columns


async def stage_totals(ctx: Ctx, base: str, stage_ids: list[int], conds: list | None) -> tuple[dict, dict, dict]:
    """Per stage of the cards matching `conds` (None: every card of the stages, added up from
    their tallies, db/tallies.py, instead of read), in one grouped statement: stage id ->
    (cards, amounts the viewer may not see), stage id -> currency -> the visible amounts'
    sum, and currency -> (rate into `base`, its day)."""
    if conds is None:
        t = m.StageTally
        grouped = (select(t.stage_id, t.currency, func.sum(t.cards), func.sum(t.amount), func.sum(t.with_amount))
                   .where(t.stage_id.in_(stage_ids)).group_by(t.stage_id, t.currency).having(func.sum(t.cards) > 0))
        currency_column = t.currency
    else:
        o = m.Opportunity
        grouped = (select(o.stage_id, o.currency, func.count(), func.coalesce(func.sum(o.amount), 0), func.count(o.amount))
                   .where(o.stage_id.in_(stage_ids), *conds).group_by(o.stage_id, o.currency))
        currency_column = o.currency
    amounts_hidden = "amount" in ctx.access.hidden
    counts, sums, rates = {}, {}, {}
    for stage_id, currency, count, amount, with_amount, rate_now, rate_on in await ctx.loaders.rows(
        grouped.add_columns(*rate_subqueries(ctx.require_viewer().org_id, base, currency_column, today(ctx)))
    ):
        seen, hidden_amounts = counts.get(stage_id, (0, 0))
        # Only amounts the viewer may see are summed; the rest are counted as hidden.
        counts[stage_id] = (seen + count, hidden_amounts + (with_amount if amounts_hidden else 0))
        if with_amount and not amounts_hidden:
            sums.setdefault(stage_id, {})[currency] = Decimal(amount)
        if rate_now is not None:
            rates[currency] = (Decimal(rate_now), rate_on)
    return counts, sums, rates


class BoardColumnData:
    def __init__(self, stage: m.Stage, count: int, hidden_amounts: int, totals: Totals, filter_key: str):
        self.stage = stage
        self.total_count = count
        # The base-currency total (amounts without a rate are left out: base_total says which).
        self.total_amount = totals.base.converted
        self.totals = totals.per_currency
        self.base_total = totals.base
        self.hidden_amount_count = hidden_amounts
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
            # The shared unfiltered statement only serves viewers who see every card.
            conds = None if every_card(ctx, flt) else await filter_conditions(ctx, flt)
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
    page = [m.Opportunity.id < bindparam("after_id")] if paged else []
    if sqlite:
        # Number only the ids (a narrow subquery), then join the rows each card shows.
        in_stages = any_of(m.Opportunity.stage_id, sqlite, name="stage_ids")
        numbered = select(
            m.Opportunity.id, func.row_number().over(partition_by=m.Opportunity.stage_id, order_by=m.Opportunity.id.desc()).label("rn")
        ).where(in_stages, *conds, *page).subquery()
        in_page = [numbered.c.rn <= bindparam("limit")]
    else:
        # Each stage's newest ids straight from the (org_id, stage_id, id) index: numbering
        # every card of a stage costs as much as the stage is large (100,000 cards: 0.65 s).
        stage = func.unnest(bindparam("stage_ids", type_=ARRAY(Integer))).table_valued("id").render_derived(name="stage")
        newest = (select(m.Opportunity.id).where(m.Opportunity.stage_id == stage.c.id, *conds, *page)
                  .order_by(m.Opportunity.id.desc()).limit(bindparam("limit")).lateral("newest"))
        numbered = select(newest.c.id).select_from(stage).join(newest, true()).subquery()
        in_page = []
    active = (m.Task.opportunity_id == m.Opportunity.id, m.Task.status.in_(ACTIVE_TASK))
    open_tasks = select(func.count()).where(*active).correlate(m.Opportunity).scalar_subquery()
    overdue_tasks = select(func.count()).where(*active, m.Task.due_at < bindparam("now")).correlate(m.Opportunity).scalar_subquery()
    oldest_overdue = select(func.min(m.Task.due_at)).where(*active, m.Task.due_at < bindparam("now")).correlate(m.Opportunity).scalar_subquery()
    return (
        select(m.Opportunity, m.Account, m.User, _HOLDER, _OWNERS_DEPARTMENT, open_tasks, overdue_tasks, oldest_overdue)
        .join(numbered, numbered.c.id == m.Opportunity.id)
        .join(m.Account, m.Account.id == m.Opportunity.account_id)
        .join(m.User, m.User.id == m.Opportunity.owner_id)
        .join(_HOLDER, _HOLDER.id == m.Opportunity.department_id)
        .join(_OWNERS_DEPARTMENT, _OWNERS_DEPARTMENT.id == m.User.department_id)
        .where(*in_page)
        .order_by(m.Opportunity.stage_id, m.Opportunity.id.desc())
    )


async def _card_pages(
    ctx: Ctx, stage_ids: list[int], conds: list | None, first: int, after: str | None
) -> dict[int, Page]:
    """The first page of cards of each stage; `conds` None: no filter."""
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
    for opp, account, owner, holding, owners_department, open_count, overdue_count, oldest_overdue in rows:
        grouped[opp.stage_id].append(opp)
        stats[opp.id] = (open_count, overdue_count, oldest_overdue)
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


def open_task_stats(ctx: Ctx):
    """(open tasks, overdue tasks, the oldest overdue due time) per opportunity, for the
    board's badges and the stuck reason."""

    async def batch(ids):
        now = ctx.clock()
        overdue = case((m.Task.due_at < now, 1), else_=0)
        rows = await ctx.loaders.rows(
            select(m.Task.opportunity_id, func.count(), func.sum(overdue), func.min(case((m.Task.due_at < now, m.Task.due_at))))
            .where(m.Task.opportunity_id.in_(ids), m.Task.status.in_(ACTIVE_TASK))
            .group_by(m.Task.opportunity_id)
        )
        stats = {opp_id: (count, int(late or 0), oldest) for opp_id, count, late, oldest in rows}
        return [stats.get(i, (0, 0, None)) for i in ids]

    return ctx.loaders.custom("open_task_stats", batch)
