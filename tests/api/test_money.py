"""Money: the base currency, exchange rates with dates, totals per currency and in the
base currency (never a silent mix), the create/update currency, and the importer's
¥/￥/RMB/元 and 万/亿 with a contradicting row refused."""
import csv
import io
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select, update

from db import models as m
from resolvers import approvals
from resolvers import opportunities as rules
from resolvers.ids import to_global
from resolvers.spreadsheets import export_rows, import_opportunities, to_csv

SET_RATE = """mutation($i: SetExchangeRateInput!) { setExchangeRate(input: $i) {
  exchangeRate { currency baseCurrency rate date } userErrors { field code message } } }"""
SET_BASE = """mutation($c: String!) { setBaseCurrency(input: {currency: $c}) { baseCurrency userErrors { field code message } } }"""
RATES = "{ baseCurrency exchangeRates { currency baseCurrency rate date } }"
BOARD = """{ board { columns { stage { key } totalCount totalAmount hiddenAmountCount
  totals { amount currency } baseTotal { amount currency rateDate missingRates } } } }"""
FUNNEL = "{ analytics { funnel { stage { key } amount hiddenAmountCount totals { amount currency } baseTotal { amount currency rateDate missingRates } } } }"


async def set_base(gql, currency: str, as_="sales_admin") -> dict:
    return (await gql.ok(SET_BASE, {"c": currency}, as_=as_))["setBaseCurrency"]


async def set_rate(gql, currency: str, rate: str, day: date | None = None, as_="sales_admin") -> dict:
    fields = {"currency": currency, "rate": rate, **({"date": day.isoformat()} if day else {})}
    return (await gql.ok(SET_RATE, {"i": fields}, as_=as_))["setExchangeRate"]


async def card(org, title: str, amount, currency: str | None, stage: str = "lead", owner="sales_member") -> str:
    opp, errors = await rules.create_opportunity(org.ctx(owner), {
        "title": title, "account_name": f"{title} Ltd", "amount": amount, "currency": currency,
        "expected_close_date": date(2030, 1, 1),
    })
    assert not errors, errors
    if stage != "lead":  # straight into a later stage: the gates are not what this file tests
        async with org.db.write() as s:
            stage_id = await s.scalar(select(m.Stage.id).join(m.Pipeline).where(m.Pipeline.org_id == org.id, m.Stage.key == stage))
            await s.execute(update(m.Opportunity).where(m.Opportunity.id == opp.id).values(stage_id=stage_id))
    return to_global("Opportunity", opp.id)


def columns(data: dict) -> dict:
    return {c["stage"]["key"]: c for c in data["board"]["columns"]}


def funnel(data: dict) -> dict:
    return {f["stage"]["key"]: f for f in data["analytics"]["funnel"]}


async def test_mixed_currencies_are_totalled_per_currency_and_converted_with_the_newest_rate(gql, org, clock):
    today = clock.now.date()
    assert (await set_base(gql, "CNY")) == {"baseCurrency": "CNY", "userErrors": []}
    assert (await set_rate(gql, "EUR", "7.8", today - timedelta(days=10)))["userErrors"] == []
    await set_rate(gql, "USD", "7.0", today - timedelta(days=30))  # older: superseded
    await set_rate(gql, "USD", "7.2", today - timedelta(days=5))
    await set_rate(gql, "USD", "7.5", today + timedelta(days=1))  # not yet in force
    for title, amount, currency, stage in [
        ("Berlin", 45000, "EUR", "lead"), ("Munich", 45000, "EUR", "lead"), ("Boston", 240000, "USD", "lead"),
        ("Shanghai", 560000, "CNY", "won"), ("Suzhou", 560000, "CNY", "won"), ("Austin", 247000, "USD", "won"),
    ]:
        await card(org, title, amount, currency, stage)

    board = columns(await gql.ok(BOARD))
    assert board["lead"]["totals"] == [{"amount": "90000.00", "currency": "EUR"}, {"amount": "240000.00", "currency": "USD"}]
    # 90,000 x 7.8 + 240,000 x 7.2; the oldest rate used dates the total.
    assert board["lead"]["baseTotal"] == {"amount": "2430000.00", "currency": "CNY",
                                          "rateDate": (today - timedelta(days=10)).isoformat(), "missingRates": []}
    assert board["lead"]["totalAmount"] == "2430000.00"
    assert board["won"]["totals"] == [{"amount": "1120000.00", "currency": "CNY"}, {"amount": "247000.00", "currency": "USD"}]
    assert board["won"]["baseTotal"] == {"amount": "2898400.00", "currency": "CNY",
                                         "rateDate": (today - timedelta(days=5)).isoformat(), "missingRates": []}
    assert board["won"]["totalAmount"] == "2898400.00"
    assert board["qualified"]["totals"] == [] and board["qualified"]["baseTotal"]["amount"] == "0.00"

    # Analytics gives the same figures for the same cards.
    stages = funnel(await gql.ok(FUNNEL))
    for key in ("lead", "won"):
        assert stages[key]["totals"] == board[key]["totals"] and stages[key]["baseTotal"] == board[key]["baseTotal"]
        assert stages[key]["amount"] == board[key]["totalAmount"]

    # Just after midnight (UTC) the newer USD rate is in force (sign-in tokens last a day).
    clock.advance(seconds=(datetime.combine(today + timedelta(days=1), time(), timezone.utc) - clock.now).total_seconds() + 60)
    won = columns(await gql.ok(BOARD))["won"]
    assert won["baseTotal"]["amount"] == "2972500.00" and won["baseTotal"]["rateDate"] == (today + timedelta(days=1)).isoformat()


