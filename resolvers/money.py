"""Money: the organization's base currency, the exchange rates admins keep, totals
per currency and converted into the base currency, and amounts as people write them
in spreadsheets (¥1,500,000, 150万, RMB 8.8万).

A rate says what one unit of a currency is worth in the base currency from its date
on. A conversion uses, per currency, the newest rate dated on or before today (UTC)
and reports the oldest date it used; a currency without such a rate is listed as
missing and its amounts are left out of the converted sum, never added unconverted."""
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import and_, select

from db import models as m
from resolvers import validate
from resolvers.context import Ctx
from resolvers.errors import FORBIDDEN, VALIDATION, fail
from resolvers.i18n import msg
from resolvers.uow import UnitOfWork, mutate

MAX_CURRENCIES = 50  # currencies listed per total (the base first, then by code)
MAX_RATES = 200  # the exchangeRates list, newest first
CENT = Decimal("0.01")
MAX_RATE = Decimal("1e12")


@dataclass
class Money:
    amount: Decimal
    currency: str


@dataclass
class ConvertedTotal:
    """A sum in the base currency. `amount` is None when a rate is missing: a partial
    sum is not offered as the total (`converted` holds it, for `totalAmount`)."""

    amount: Decimal | None
    currency: str
    rate_date: date | None
    missing_rates: list[str]
    converted: Decimal = Decimal(0)


@dataclass
class Totals:
    """One column's (or funnel stage's) visible amounts: per currency and in the base."""

    per_currency: list[Money] = field(default_factory=list)
    base: ConvertedTotal | None = None


def today(ctx: Ctx) -> date:
    return ctx.clock().date()


def rate_subqueries(org_id, base, currency, day: date):
    """Correlated scalar subqueries for the newest rate of `currency` (a column) into
    `base` dated on or before `day`, and that rate's date: a grouped totals statement
    brings its rates along instead of costing a statement of its own."""
    r = m.ExchangeRate
    newest = (
        select(r.rate, r.day)
        .where(r.org_id == org_id, r.base_currency == base, r.currency == currency, r.day <= day)
        .order_by(r.day.desc())
        .limit(1)
    )
    rate = newest.with_only_columns(r.rate).scalar_subquery()
    on = newest.with_only_columns(r.day).scalar_subquery()
    return rate, on


async def rates_for(ctx: Ctx, base: str, currencies: set[str]) -> dict[str, tuple[Decimal, date]]:
    """currency -> (rate, date) for the newest rate on or before today (one statement)."""
    wanted = sorted(c for c in currencies if c != base)
    if not wanted:
        return {}
    r = m.ExchangeRate
    rows = await ctx.loaders.rows(
        select(r.currency, r.rate, r.day)
        .where(r.org_id == ctx.require_viewer().org_id, r.base_currency == base, r.currency.in_(wanted), r.day <= today(ctx))
        .order_by(r.currency, r.day.desc())
    )
    found: dict[str, tuple[Decimal, date]] = {}
    for currency, rate, day in rows:
        found.setdefault(currency, (Decimal(rate), day))
    return found


def totals(base: str, sums: dict[str, Decimal], rates: dict[str, tuple[Decimal, date]]) -> Totals:
    """Per-currency sums and their conversion. Each currency's sum is converted once
    (then rounded to cents), so a total does not drift with the number of cards."""
    converted, used, missing = Decimal(0), [], []
    for currency, amount in sums.items():
        if currency == base:
            converted += amount
        elif currency in rates:
            rate, day = rates[currency]
            converted += (amount * rate).quantize(CENT, ROUND_HALF_UP)
            used.append(day)
        else:
            missing.append(currency)
    listed = sorted(sums, key=lambda c: (c != base, c))[:MAX_CURRENCIES]
    converted = converted.quantize(CENT)
    return Totals(
        per_currency=[Money(sums[c].quantize(CENT), c) for c in listed],
        base=ConvertedTotal(
            amount=None if missing else converted, currency=base, rate_date=min(used) if used else None,
            missing_rates=sorted(missing)[:MAX_CURRENCIES], converted=converted,
        ),
    )


# ---------------------------------------------------------------- the organization's settings


