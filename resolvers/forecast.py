"""The weighted forecast: each visible deal's amount x probability/100, in the base
currency, by expected close month, forecast category and owner, department or the
whole organization, now and as it stood seven days ago (the event log rolled back).

A deal's category is its owner's call (setForecastCategory: PIPELINE, BEST_CASE,
COMMIT; PIPELINE unless set) and CLOSED once it is in a won stage (weighted at 100%).
Lost deals drop out. Both figures convert with today's rates, so a move is the deals'
doing, not the rates'."""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from db import models as m
from resolvers.access import ensure_can_move
from resolvers.context import Ctx
from resolvers.errors import VALIDATION, fail
from resolvers.money import CENT, base_currency, rates_for
from resolvers.money import totals as money_totals
from resolvers.paging import BadInput
from resolvers.rows import locked_opportunity
from resolvers.uow import UnitOfWork, mutate
from resolvers.visibility import conditions, ensure_access, opportunity_clause

CATEGORIES = ("PIPELINE", "BEST_CASE", "COMMIT", "CLOSED")
SETTABLE = ("PIPELINE", "BEST_CASE", "COMMIT")  # CLOSED follows from a won stage
GROUPINGS = ("OWNER", "DEPARTMENT", "ORGANIZATION")
WEEK = timedelta(days=7)
# Fields the forecast reads, as events name them in `changes`.
TRACKED = ("amount", "currency", "probability", "expectedCloseDate", "stage", "forecastCategory", "owner")
# Fields an access rule may withhold that the forecast needs: a deal missing any is counted, not summed.
NEEDED = ("amount", "probability", "expectedCloseDate")


def category_of(opp: m.Opportunity, stage: m.Stage) -> str:
    return "CLOSED" if stage.kind == "WON" else opp.forecast_category or "PIPELINE"


async def set_forecast_category(ctx: Ctx, data: dict):
    """The owner (or the owner's manager, an admin: the moveOpportunity rule) calls the deal."""

    async def work(uow: UnitOfWork) -> m.Opportunity:
        viewer = ctx.require_writer()
        opp = await locked_opportunity(uow, data["id"], data["version"])
        owner = await uow.session.get(m.User, opp.owner_id)
        ensure_can_move(viewer, opp, owner)
        category = data.get("category")
        if category not in SETTABLE:
            fail(VALIDATION, "A forecast category is PIPELINE, BEST_CASE or COMMIT; CLOSED follows from winning the deal", "category")
        old = opp.forecast_category or "PIPELINE"
        if old == category:
            return opp
        opp.forecast_category = category
        opp.version += 1
        opp.updated_at = uow.now
        await uow.append_event(
            "OPPORTUNITY_UPDATED", opportunity_id=opp.id, changes={"forecastCategory": [old, category]},
            department_ids=(opp.department_id, owner.department_id),
        )
        return opp

    return await mutate(ctx, work)


@dataclass
class DealState:
    """What the forecast reads of a deal, at some moment."""

    owner_id: int
    amount: Decimal | None
    currency: str
    probability: int | None
    close: date | None
    stage_key: str
    category: str | None


@dataclass
class ForecastRow:
    owner_id: int | None
    department_id: int | None
    month: str
    category: str
    count: int = 0
    count_week_ago: int = 0
    sums: dict = field(default_factory=dict)  # currency -> weighted amount
    sums_week_ago: dict = field(default_factory=dict)
    plain: dict = field(default_factory=dict)  # currency -> unweighted amount
    weighted_amount: Decimal = Decimal(0)
    weighted_amount_week_ago: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    missing_rates: list = field(default_factory=list)


@dataclass
class ForecastData:
    base_currency: str
    rows: list[ForecastRow]
    weighted_amount: Decimal
    weighted_amount_week_ago: Decimal
    unscheduled_count: int
    hidden_amount_count: int
    missing_rates: list[str]


def _decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _date(value) -> date | None:
    return None if value is None else date.fromisoformat(str(value)[:10])


def roll_back(state: DealState, events: list[m.Event]) -> DealState:
    """`state` before `events` (newest first): each tracked change's old value restored."""
    for event in events:
        for name, pair in (event.changes or {}).items():
            if name not in TRACKED or not isinstance(pair, list) or len(pair) != 2:
                continue
            old = pair[0]
            if name == "amount":
                state.amount = _decimal(old)
            elif name == "currency" and old:
                state.currency = old
            elif name == "probability":
                state.probability = old
            elif name == "expectedCloseDate":
                state.close = _date(old)
            elif name == "stage" and old:
                state.stage_key = old
            elif name == "forecastCategory":
                state.category = old
            elif name == "owner" and old:
                state.owner_id = old
    return state


def weighted(state: DealState, kind: str) -> Decimal:
    probability = 100 if kind == "WON" else state.probability or 0
    return state.amount * probability / 100


