"""Money: the organization's base currency, exchange rates (admins keep them) and the
shapes of totals (per currency, and converted into the base currency)."""
import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from db import models as m
from resolvers import money as rules
from schema.errors import SIGNED_IN, UserError
from schema.inputs import to_data
from schema.limits import at_most


@strawberry.type(description="An amount in one currency")
class Money:
    amount: Decimal
    currency: str = strawberry.field(description="ISO 4217 code")


@strawberry.type(description="A sum converted into the organization's base currency")
class ConvertedTotal:
    amount: Decimal | None = strawberry.field(
        description="Null when a currency in the sum has no rate (missingRates): a partial sum is not a total")
    currency: str = strawberry.field(description="The base currency")
    rate_date: datetime.date | None = strawberry.field(
        description="The oldest rate date the conversion used (each currency uses its newest rate on or before today, UTC); "
                    "null when nothing needed converting")
    missing_rates: list[str] = strawberry.field(
        metadata=at_most(rules.MAX_CURRENCIES), description="Currencies with amounts but no rate on or before today")


@strawberry.type(description="What one unit of currency is worth in baseCurrency from date on")
class ExchangeRate:
    currency: str
    base_currency: str
    updated_at: datetime.datetime

    @strawberry.field(description="Units of baseCurrency one unit of currency is worth, as set (no padding zeros)")
    def rate(self) -> Decimal:
        plain = Decimal(self.rate).normalize()
        return plain.quantize(Decimal(1)) if plain.as_tuple().exponent > 0 else plain

    @strawberry.field
    def date(self) -> datetime.date:
        return self.day

    @strawberry.field(description="The administrator who set it; null once their account is gone")
    async def set_by(self, info: strawberry.Info) -> Annotated["User", strawberry.lazy("schema.people")] | None:
        return await info.context.loaders.user.load(self.set_by_id) if self.set_by_id else None

    @classmethod
    def is_type_of(cls, obj, info) -> bool:
        return isinstance(obj, m.ExchangeRate)


@strawberry.input
class SetExchangeRateInput:
    currency: str
    rate: Decimal = strawberry.field(description="Units of the base currency one unit of currency is worth (at most 8 decimals)")
    date: datetime.date | None = strawberry.field(default=strawberry.UNSET, description="From when it applies; default today (UTC)")


@strawberry.type
class SetExchangeRatePayload:
    exchange_rate: ExchangeRate | None
    user_errors: list[UserError]


@strawberry.input
class SetBaseCurrencyInput:
    currency: str


@strawberry.type
class SetBaseCurrencyPayload:
    base_currency: str | None
    user_errors: list[UserError]


@strawberry.type
class Query:
    @strawberry.field(**SIGNED_IN, description="The currency totals are converted into and new cards default to")
    async def base_currency(self, info: strawberry.Info) -> str:
        return await rules.viewer_base_currency(info.context)

    @strawberry.field(
        **SIGNED_IN, metadata=at_most(rules.MAX_RATES),
        description="Exchange rates into the current base currency, newest first (at most 200)",
    )
    async def exchange_rates(self, info: strawberry.Info, currency: str | None = None) -> list[ExchangeRate]:
        return (await rules.list_exchange_rates(info.context, currency))[:rules.MAX_RATES]


@strawberry.type
class Mutation:
    @strawberry.mutation(**SIGNED_IN, description="Admins: set (or replace) a currency's rate into the base currency from a date")
    async def set_exchange_rate(self, info: strawberry.Info, input: SetExchangeRateInput) -> SetExchangeRatePayload:
        rate, errors = await rules.set_exchange_rate(info.context, to_data(input))
        return SetExchangeRatePayload(exchange_rate=rate, user_errors=errors)

    @strawberry.mutation(**SIGNED_IN, description="Admins: the base currency; rates set for another base no longer apply")
    async def set_base_currency(self, info: strawberry.Info, input: SetBaseCurrencyInput) -> SetBaseCurrencyPayload:
        currency, errors = await rules.set_base_currency(info.context, to_data(input))
        return SetBaseCurrencyPayload(base_currency=currency, user_errors=errors)