async def base_currency(session, org_id: int) -> str:
    return await session.scalar(select(m.Organization.base_currency).where(m.Organization.id == org_id)) or "USD"


async def viewer_base_currency(ctx: Ctx) -> str:
    async with ctx.db.read() as s:
        return await base_currency(s, ctx.require_viewer().org_id)


def _rate(value) -> Decimal:
    try:
        rate = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        if not rate.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        fail(VALIDATION, "rate is not a number", "rate")
    if rate <= 0 or rate >= MAX_RATE:
        fail(VALIDATION, "rate must be greater than 0 and less than 1,000,000,000,000", "rate")
    if rate != rate.quantize(Decimal("1e-8")):
        fail(VALIDATION, "rate allows at most 8 decimals", "rate")
    return rate


def _require_admin(ctx: Ctx, what):
    viewer = ctx.require_writer()
    if not viewer.is_admin:
        fail(FORBIDDEN, "Only an admin can set {what}", what=what)
    return viewer


async def set_exchange_rate(ctx: Ctx, data: dict):
    """Create or replace the rate of (currency, date) into the current base currency."""

    async def work(uow: UnitOfWork) -> m.ExchangeRate:
        viewer = _require_admin(ctx, msg("exchange rates"))
        s = uow.session
        base = await base_currency(s, uow.org_id)
        with validate.Checks() as check:
            currency = check(_rate_currency, data.get("currency"), base)
            rate = check(_rate, data.get("rate"))
            day = check(validate.close_date, data.get("date") or today(ctx), "date")
        row = (await s.execute(
            select(m.ExchangeRate).where(
                m.ExchangeRate.org_id == uow.org_id, m.ExchangeRate.base_currency == base,
                m.ExchangeRate.currency == currency, m.ExchangeRate.day == day,
            ).with_for_update()
        )).scalar_one_or_none()
        before = str(row.rate) if row is not None else None
        if row is None:
            row = m.ExchangeRate(org_id=uow.org_id, base_currency=base, currency=currency, day=day)
            s.add(row)
        row.rate, row.set_by_id, row.updated_at = rate, viewer.id, uow.now
        await s.flush()
        # Totals change with the rate: the event bumps the seq, so cached boards expire.
        await uow.append_event("MONEY_SETTINGS_UPDATED", changes={
            "currency": currency, "baseCurrency": base, "date": day.isoformat(), "rate": [before, str(rate)]})
        return row

    return await mutate(ctx, work)


def _rate_currency(value: str | None, base: str) -> str:
    if not value:
        fail(VALIDATION, "currency is required", "currency")
    currency = validate.currency(value)
    if currency == base:
        fail(VALIDATION, "{base} is the base currency; rates say what other currencies are worth in it", "currency", base=base)
    return currency


async def set_base_currency(ctx: Ctx, data: dict):
    async def work(uow: UnitOfWork) -> str:
        _require_admin(ctx, msg("the base currency"))
        with validate.Checks() as check:
            currency = check(validate.currency, data.get("currency") or "")
        org = await uow.session.get(m.Organization, uow.org_id)
        if org.base_currency != currency:
            await uow.append_event("MONEY_SETTINGS_UPDATED", changes={"baseCurrency": [org.base_currency, currency]})
            org.base_currency = currency
        return currency

    return await mutate(ctx, work)


async def list_exchange_rates(ctx: Ctx, currency: str | None) -> list[m.ExchangeRate]:
    """Rates into the current base currency, newest first (at most MAX_RATES)."""
    viewer = ctx.require_viewer()
    r = m.ExchangeRate
    stmt = (
        select(r).join(m.Organization, and_(m.Organization.id == r.org_id, m.Organization.base_currency == r.base_currency))
        .where(r.org_id == viewer.org_id)
    )
    if currency:
        stmt = stmt.where(r.currency == currency.strip().upper())
    return await ctx.loaders.all(stmt.order_by(r.day.desc(), r.currency, r.id).limit(MAX_RATES))


# ---------------------------------------------------------------- amounts as written

