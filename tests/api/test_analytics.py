"""Analytics against a hand-computed fixture built with the injectable clock."""
from datetime import date, timedelta
from decimal import Decimal

from resolvers import analytics, approvals, handoffs, opportunities, stage_work
from db import models as m
from resolvers.ids import parse_global, to_global


async def ok(result):
    value, errors = await result
    assert not errors, errors
    return value


async def test_funnel_and_medians(org, clock):
    t0 = clock.now
    ctx = org.ctx("sales_member", clock)
    legal = org.ctx("legal_member", clock)

    def at(hours):
        clock.now = t0 + timedelta(hours=hours)

    async def new(title, **f):
        o = await ok(opportunities.create_opportunity(ctx, {"title": title, "account_name": "Acme", **f}))
        return to_global("Opportunity", o.id)

    async def move(gid, stage, by=None, **f):
        async with org.db.read() as s:
            version = (await s.get(m.Opportunity, parse_global(gid)[1])).version
        return await ok(opportunities.move_opportunity(by or ctx, {"id": gid, "version": version, "stage_key": stage, **f}))

    at(0)
    a = await new("A", amount=Decimal("100"), expected_close_date=date(2030, 1, 1))
    b = await new("B")
    c = await new("C", amount=Decimal("50"))
    d = await new("D")
    h1 = await ok(handoffs.request_handoff(ctx, {"opportunity_id": c, "to_department_key": "legal"}))
    ap = await ok(approvals.request_approval(ctx, {"opportunity_id": c, "kind": "discount", "department_keys": ["legal"]}))
    at(1)
    h2 = await ok(handoffs.request_handoff(ctx, {"opportunity_id": d, "to_department_key": "legal"}))
    at(3)
    await ok(handoffs.respond_handoff(legal, {"id": to_global("Handoff", h1.id), "accept": True}))
    at(4)
    await ok(approvals.decide_approval(legal, {"id": to_global("Approval", ap.id), "approve": True}))
    at(5)
    await move(d, "lost", lost_reason="Budget")
    at(8)
    await ok(handoffs.respond_handoff(legal, {"id": to_global("Handoff", h2.id), "accept": False}))
    at(10)
    await move(a, "qualified")
    at(20)
    await move(b, "qualified")
    at(30)
    await move(a, "proposal")
    at(40)
    await move(b, "lost", lost_reason="Budget")
    # Won lies past Contract: its approval (4 hours, like the discount) comes first.
    contract = await ok(approvals.request_approval(ctx, {"opportunity_id": a, "kind": "contract", "department_keys": ["legal"]}))
    at(44)
    await ok(approvals.decide_approval(legal, {"id": to_global("Approval", contract.id), "approve": True}))
    await move(a, "contract")  # opens the handoff to legal, Contract's owner (left unanswered)
    for key, who in (("legal-review", legal), ("payment-terms", org.ctx("finance_member", clock))):  # and its deliverables
        await ok(stage_work.check_deliverable(who, {"opportunity_id": a, "stage_key": "contract", "key": key, "done": True}))
    at(50)
    await move(a, "won", by=org.ctx("sales_manager", clock))  # a manager may leave with the handoff unanswered

    data = await analytics.analytics(ctx, None, None, None)
    rows = {r.stage.key: (r.entered, r.current, r.amount, r.conversion_to_next, r.median_hours_in_stage) for r in data.funnel}
    assert rows == {
        "lead": (4, 1, Decimal("50.00"), 0.5, 10.0),
        "qualified": (2, 0, Decimal("0.00"), 0.5, 20.0),
        "proposal": (1, 0, Decimal("0.00"), 1.0, 14.0),
        "negotiation": (0, 0, Decimal("0.00"), None, None),
        "contract": (1, 0, Decimal("0.00"), 1.0, 6.0),
        "won": (1, 1, Decimal("100.00"), None, None),
        "lost": (2, 2, Decimal("0.00"), None, None),
    }
    assert data.win_rate == round(1 / 3, 4)
    assert data.median_cycle_days == round(50 / 24, 4)
    assert data.loss_reasons == {"Budget": 2}
    assert data.median_handoff_response_hours == 5.0  # 3h and 7h
    assert data.median_approval_hours == 4.0

    empty = await analytics.analytics(ctx, None, (t0 + timedelta(days=2)).date(), None)
    assert all(r.entered == 0 for r in empty.funnel) and empty.win_rate is None


async def test_analytics_over_graphql(gql):
    body = await gql.ok("""{ analytics { funnel { stage { key } entered current amount conversionToNext medianHoursInStage }
        winRate medianCycleDays lossReasons medianHandoffResponseHours medianApprovalHours } }""")
    assert [f["stage"]["key"] for f in body["analytics"]["funnel"]][:2] == ["lead", "qualified"]
    assert body["analytics"]["lossReasons"] == {}


TOTALS = """{ analytics { funnel { stage { key } amount }
  totals { amount currency } baseTotal { amount currency rateDate missingRates }
  openTotals { amount currency } openBaseTotal { amount currency rateDate missingRates }
  wonTotals { amount currency } wonBaseTotal { amount currency rateDate missingRates } } }"""