async def test_a_missing_rate_is_reported_and_nothing_is_added_unconverted(gql, org, clock):
    today = clock.now.date()
    await set_base(gql, "CNY")
    await set_rate(gql, "GBP", "9.1", today + timedelta(days=1))  # only a future rate
    await card(org, "London", 1000, "GBP")
    await card(org, "Hangzhou", 5000, "CNY")
    lead = columns(await gql.ok(BOARD))["lead"]
    assert lead["totals"] == [{"amount": "5000.00", "currency": "CNY"}, {"amount": "1000.00", "currency": "GBP"}]
    assert lead["baseTotal"] == {"amount": None, "currency": "CNY", "rateDate": None, "missingRates": ["GBP"]}
    assert lead["totalAmount"] == "5000.00"  # the part that converts; never 6000
    assert funnel(await gql.ok(FUNNEL))["lead"]["baseTotal"]["missingRates"] == ["GBP"]
    # Setting the rate appends an event, so the cached board is not served again.
    await set_rate(gql, "GBP", "9", today)
    lead = columns(await gql.ok(BOARD))["lead"]
    assert lead["baseTotal"] == {"amount": "14000.00", "currency": "CNY", "rateDate": today.isoformat(), "missingRates": []}


async def test_hidden_amounts_stay_out_of_every_total(gql, org, clock):
    await set_rate(gql, "EUR", "1.1", clock.now.date())
    await card(org, "Big", 500, "USD")
    await card(org, "Euro", 200, "EUR")
    await card(org, "Unpriced", None, "EUR")
    rule = """mutation { setAccessRule(input: {role: MEMBER, departmentKey: "marketing", scope: ALL, hiddenFields: ["amount"]}) {
      userErrors { code } } }"""
    assert (await gql.ok(rule, as_="sales_admin"))["setAccessRule"]["userErrors"] == []
    hidden = columns(await gql.ok(BOARD, as_="marketing_member"))["lead"]
    assert hidden == {"stage": {"key": "lead"}, "totalCount": 3, "totalAmount": "0.00", "hiddenAmountCount": 2, "totals": [],
                      "baseTotal": {"amount": "0.00", "currency": "USD", "rateDate": None, "missingRates": []}}
    hidden_funnel = funnel(await gql.ok(FUNNEL, as_="marketing_member"))["lead"]
    assert (hidden_funnel["amount"], hidden_funnel["hiddenAmountCount"], hidden_funnel["totals"]) == ("0.00", 2, [])
    shown = columns(await gql.ok(BOARD, as_="sales_member"))["lead"]
    assert shown["totals"] == [{"amount": "500.00", "currency": "USD"}, {"amount": "200.00", "currency": "EUR"}]
    assert (shown["totalAmount"], shown["hiddenAmountCount"]) == ("720.00", 0)


