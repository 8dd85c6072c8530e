"""Planning: the weighted forecast and forecast categories, targets and their
attainment, and collaboration measured per department (docs/api.md, "Planning")."""
import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated

import strawberry

from db.loaders import MAX_DEPARTMENTS, ready
from resolvers import collaboration as collaboration_rules
from resolvers import forecast as forecast_rules
from resolvers import targets as target_rules
from resolvers.money import MAX_CURRENCIES
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most
from schema.opportunities import OpportunityPayload, refused_payload
from schema.people import Department, User

MAX_FORECAST_ROWS = 2000  # (group, month, category) cells of one forecast


@strawberry.enum(description="The owner's call on a deal (CLOSED: won)")
class ForecastCategory(str, Enum):
    PIPELINE = "PIPELINE"
    BEST_CASE = "BEST_CASE"
    COMMIT = "COMMIT"
    CLOSED = "CLOSED"


@strawberry.enum(description="Who a forecast's rows (or a target) belong to")
class PlanningScope(str, Enum):
    OWNER = "OWNER"
    DEPARTMENT = "DEPARTMENT"
    ORGANIZATION = "ORGANIZATION"


@strawberry.type(description="One (owner or department, close month, category) cell of the forecast")
class ForecastRow:
    month: str = strawberry.field(description="Expected close month, YYYY-MM")
    category: ForecastCategory = strawberry.field(description="The deals' forecast category")
    count: int = strawberry.field(description="Deals in the cell now")
    count_week_ago: int = strawberry.field(description="Deals in the cell seven days ago")
    amount: Decimal = strawberry.field(description="Their amounts unweighted, in the base currency")
    weighted_amount: Decimal = strawberry.field(description="Sum of amount x probability/100 (won deals at 100%), in the base currency")
    weighted_amount_week_ago: Decimal = strawberry.field(
        description="The same figure as it stood seven days ago, rebuilt from the event log (today's rates)")
    missing_rates: list[str] = strawberry.field(
        metadata=at_most(MAX_CURRENCIES), description="Currencies without a rate into the base: their amounts are left out")
    owner_id: strawberry.Private[int | None]
    department_id: strawberry.Private[int | None]

    @strawberry.field(description="weightedAmount - weightedAmountWeekAgo")
    def moved_since_last_week(self) -> Decimal:
        return self.weighted_amount - self.weighted_amount_week_ago

    @strawberry.field(description="The deals' owner (groupBy OWNER; null otherwise)")
    def owner(self, info: strawberry.Info) -> User | None:
        return ready(info.context.loaders.user, self.owner_id) if self.owner_id else None

    @strawberry.field(description="The owners' department (groupBy DEPARTMENT; null otherwise)")
    def department(self, info: strawberry.Info) -> Department | None:
        return ready(info.context.loaders.department, self.department_id) if self.department_id else None


@strawberry.type(description="The weighted pipeline by expected close month and forecast category")
class Forecast:
    base_currency: str = strawberry.field(description="The currency every figure is in")
    rows: list[ForecastRow] = strawberry.field(
        metadata=at_most(MAX_FORECAST_ROWS), description="Cells by month, category, then owner or department")
    weighted_amount: Decimal = strawberry.field(description="All rows' weighted amounts")
    weighted_amount_week_ago: Decimal = strawberry.field(description="All rows' weighted amounts seven days ago")
    moved_since_last_week: Decimal = strawberry.field(description="weightedAmount - weightedAmountWeekAgo")
    unscheduled_count: int = strawberry.field(description="Open or won deals without an amount or an expected close date (not in rows)")
    hidden_amount_count: int = strawberry.field(
        description="Deals with an amount left out because an access rule withholds amount, probability or close date")
    missing_rates: list[str] = strawberry.field(
        metadata=at_most(MAX_CURRENCIES), description="Currencies without a rate into the base (left out of the sums)")