async def test_analytics_totals_per_currency_and_in_the_base(gql, org, clock):
    """Every analytics sum is per currency, or converted into the base with its rate date:
    a mixed EUR/USD/CNY cohort, worked out by hand."""
    from sqlalchemy import select, update

    today = clock.now.date()
    admin = "sales_admin"
    base = await gql.ok('mutation { setBaseCurrency(input: {currency: "CNY"}) { userErrors { code } } }', as_=admin)
    assert base["setBaseCurrency"]["userErrors"] == []
    rate = "mutation($i: SetExchangeRateInput!) { setExchangeRate(input: $i) { userErrors { code } } }"
    for currency, value, day in (("EUR", "7.8", today - timedelta(days=3)), ("USD", "7.0", today - timedelta(days=20))):
        result = await gql.ok(rate, {"i": {"currency": currency, "rate": value, "date": day.isoformat()}}, as_=admin)
        assert result["setExchangeRate"]["userErrors"] == []

    async def card(title, amount, currency, stage):
        opp = await ok(opportunities.create_opportunity(org.ctx("sales_member"), {
            "title": title, "account_name": "Acme", "amount": Decimal(amount), "currency": currency,
            "expected_close_date": date(2030, 1, 1)}))
        async with org.db.write() as s:  # straight into the stage: the gates are tested elsewhere
            stage_id = await s.scalar(select(m.Stage.id).join(m.Pipeline).where(m.Pipeline.org_id == org.id, m.Stage.key == stage))
            await s.execute(update(m.Opportunity).where(m.Opportunity.id == opp.id).values(stage_id=stage_id))

    await card("Hangzhou", "1000", "CNY", "lead")
    await card("Berlin", "100", "EUR", "lead")
    await card("Boston", "200", "USD", "proposal")
    await card("Vienna", "50.50", "EUR", "proposal")
    await card("Suzhou", "3000", "CNY", "won")
    await card("Austin", "10", "USD", "won")
    await card("Paris", "400", "EUR", "lost")

    data = (await gql.ok(TOTALS))["analytics"]
    usd_day = (today - timedelta(days=20)).isoformat()  # older than the EUR rate's date
    # All: CNY 1000 + 3000; EUR 100 + 50.50 + 400; USD 200 + 10.
    assert data["totals"] == [{"amount": "4000.00", "currency": "CNY"}, {"amount": "550.50", "currency": "EUR"},
                              {"amount": "210.00", "currency": "USD"}]
    # 4000 + 550.50 x 7.8 (4293.90) + 210 x 7.0 (1470); dated by the older (USD) rate.
    assert data["baseTotal"] == {"amount": "9763.90", "currency": "CNY", "rateDate": usd_day, "missingRates": []}
    # Open stages (lead, proposal): 1000 CNY + 150.50 EUR (1173.90) + 200 USD (1400).
    assert data["openTotals"] == [{"amount": "1000.00", "currency": "CNY"}, {"amount": "150.50", "currency": "EUR"},
                                  {"amount": "200.00", "currency": "USD"}]
    assert data["openBaseTotal"] == {"amount": "3573.90", "currency": "CNY", "rateDate": usd_day, "missingRates": []}
    # Won: 3000 CNY + 10 USD (70).
    assert data["wonTotals"] == [{"amount": "3000.00", "currency": "CNY"}, {"amount": "10.00", "currency": "USD"}]
    assert data["wonBaseTotal"] == {"amount": "3070.00", "currency": "CNY", "rateDate": usd_day, "missingRates": []}
    # The funnel's amounts stay in the base currency: lost is 400 x 7.8, proposal 200 x 7 + 50.50 x 7.8.
    amounts = {f["stage"]["key"]: f["amount"] for f in data["funnel"]}
    assert (amounts["lead"], amounts["proposal"], amounts["won"], amounts["lost"]) == ("1780.00", "1793.90", "3070.00", "3120.00")

    # A currency without a rate is listed, and no total pretends to include it.
    await card("London", "70", "GBP", "lead")
    data = (await gql.ok(TOTALS))["analytics"]
    assert [t["currency"] for t in data["totals"]] == ["CNY", "EUR", "GBP", "USD"]
    assert data["totals"][2] == {"amount": "70.00", "currency": "GBP"}
    assert data["baseTotal"] == {"amount": None, "currency": "CNY", "rateDate": usd_day, "missingRates": ["GBP"]}
    assert data["openBaseTotal"]["amount"] is None and data["openBaseTotal"]["missingRates"] == ["GBP"]
    assert data["wonBaseTotal"]["amount"] == "3070.00" and data["wonBaseTotal"]["missingRates"] == []

    # Amounts an access rule withholds are in no total.
    rule = """mutation { setAccessRule(input: {role: MEMBER, departmentKey: "marketing", scope: ALL, hiddenFields: ["amount"]}) {
      userErrors { code } } }"""
    assert (await gql.ok(rule, as_=admin))["setAccessRule"]["userErrors"] == []
    hidden = (await gql.ok(TOTALS, as_="marketing_member"))["analytics"]
    assert hidden["totals"] == [] and hidden["wonTotals"] == []
    assert hidden["baseTotal"] == {"amount": "0.00", "currency": "CNY", "rateDate": None, "missingRates": []}


async def test_analytics_statements_take_a_few_parameters_however_many_cards(org):
    """PostgreSQL takes at most 32,767 parameters per statement: an organization with more
    cards than that must not have their ids listed one by one."""
    from sqlalchemy import event

    ctx = org.ctx("sales_member")
    largest: list[int] = []  # parameters of the largest statement, per run

    def hit(conn, cursor, statement, parameters, *args):
        largest[-1] = max(largest[-1], len(parameters) if isinstance(parameters, (list, tuple, dict)) else 0)

    engine = org.db.engine.sync_engine
    made = 0
    for cards in (3, 30):
        for i in range(made, cards):
            await ok(opportunities.create_opportunity(ctx, {"title": f"Deal {i}", "account_name": "Acme"}))
        made = cards
        largest.append(0)
        event.listen(engine, "before_cursor_execute", hit)
        try:
            data = await analytics.analytics(org.ctx("sales_member"), None, None, None)
        finally:
            event.remove(engine, "before_cursor_execute", hit)
        assert sum(row.current for row in data.funnel) == cards
    assert largest[0] == largest[1], largest
