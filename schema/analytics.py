"""Analytics computed from the event log."""
import datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from db.loaders import MAX_STAGES
from resolvers import analytics as rules
from resolvers.paging import page_size
from schema.errors import SIGNED_IN
from resolvers.money import MAX_CURRENCIES
from schema.limits import at_most
from schema.money import ConvertedTotal, Money
from schema.opportunities import Stage


@strawberry.type
class FunnelStage:
    stage: Stage
    entered: int = strawberry.field(description="Opportunities that ever entered the stage")
    current: int
    amount: Decimal = strawberry.field(description="The amounts the viewer may see in the base currency (as BoardColumn.totalAmount)")
    hidden_amount_count: int = strawberry.field(description="Cards whose amount is withheld from the viewer (not in amount)")
    conversion_to_next: float | None = strawberry.field(description="Share that went on to a later open/won stage")
    median_hours_in_stage: float | None
    totals: list[Money] = strawberry.field(metadata=at_most(MAX_CURRENCIES), description="The visible amounts per currency")
    base_total: ConvertedTotal = strawberry.field(description="The visible amounts converted into the base currency")


@strawberry.type(description="How many lost opportunities give one lost reason")
class LossReasonCount:
    reason: str = strawberry.field(description="The lost reason as written on the cards (or `unspecified`, `hidden`)")
    count: int = strawberry.field(description="Lost opportunities with this reason")


@strawberry.type
class Analytics:
    funnel: list[FunnelStage] = strawberry.field(metadata=at_most(MAX_STAGES))
    win_rate: float | None
    median_cycle_days: float | None
    loss_reasons: JSON = strawberry.field(
        description="Lost cards per lost reason as a JSON object {reason: count}",
        deprecation_reason="Use lossReasonCounts: typed, ranked and bounded. Removal on 2027-12-31",
    )

    @strawberry.field(description=(
        "Lost opportunities per lost reason, most frequent first (ties by reason): the typed form of `lossReasons`. "
        "`unspecified` counts cards lost without a reason, `hidden` those whose reason an access rule withholds"
    ))
    def loss_reason_counts(
        self, info: strawberry.Info,
        first: Annotated[int | None, strawberry.argument(description="How many of the most frequent reasons (default 25, at most BATON_MAX_PAGE_SIZE)")] = None,
    ) -> list["LossReasonCount"]:
        size = page_size(first, info.context.max_page_size)
        ranked = sorted((self.loss_reasons or {}).items(), key=lambda rc: (-rc[1], rc[0]))
        return [LossReasonCount(reason=r, count=n) for r, n in ranked[:size]]
    median_handoff_response_hours: float | None
    median_approval_hours: float | None
    # The cohort's money: per currency, and converted like BoardColumn.totals / baseTotal.
    totals: list[Money] = strawberry.field(
        metadata=at_most(MAX_CURRENCIES),
        description="The visible amounts of every opportunity in the figures, per currency (the base currency first)")
    base_total: ConvertedTotal = strawberry.field(
        description="`totals` converted into the base currency: the rate date used, or null with the missing rates")
    open_totals: list[Money] = strawberry.field(
        metadata=at_most(MAX_CURRENCIES),
        description="The visible amounts of the opportunities in open stages (the pipeline), per currency")
    open_base_total: ConvertedTotal = strawberry.field(
        description="`openTotals` converted into the base currency: the rate date used, or null with the missing rates")
    won_totals: list[Money] = strawberry.field(
        metadata=at_most(MAX_CURRENCIES),
        description="The visible amounts of the won opportunities, per currency")
    won_base_total: ConvertedTotal = strawberry.field(
        description="`wonTotals` converted into the base currency: the rate date used, or null with the missing rates")


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN, description="Funnel and cycle figures for opportunities created between from and to (UTC dates, inclusive)")
    async def analytics(
        self, info: strawberry.Info, pipeline_id: strawberry.ID | None = None,
        from_: Annotated[datetime.date | None, strawberry.argument(name="from")] = None,
        to: datetime.date | None = None,
    ) -> Analytics:
        data = await rules.analytics(info.context, pipeline_id, from_, to)
        return Analytics(
            funnel=[FunnelStage(**vars(row)) for row in data.funnel[:MAX_STAGES]], win_rate=data.win_rate,
            median_cycle_days=data.median_cycle_days, loss_reasons=data.loss_reasons,
            median_handoff_response_hours=data.median_handoff_response_hours, median_approval_hours=data.median_approval_hours,
            totals=data.everything.per_currency, base_total=data.everything.base,
            open_totals=data.open.per_currency, open_base_total=data.open.base,
            won_totals=data.won.per_currency, won_base_total=data.won.base,
        )