async def test_rates_and_base_currency_are_for_admins_and_bad_input_writes_nothing(gql, org, clock):
    today = clock.now.date()
    refused = await set_rate(gql, "EUR", "7.8", as_="sales_member")
    assert refused == {"exchangeRate": None, "userErrors": [{"field": None, "code": "FORBIDDEN", "message": "Only an admin can set exchange rates"}]}
    assert (await set_base(gql, "CNY", as_="sales_manager"))["userErrors"][0]["code"] == "FORBIDDEN"
    bad = await set_rate(gql, "EURO", "-1", date(1999, 1, 1))
    assert sorted((e["field"][0], e["code"]) for e in bad["userErrors"]) == [("currency", "VALIDATION"), ("date", "VALIDATION"), ("rate", "VALIDATION")]
    assert (await set_rate(gql, "USD", "1"))["userErrors"][0]["field"] == ["currency"]  # the base itself
    assert (await set_rate(gql, "JPY", "0.000000001"))["userErrors"][0]["field"] == ["rate"]  # nine decimals
    assert (await set_base(gql, "dollars"))["userErrors"][0]["code"] == "VALIDATION"
    assert await gql.ok(RATES) == {"baseCurrency": "USD", "exchangeRates": []}
    async with org.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(m.Event).where(m.Event.org_id == org.id)) == 0

    # Set, replaced on the same date, listed newest first; the date defaults to today.
    assert (await set_rate(gql, "eur", "1.05", today - timedelta(days=3)))["exchangeRate"] == {
        "currency": "EUR", "baseCurrency": "USD", "rate": "1.05", "date": (today - timedelta(days=3)).isoformat()}
    await set_rate(gql, "EUR", "1.07", today - timedelta(days=3))
    await set_rate(gql, "CNY", "0.138")
    assert (await gql.ok(RATES, as_="sales_viewer"))["exchangeRates"] == [
        {"currency": "CNY", "baseCurrency": "USD", "rate": "0.138", "date": today.isoformat()},
        {"currency": "EUR", "baseCurrency": "USD", "rate": "1.07", "date": (today - timedelta(days=3)).isoformat()},
    ]
    assert [r["currency"] for r in (await gql.ok('{ exchangeRates(currency: "eur") { currency } }'))["exchangeRates"]] == ["EUR"]
    # Who set each rate (the rates screen shows it).
    setters = (await gql.ok("{ exchangeRates { currency setBy { handle } } }", as_="sales_viewer"))["exchangeRates"]
    assert setters == [{"currency": "CNY", "setBy": {"handle": "sales_admin"}}, {"currency": "EUR", "setBy": {"handle": "sales_admin"}}]
    # Rates belong to the base they were set for: a new base starts without any.
    await set_base(gql, "CNY")
    assert await gql.ok(RATES) == {"baseCurrency": "CNY", "exchangeRates": []}
    async with org.db.read() as s:
        types = (await s.execute(select(m.Event.type).where(m.Event.org_id == org.id))).scalars().all()
    assert types == ["MONEY_SETTINGS_UPDATED"] * 4