@strawberry.type(description="A target and how far it is reached, computed from the event log")
class Target:
    scope: PlanningScope = strawberry.field(description="Whose target it is")
    period: str = strawberry.field(description="YYYY-MM or YYYY-Qn (UTC)")
    won_amount_target: Decimal | None = strawberry.field(description="Amount to win in the period, base currency")
    new_qualified_target: int | None = strawberry.field(description="Deals to reach qualified (or later) for the first time")
    won_amount: Decimal | None = strawberry.field(
        description="Amounts of the deals won in the period (now in a won stage, entered in the period), base currency; "
                    "null when amounts are withheld from the viewer")
    won_count: int = strawberry.field(description="Deals won in the period")
    new_qualified_count: int = strawberry.field(description="Deals that first reached qualified or later in the period")
    hidden_amount_count: int = strawberry.field(description="Won deals whose amount is withheld from the viewer")
    missing_rates: list[str] = strawberry.field(
        metadata=at_most(MAX_CURRENCIES), description="Currencies of won deals without a rate (left out of wonAmount)")
    owner_id: strawberry.Private[int | None]
    department_id: strawberry.Private[int | None]

    @strawberry.field(description="wonAmount / wonAmountTarget, rounded to 4 places (null without either)")
    def won_attainment(self) -> float | None:
        if self.won_amount is None or not self.won_amount_target:
            return None
        return round(float(self.won_amount / self.won_amount_target), 4)

    @strawberry.field(description="newQualifiedCount / newQualifiedTarget, rounded to 4 places (null without a target)")
    def qualified_attainment(self) -> float | None:
        return round(self.new_qualified_count / self.new_qualified_target, 4) if self.new_qualified_target else None

    @strawberry.field(description="The owner (scope OWNER)")
    def owner(self, info: strawberry.Info) -> User | None:
        return ready(info.context.loaders.user, self.owner_id) if self.owner_id else None

    @strawberry.field(description="The department (scope DEPARTMENT)")
    def department(self, info: strawberry.Info) -> Department | None:
        return ready(info.context.loaders.department, self.department_id) if self.department_id else None


def _target(a: target_rules.Attainment) -> Target:
    t = a.target
    return Target(
        scope=PlanningScope(t.scope), period=t.period, won_amount_target=t.won_amount, new_qualified_target=t.new_qualified_count,
        won_amount=a.won_amount, won_count=a.won_count, new_qualified_count=a.new_qualified_count,
        hidden_amount_count=a.hidden_amount_count, missing_rates=a.missing_rates, owner_id=t.owner_id, department_id=t.department_id,
    )


@strawberry.type(description="Count, median and p90 of durations in hours")
class HoursSpread:
    count: int = strawberry.field(description="How many durations")
    median_hours: float | None = strawberry.field(description="Median in hours (null without any)")
    p90_hours: float | None = strawberry.field(description="90th percentile in hours, linear between ranks (null without any)")


@strawberry.type(description="One department's collaboration figures over a window")
class DepartmentCollaboration:
    department: Department = strawberry.field(description="The department")
    handoff_response: HoursSpread = strawberry.field(
        description="Request to accept/decline of the handoffs to it requested in the window")
    approval_turnaround: HoursSpread = strawberry.field(
        description="Step opening to decision of its approval steps opened in the window")
    deal_count: int = strawberry.field(description="Deals whose events in the window name it (deals it took part in)")
    baton_hours: HoursSpread = strawberry.field(
        description="Per deal it took part in and held: hours it held the baton, from the deal's creation up to `to`")
    baton_total_hours: float = strawberry.field(description="Those hours summed")


@strawberry.input(description="The owner's forecast call on a deal")
class SetForecastCategoryInput:
    id: strawberry.ID
    version: int
    category: ForecastCategory = strawberry.field(description="PIPELINE, BEST_CASE or COMMIT (CLOSED follows from winning)")


@strawberry.input(description="A target for a period; both figures null removes it")
class SetTargetInput:
    scope: PlanningScope = strawberry.field(description="Whose target")
    period: str = strawberry.field(description="A month (2026-11) or a quarter (2026-Q4)")
    owner_id: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description="scope OWNER: the user")
    department_key: str | None = strawberry.field(default=strawberry.UNSET, description="scope DEPARTMENT: the department")
    won_amount: Decimal | None = strawberry.field(default=strawberry.UNSET, description="Amount to win, in the base currency")
    new_qualified_count: int | None = strawberry.field(
        default=strawberry.UNSET, description="Deals to reach qualified (or later) for the first time")