async def forecast(ctx: Ctx, group_by: str, start: date | None, end: date | None) -> ForecastData:
    viewer = ctx.require_viewer()
    if group_by not in GROUPINGS:
        raise BadInput(f"groupBy is one of {', '.join(GROUPINGS)}")
    if start and end and start > end:
        raise BadInput("from must be on or before to")
    access = await ensure_access(ctx)
    org_id = viewer.org_id
    stages = await ctx.loaders.all(
        select(m.Stage).join(m.Pipeline, m.Pipeline.id == m.Stage.pipeline_id).where(m.Pipeline.org_id == org_id))
    kind_by_id = {st.id: st.kind for st in stages}
    key_by_id = {st.id: st.key for st in stages}
    kind_by_key = {(st.pipeline_id, st.key): st.kind for st in stages}
    rows = await ctx.loaders.rows(
        select(m.Opportunity, m.User.department_id).join(m.User, m.User.id == m.Opportunity.owner_id)
        .where(m.Opportunity.org_id == org_id, *conditions(opportunity_clause(access)))
    )
    now = ctx.clock()
    week_ago = now - WEEK
    withheld = any(f in access.hidden for f in NEEDED)
    opps = [opp for opp, _ in rows]
    recent = defaultdict(list)  # opportunity id -> its events of the last week, newest first
    if opps and not withheld:
        for event in await ctx.loaders.all(
            select(m.Event).where(m.Event.org_id == org_id, m.Event.occurred_at > week_ago, m.Event.opportunity_id.is_not(None))
            .order_by(m.Event.seq.desc())
        ):
            recent[event.opportunity_id].append(event)
    owner_departments = {opp.owner_id: department_id for opp, department_id in rows}
    owner_departments.update(await _departments_of(ctx, {o for e in recent.values() for ev in e for o in _owners(ev)}))

    cells: dict[tuple, ForecastRow] = {}
    unscheduled = hidden = 0

    def cell(state: DealState, kind: str) -> ForecastRow:
        owner = state.owner_id if group_by == "OWNER" else None
        department = owner_departments.get(state.owner_id) if group_by == "DEPARTMENT" else None
        month = state.close.strftime("%Y-%m")
        category = "CLOSED" if kind == "WON" else state.category or "PIPELINE"
        key = (owner, department, month, category)
        if key not in cells:
            cells[key] = ForecastRow(owner, department, month, category)
        return cells[key]

    def in_range(state: DealState) -> bool:
        return (start is None or state.close >= start) and (end is None or state.close <= end)

    for opp in opps:
        kind = kind_by_id.get(opp.stage_id)
        if kind == "LOST":
            continue
        if withheld:
            hidden += opp.amount is not None
            continue
        state = DealState(opp.owner_id, opp.amount, opp.currency, opp.probability, opp.expected_close_date,
                          "", opp.forecast_category)
        if state.amount is None or state.close is None:
            unscheduled += 1
        elif in_range(state):
            row = cell(state, kind)
            row.count += 1
            row.sums[state.currency] = row.sums.get(state.currency, Decimal(0)) + weighted(state, kind)
            row.plain[state.currency] = row.plain.get(state.currency, Decimal(0)) + state.amount
        if opp.created_at > week_ago:
            continue  # it did not exist a week ago
        before = roll_back(DealState(opp.owner_id, opp.amount, opp.currency, opp.probability, opp.expected_close_date,
                                     key_by_id.get(opp.stage_id, ""), opp.forecast_category), recent.get(opp.id, []))
        kind = kind_by_key.get((opp.pipeline_id, before.stage_key), "OPEN")
        if kind == "LOST" or before.amount is None or before.close is None or not in_range(before):
            continue
        row = cell(before, kind)
        row.count_week_ago += 1
        row.sums_week_ago[before.currency] = row.sums_week_ago.get(before.currency, Decimal(0)) + weighted(before, kind)

    base = await _base(ctx, org_id)
    currencies = {c for row in cells.values() for c in (*row.sums, *row.sums_week_ago)}
    rates = await rates_for(ctx, base, currencies) if currencies else {}
    missing = set()
    for row in cells.values():
        now_total, then_total = money_totals(base, row.sums, rates).base, money_totals(base, row.sums_week_ago, rates).base
        row.weighted_amount, row.weighted_amount_week_ago = now_total.converted, then_total.converted
        row.amount = money_totals(base, row.plain, rates).base.converted
        row.missing_rates = sorted({*now_total.missing_rates, *then_total.missing_rates})
        missing.update(row.missing_rates)
    ordered = sorted(cells.values(), key=lambda r: (r.month, CATEGORIES.index(r.category), r.owner_id or 0, r.department_id or 0))
    return ForecastData(
        base_currency=base, rows=ordered,
        weighted_amount=sum((r.weighted_amount for r in ordered), Decimal(0)).quantize(CENT),
        weighted_amount_week_ago=sum((r.weighted_amount_week_ago for r in ordered), Decimal(0)).quantize(CENT),
        unscheduled_count=unscheduled, hidden_amount_count=hidden, missing_rates=sorted(missing),
    )


def _owners(event: m.Event) -> list[int]:
    pair = (event.changes or {}).get("owner")
    return [pair[0]] if isinstance(pair, list) and pair and isinstance(pair[0], int) else []


async def _departments_of(ctx: Ctx, user_ids: set[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    rows = await ctx.loaders.rows(select(m.User.id, m.User.department_id).where(m.User.id.in_(user_ids)))
    return dict(rows)


async def _base(ctx: Ctx, org_id: int) -> str:
    async with ctx.db.read() as s:
        return await base_currency(s, org_id)
