"""Analytics computed from the event log."""
import datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from db.loaders import MAX_STAGES
from resolvers import analytics as rules
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


@strawberry.type
class Analytics:
    funnel: list[FunnelStage] = strawberry.field(metadata=at_most(MAX_STAGES))
    win_rate: float | None
    median_cycle_days: float | None
    loss_reasons: JSON
    median_handoff_response_hours: float | None
    median_approval_hours: float | None


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
        )