CREATE = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id version currency amount } userErrors { field code } } }"""
UPDATE = """mutation($i: UpdateOpportunityInput!) { updateOpportunity(input: $i) {
  opportunity { version currency amount } userErrors { field code } } }"""


async def test_create_defaults_to_the_base_currency_and_update_changes_it(gql, org):
    usd = (await gql.ok(CREATE, {"i": {"title": "Before", "accountName": "A", "amount": "10.5"}}))["createOpportunity"]
    assert (usd["opportunity"]["currency"], usd["opportunity"]["amount"]) == ("USD", "10.50")
    await set_base(gql, "CNY")
    made = (await gql.ok(CREATE, {"i": {"title": "Deal", "accountName": "A", "amount": "1000"}}))["createOpportunity"]["opportunity"]
    assert made["currency"] == "CNY"
    chosen = (await gql.ok(CREATE, {"i": {"title": "Euro deal", "accountName": "A", "currency": "eur"}}))["createOpportunity"]
    assert chosen["opportunity"]["currency"] == "EUR"
    bad = (await gql.ok(CREATE, {"i": {"title": "Bad", "accountName": "A", "currency": "€"}}))["createOpportunity"]
    assert bad == {"opportunity": None, "userErrors": [{"field": ["currency"], "code": "VALIDATION"}]}

    changed = (await gql.ok(UPDATE, {"i": {"id": made["id"], "version": made["version"], "currency": "USD"}}))["updateOpportunity"]
    assert changed["userErrors"] == [] and changed["opportunity"]["currency"] == "USD"
    history = """query($id: ID!) { node(id: $id) { ... on Opportunity { history(first: 1) { edges { node { changes } } } } } }"""
    assert (await gql.ok(history, {"id": made["id"]}))["node"]["history"]["edges"][0]["node"]["changes"] == {"currency": ["CNY", "USD"]}
    version = changed["opportunity"]["version"]
    bad = (await gql.ok(UPDATE, {"i": {"id": made["id"], "version": version, "currency": "dollar"}}))["updateOpportunity"]
    assert bad["userErrors"] == [{"field": ["currency"], "code": "VALIDATION"}]
    # A pending approval locks the currency.
    _, errors = await approvals.request_approval(org.ctx("sales_member"), {"opportunity_id": made["id"], "kind": "discount", "department_keys": ["finance"]})
    assert not errors
    locked = (await gql.ok(UPDATE, {"i": {"id": made["id"], "version": version, "currency": "EUR"}}))["updateOpportunity"]
    assert locked["opportunity"] is None and locked["userErrors"][0]["code"] == "LOCKED"


def csv_bytes(rows: list[list]) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode()


async def imported(org) -> dict[str, tuple]:
    async with org.db.read() as s:
        rows = (await s.execute(
            select(m.Opportunity.title, m.Opportunity.amount, m.Opportunity.currency, m.Stage.key, m.Opportunity.priority)
            .join(m.Stage, m.Stage.id == m.Opportunity.stage_id).where(m.Opportunity.org_id == org.id)
        )).all()
    return {title: (amount, currency, stage, priority) for title, amount, currency, stage, priority in rows}


async def test_the_importer_reads_yuan_wan_and_rmb(org, clock):
    data = csv_bytes([
        ["客户", "商机名称", "金额"],
        ["星辰科技", "符号", "¥1,500,000"],
        ["星辰科技", "全角符号", "￥2,000.50"],
        ["星辰科技", "万", "150万"],
        ["星辰科技", "亿", "1.2亿"],
        ["星辰科技", "人民币万", "RMB 8.8万"],
        ["星辰科技", "万元", "30万元"],
        ["Northwind", "Euro", "€45,000"],
        ["Northwind", "Plain", "1000"],
    ])
    report = await import_opportunities(org.ctx("sales_admin", clock), data, "money.csv")
    assert report.rejected == [] and report.created == 8
    got = {title: row[:2] for title, row in (await imported(org)).items()}
    assert got == {
        "符号": (Decimal("1500000.00"), "CNY"), "全角符号": (Decimal("2000.50"), "CNY"), "万": (Decimal("1500000.00"), "CNY"),
        "亿": (Decimal("120000000.00"), "CNY"), "人民币万": (Decimal("88000.00"), "CNY"), "万元": (Decimal("300000.00"), "CNY"),
        "Euro": (Decimal("45000.00"), "EUR"), "Plain": (Decimal("1000.00"), "USD"),  # no symbol: the base currency
    }


async def test_a_symbol_that_contradicts_the_currency_column_is_refused(org, clock):
    data = csv_bytes([
        ["客户", "商机名称", "金额", "币种"],
        ["星辰科技", "一致", "¥100", "人民币"],
        ["星辰科技", "矛盾", "$45,000", "CNY"],
        ["星辰科技", "无符号", "45000", "EUR"],
        ["星辰科技", "坏币种", "100", "元宝"],
    ])
    before = await imported(org)
    report = await import_opportunities(org.ctx("sales_admin", clock), data, "money.csv")
    assert [r.row for r in report.rejected] == [3, 5] and not report.written
    assert report.rejected[0].reasons == ["amount is written in USD but the currency column says CNY"]
    assert "three-letter ISO code" in report.rejected[1].reasons[0]
    assert await imported(org) == before
    report = await import_opportunities(org.ctx("sales_admin", clock), data, "money.csv", partial=True)
    assert report.created == 2
    got = await imported(org)
    assert (got["一致"][:2], got["无符号"][:2]) == ((Decimal("100.00"), "CNY"), (Decimal("45000.00"), "EUR"))


async def test_chinese_exports_write_chinese_values_and_round_trip(org, clock):
    data = csv_bytes([
        ["客户", "商机名称", "金额", "币种", "阶段", "优先级"],
        ["华东制造", "智能工厂", "120万", "", "方案报价", "高"],
        ["Northwind", "EU expansion", "€45,000.75", "", "Negotiation", "URGENT"],
    ])
    ctx = org.ctx("sales_admin", clock)
    assert (await import_opportunities(ctx, data, "in.csv")).created == 2
    header, rows = await export_rows(ctx, None, chinese=True)
    exported = {row[0]: dict(zip(header, row)) for row in rows}
    assert exported["智能工厂"]["阶段"] == "方案报价" and exported["智能工厂"]["优先级"] == "高"
    assert exported["EU expansion"]["阶段"] == "商务谈判" and exported["EU expansion"]["优先级"] == "紧急"
    assert (exported["智能工厂"]["金额"], exported["智能工厂"]["币种"]) == (Decimal("1200000.00"), "CNY")
    english_header, english = await export_rows(ctx, None)
    assert {r[english_header.index("Stage")] for r in english} == {"Proposal", "Negotiation"}
    before = await imported(org)
    report = await import_opportunities(ctx, to_csv(header, rows), "export.csv")
    assert report.rejected == [] and (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert await imported(org) == before  # the export carries the ids: Chinese values read back as the same deals


async def test_currency_cannot_be_cleared(gql, org):
    made = await gql.ok('mutation { createOpportunity(input: {title: "X", accountName: "A", currency: "EUR"}) { opportunity { id version } } }')
    opp = made["createOpportunity"]["opportunity"]
    answer = await gql.ok('mutation($i: UpdateOpportunityInput!) { updateOpportunity(input: $i) { opportunity { currency } userErrors { code field } } }',
                          {"i": {"id": opp["id"], "version": opp["version"], "currency": None}})
    assert answer["updateOpportunity"] == {"opportunity": None, "userErrors": [{"code": "VALIDATION", "field": ["currency"]}]}