@strawberry.type
class SetTargetPayload:
    target: Target | None = strawberry.field(description="The target with its attainment; null when removed or refused")
    user_errors: list[UserError]


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN, description=(
        "The weighted pipeline of the deals the viewer sees by expected close month and forecast category, per owner, "
        "department or the organization, with each figure as it stood seven days ago"))
    async def forecast(
        self, info: strawberry.Info,
        group_by: Annotated[PlanningScope, strawberry.argument(description="Rows per owner, per owner's department, or one set")] = PlanningScope.ORGANIZATION,
        from_: Annotated[datetime.date | None, strawberry.argument(name="from", description="First close date counted (inclusive)")] = None,
        to: Annotated[datetime.date | None, strawberry.argument(description="Last close date counted (inclusive)")] = None,
    ) -> Forecast:
        data = await forecast_rules.forecast(info.context, group_by.value, from_, to)
        return Forecast(
            base_currency=data.base_currency,
            rows=[ForecastRow(
                month=r.month, category=ForecastCategory(r.category), count=r.count, count_week_ago=r.count_week_ago,
                amount=r.amount, weighted_amount=r.weighted_amount, weighted_amount_week_ago=r.weighted_amount_week_ago,
                missing_rates=r.missing_rates, owner_id=r.owner_id, department_id=r.department_id,
            ) for r in data.rows[:MAX_FORECAST_ROWS]],
            weighted_amount=data.weighted_amount, weighted_amount_week_ago=data.weighted_amount_week_ago,
            moved_since_last_week=data.weighted_amount - data.weighted_amount_week_ago,
            unscheduled_count=data.unscheduled_count, hidden_amount_count=data.hidden_amount_count,
            missing_rates=data.missing_rates[:MAX_CURRENCIES],
        )

    @strawberry.field(**SIGNED_IN, metadata=at_most(target_rules.MAX_TARGETS), description=(
        "The period's targets with their attainment, computed live from the event log: re-read it on each "
        "OPPORTUNITY_MOVED event (docs/api.md)"))
    async def targets(
        self, info: strawberry.Info,
        period: Annotated[str, strawberry.argument(description="A month (2026-11) or a quarter (2026-Q4)")],
    ) -> list[Target]:
        return [_target(a) for a in await target_rules.targets(info.context, period)]

    @strawberry.field(**SIGNED_IN, metadata=at_most(MAX_DEPARTMENTS), description=(
        "Per department over [from, to): handoff response, approval turnaround, deals taken part in and time holding the baton"))
    async def collaboration(
        self, info: strawberry.Info,
        from_: Annotated[datetime.datetime, strawberry.argument(name="from", description="Window start (inclusive)")],
        to: Annotated[datetime.datetime, strawberry.argument(description="Window end (exclusive); at most 366 days after from")],
    ) -> list[DepartmentCollaboration]:
        rows = await collaboration_rules.collaboration(info.context, _aware(from_), _aware(to))
        return [DepartmentCollaboration(
            department=r.department, deal_count=r.deal_count, baton_total_hours=r.baton_total_hours,
            handoff_response=HoursSpread(**vars(r.handoff_response)), approval_turnaround=HoursSpread(**vars(r.approval_turnaround)),
            baton_hours=HoursSpread(**vars(r.baton_hours)),
        ) for r in rows[:MAX_DEPARTMENTS]]


def _aware(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN, description="The owner (or the owner's manager, an admin) sets a deal's forecast category")
    async def set_forecast_category(self, info: strawberry.Info, input: SetForecastCategoryInput) -> OpportunityPayload:
        return await refused_payload(info, input.id, await forecast_rules.set_forecast_category(info.context, to_data(input)))

    @strawberry.mutation(**SIGNED_IN, description=(
        "Set, replace or (both figures null) remove a target: managers for their department and its people, admins for all"))
    async def set_target(self, info: strawberry.Info, input: SetTargetInput) -> SetTargetPayload:
        row, errors = await target_rules.set_target(info.context, to_data(input))
        if row is None:
            return SetTargetPayload(target=None, user_errors=errors)
        attained = [a for a in await target_rules.targets(info.context, row.period) if a.target.id == row.id]
        return SetTargetPayload(target=_target(attained[0]) if attained else None, user_errors=errors)