# Written marks -> currency. ¥ is read as CNY (the importer's users are Chinese teams;
# write JPY for yen). Longer marks first, so "US$" is not read as "$".
SYMBOLS = {
    "人民币": "CNY", "RMB": "CNY", "CN¥": "CNY", "¥": "CNY", "￥": "CNY", "元": "CNY",
    "US$": "USD", "USD$": "USD", "美元": "USD", "$": "USD", "HK$": "HKD", "港币": "HKD", "港元": "HKD",
    "€": "EUR", "欧元": "EUR", "£": "GBP", "英镑": "GBP", "日元": "JPY", "円": "JPY",
}
# Currency names a currency/币种 column may hold besides ISO codes.
CURRENCY_WORDS = {"人民币": "CNY", "RMB": "CNY", "元": "CNY", "美元": "USD", "欧元": "EUR", "英镑": "GBP",
                  "日元": "JPY", "港币": "HKD", "港元": "HKD"}
MULTIPLIERS = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}
_MARKS = sorted(SYMBOLS, key=len, reverse=True)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


@dataclass
class WrittenAmount:
    amount: Decimal | None
    currency: str | None  # what its symbol or code says; None: nothing said
    chinese_units: bool = False  # written with 万/亿


def read_amount(value, field_name: str = "amount") -> WrittenAmount:
    """An amount cell: numbers as they are; text with thousands separators, a currency
    symbol, word or ISO code before or after, and 万/亿 (150万 -> 1,500,000)."""
    if value is None or value == "":
        return WrittenAmount(None, None)
    if isinstance(value, (int, Decimal)):
        return WrittenAmount(validate.amount(Decimal(value), field_name), None)
    if isinstance(value, float):
        number = Decimal(repr(value))
        return WrittenAmount(validate.amount(number.quantize(CENT) if abs(value) < 1e16 else number, field_name), None)
    text = re.sub(r"[\s,，'’_]", "", str(value))
    said: set[str] = set()
    changed = True
    while changed and text:
        changed = False
        upper = text.upper()
        for mark in _MARKS:
            if upper.startswith(mark) or upper.endswith(mark):
                said.add(SYMBOLS[mark])
                text = text[len(mark):] if upper.startswith(mark) else text[:-len(mark)]
                changed = True
                break
        if changed:
            continue
        if re.match(r"^[A-Za-z]{3}(?=[\d.+-])", text):  # EUR 45,000
            said.add(text[:3].upper())
            text, changed = text[3:], True
        elif re.search(r"(?<=[\d.万亿])[A-Za-z]{3}$", text):  # 45,000 EUR
            said.add(text[-3:].upper())
            text, changed = text[:-3], True
    multiplier, units = Decimal(1), False
    if text and text[-1] in MULTIPLIERS:
        multiplier, units, text = MULTIPLIERS[text[-1]], True, text[:-1]
        # 万元 and 元万 both occur; a currency mark after the unit was stripped above.
        for mark in _MARKS:
            if text.upper().endswith(mark):
                said.add(SYMBOLS[mark])
                text = text[:-len(mark)]
    if len(said) > 1:
        fail(VALIDATION, "{field_name} {value!r} names more than one currency ({currencies})", field_name, field_name=field_name, value=value, currencies=', '.join(sorted(said)))
    if not _NUMBER.match(text):
        fail(VALIDATION, "{field_name} is not a number", field_name, field_name=field_name)
    return WrittenAmount(validate.amount(Decimal(text) * multiplier, field_name), said.pop() if said else None, units)


def column_currency(value) -> str | None:
    """A currency/币种 cell: an ISO code or a currency's name (人民币, 美元, ...); None if empty."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    return CURRENCY_WORDS.get(text.upper(), CURRENCY_WORDS.get(text)) or validate.currency(text)


def row_currency(written: WrittenAmount | None, column: str | None, default: str) -> str:
    """The row's currency: its currency column, else the amount's symbol, else CNY for an
    amount in 万/亿, else the organization's base. A symbol that contradicts the column is
    refused rather than guessed between."""
    said = written.currency if written else None
    if column and said and column != said:
        fail(VALIDATION, "amount is written in {said} but the currency column says {column}", "currency", said=said, column=column)
    if column or said:
        return column or said
    if written is not None and written.chinese_units:
        return "CNY"
    return default
