"""The weighted forecast (categories, currencies, seven days ago from the event log) and
targets with their attainment, against figures worked out by hand."""
from datetime import datetime, timezone

from sqlalchemy import select, update

from db import models as m
from resolvers.ids import to_global
from tests.api.test_stuck import long_tokens  # noqa: F401 (fixture)
from tests.api.workflow_helpers import CREATE, MOVE, UPDATE, opp

SET_CATEGORY = """mutation($input: SetForecastCategoryInput!) { setForecastCategory(input: $input) {
  opportunity { forecastCategory version } userErrors { code field } } }"""
FORECAST = """query($g: PlanningScope!, $from: Date, $to: Date) { forecast(groupBy: $g, from: $from, to: $to) {
  baseCurrency weightedAmount weightedAmountWeekAgo movedSinceLastWeek unscheduledCount hiddenAmountCount missingRates
  rows { month category count countWeekAgo amount weightedAmount weightedAmountWeekAgo movedSinceLastWeek
         owner { handle } department { key } } } }"""
SET_TARGET = """mutation($input: SetTargetInput!) { setTarget(input: $input) {
  target { scope period wonAmountTarget newQualifiedTarget wonAmount wonCount newQualifiedCount wonAttainment qualifiedAttainment
           owner { handle } department { key } }
  userErrors { code field } } }"""
TARGETS = """query($p: String!) { targets(period: $p) { scope period wonAmountTarget newQualifiedTarget wonAmount wonCount
  newQualifiedCount wonAttainment qualifiedAttainment hiddenAmountCount owner { handle } department { key } } }"""
RATE = "mutation($i: SetExchangeRateInput!) { setExchangeRate(input: $i) { userErrors { code } } }"
UTC = timezone.utc


async def open_gates(org):
    """Stages without gates, owners or deliverables: these tests move cards freely."""
    async with org.db.write() as s:
        await s.execute(update(m.Stage).where(m.Stage.pipeline_id.in_(select(m.Pipeline.id).where(m.Pipeline.org_id == org.id))).values(
            required_fields=[], required_approvals=[], auto_approval=None, owner=None, deliverables=[],
            require_previous_deliverables=False, required_files=[]))


async def rates(gql, day="2026-10-01"):
    for currency, value in (("CNY", "0.14"), ("EUR", "1.1")):
        assert (await gql.ok(RATE, {"i": {"currency": currency, "rate": value, "date": day}}, as_="sales_admin"))["setExchangeRate"]["userErrors"] == []


async def new(gql, org, title, owner="sales_member", **fields):
    data = {"title": title, "accountName": "Acme", "ownerId": to_global("User", org.users[owner].id), **fields}
    made = (await gql.ok(CREATE, {"input": data}))["createOpportunity"]
    assert made["userErrors"] == [], made
    return made["opportunity"]["id"]


async def move(gql, gid, stage):
    version = (await opp(gql, gid))["version"]
    result = (await gql.ok(MOVE, {"input": {"id": gid, "version": version, "stageKey": stage}}, as_="sales_admin"))["moveOpportunity"]
    assert result["userErrors"] == [], result


async def edit(gql, gid, **fields):
    version = (await opp(gql, gid))["version"]
    result = (await gql.ok(UPDATE, {"input": {"id": gid, "version": version, **fields}}, as_="sales_admin"))["updateOpportunity"]
    assert result["userErrors"] == [], result


async def categorize(gql, gid, category, as_="sales_member"):
    version = (await opp(gql, gid))["version"]
    return (await gql.ok(SET_CATEGORY, {"input": {"id": gid, "version": version, "category": category}}, as_=as_))["setForecastCategory"]


async def test_forecast_weighted_by_month_and_category_and_a_week_ago(gql, org, clock):
    clock.now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    await open_gates(org)
    await rates(gql)
    a = await new(gql, org, "A", amount="10000", probability=50, expectedCloseDate="2027-01-15")
    assert (await categorize(gql, a, "COMMIT"))["opportunity"]["forecastCategory"] == "COMMIT"
    b = await new(gql, org, "B", amount="100000", currency="CNY", probability=30, expectedCloseDate="2027-01-20")
    c = await new(gql, org, "C", owner="legal_manager", amount="2000", currency="EUR", probability=75, expectedCloseDate="2027-02-10")
    assert (await categorize(gql, c, "BEST_CASE", as_="sales_admin"))["userErrors"] == []
    d = await new(gql, org, "D", owner="sales_manager", amount="3000", probability=20, expectedCloseDate="2027-02-28")
    await move(gql, d, "won")
    await new(gql, org, "E", amount="500", probability=90)  # no close date
    await new(gql, org, "F", probability=90, expectedCloseDate="2027-01-01")  # no amount
    g = await new(gql, org, "G", amount="999", probability=90, expectedCloseDate="2027-01-01")
    version = (await opp(gql, g))["version"]
    lost = (await gql.ok(MOVE, {"input": {"id": g, "version": version, "stageKey": "lost", "lostReason": "Budget"}}, as_="sales_admin"))
    assert lost["moveOpportunity"]["userErrors"] == []
    await new(gql, org, "H", amount="7000", probability=10, expectedCloseDate="2028-05-01")  # outside from..to

    # Refusals: CLOSED is not a call, nor is someone else's deal.
    refused = await categorize(gql, a, "CLOSED")
    assert refused["userErrors"] == [{"code": "VALIDATION", "field": ["category"]}]
    assert (await categorize(gql, c, "COMMIT", as_="sales_member"))["userErrors"][0]["code"] == "FORBIDDEN"
    assert (await gql.ok(SET_CATEGORY, {"input": {"id": a, "version": 1, "category": "PIPELINE"}}))["setForecastCategory"]["userErrors"] == [
        {"code": "CONFLICT", "field": ["version"]}]

    clock.advance(days=8)
    await edit(gql, a, probability=80)
    await edit(gql, b, expectedCloseDate="2027-03-05")
    assert (await categorize(gql, c, "COMMIT", as_="legal_manager"))["userErrors"] == []
    await new(gql, org, "I", amount="1000", probability=50, expectedCloseDate="2027-01-31")  # new this week

    window = {"from": "2027-01-01", "to": "2027-12-31"}
    data = (await gql.ok(FORECAST, {"g": "ORGANIZATION", **window}))["forecast"]
    assert (data["baseCurrency"], data["weightedAmount"], data["weightedAmountWeekAgo"], data["movedSinceLastWeek"]) == (
        "USD", "17350.00", "13850.00", "3500.00")
    assert (data["unscheduledCount"], data["hiddenAmountCount"], data["missingRates"]) == (2, 0, [])
    rows = [(r["month"], r["category"], r["count"], r["countWeekAgo"], r["amount"], r["weightedAmount"],
             r["weightedAmountWeekAgo"], r["movedSinceLastWeek"]) for r in data["rows"]]
    assert rows == [
        ("2027-01", "PIPELINE", 1, 1, "1000.00", "500.00", "4200.00", "-3700.00"),  # I now; B (CNY 30000 x 0.14) then
        ("2027-01", "COMMIT", 1, 1, "10000.00", "8000.00", "5000.00", "3000.00"),  # A at 80%, at 50% then
        ("2027-02", "BEST_CASE", 0, 1, "0.00", "0.00", "1650.00", "-1650.00"),  # C (EUR 1500 x 1.1) was best case
        ("2027-02", "COMMIT", 1, 0, "2200.00", "1650.00", "0.00", "1650.00"),
        ("2027-02", "CLOSED", 1, 1, "3000.00", "3000.00", "3000.00", "0.00"),  # D won: 100%
        ("2027-03", "PIPELINE", 1, 0, "14000.00", "4200.00", "0.00", "4200.00"),  # B's close date moved
    ]
    assert all(r["owner"] is None and r["department"] is None for r in data["rows"])

    by_department = (await gql.ok(FORECAST, {"g": "DEPARTMENT", **window}))["forecast"]["rows"]
    assert [(r["department"]["key"], r["month"], r["category"], r["weightedAmount"]) for r in by_department] == [
        ("sales", "2027-01", "PIPELINE", "500.00"), ("sales", "2027-01", "COMMIT", "8000.00"),
        ("legal", "2027-02", "BEST_CASE", "0.00"), ("legal", "2027-02", "COMMIT", "1650.00"),
        ("sales", "2027-02", "CLOSED", "3000.00"), ("sales", "2027-03", "PIPELINE", "4200.00"),
    ]
    by_owner = (await gql.ok(FORECAST, {"g": "OWNER", **window}))["forecast"]["rows"]
    assert [(r["owner"]["handle"], r["category"], r["weightedAmount"]) for r in by_owner if r["month"] == "2027-02"] == [
        ("legal_manager", "BEST_CASE", "0.00"), ("legal_manager", "COMMIT", "1650.00"), ("sales_manager", "CLOSED", "3000.00")]

    # Without a window H (2028-05, 700.00) counts too.
    everything = (await gql.ok(FORECAST, {"g": "ORGANIZATION"}))["forecast"]
    assert (everything["weightedAmount"], everything["weightedAmountWeekAgo"]) == ("18050.00", "14550.00")

    # A viewer whose amounts are withheld sums nothing and is told how many were left out.
    rule = """mutation { setAccessRule(input: {role: MEMBER, departmentKey: "marketing", scope: ALL, hiddenFields: ["amount"]}) {
      userErrors { code } } }"""
    assert (await gql.ok(rule, as_="sales_admin"))["setAccessRule"]["userErrors"] == []
    hidden = (await gql.ok(FORECAST, {"g": "ORGANIZATION", **window}, as_="marketing_member"))["forecast"]
    assert (hidden["rows"], hidden["weightedAmount"], hidden["hiddenAmountCount"], hidden["unscheduledCount"]) == ([], "0.00", 7, 0)
    # A currency without a rate is named, not summed.
    await new(gql, org, "J", amount="100", currency="GBP", probability=100, expectedCloseDate="2027-01-02")
    data = (await gql.ok(FORECAST, {"g": "ORGANIZATION", **window}))["forecast"]
    assert (data["weightedAmount"], data["missingRates"]) == ("17350.00", ["GBP"])


async def test_target_attainment_from_the_event_log(gql, org, clock):
    await open_gates(org)
    clock.now = datetime(2026, 10, 25, 9, tzinfo=UTC)
    await rates(gql)
    p = await new(gql, org, "P", amount="1000")
    t = await new(gql, org, "T", amount="200")
    clock.now = datetime(2026, 10, 26, 9, tzinfo=UTC)
    await move(gql, p, "qualified")  # qualified in October
    clock.now = datetime(2026, 10, 28, 9, tzinfo=UTC)
    await move(gql, t, "won")  # won (and qualified) in October
    clock.now = datetime(2026, 11, 3, 9, tzinfo=UTC)
    q = await new(gql, org, "Q")
    await move(gql, q, "proposal")  # beyond qualified: counts
    s = await new(gql, org, "S", owner="sales_manager", amount="50000", currency="CNY")
    clock.now = datetime(2026, 11, 5, 9, tzinfo=UTC)
    await new(gql, org, "R", owner="legal_manager", stageKey="qualified")  # created qualified
    clock.now = datetime(2026, 11, 10, 9, tzinfo=UTC)
    await move(gql, p, "won")
    clock.now = datetime(2026, 11, 12, 9, tzinfo=UTC)
    await move(gql, s, "won")  # CNY 50000 x 0.14
    clock.now = datetime(2026, 11, 15, 9, tzinfo=UTC)
    u = await new(gql, org, "U", amount="300")
    await move(gql, u, "won")
    clock.now = datetime(2026, 11, 16, 9, tzinfo=UTC)
    await move(gql, u, "negotiation")  # reopened: no longer won
    v = await new(gql, org, "V")
    clock.now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    await move(gql, v, "qualified")
    clock.now = datetime(2026, 11, 21, 9, tzinfo=UTC)
    version = (await opp(gql, v))["version"]
    await gql.ok(MOVE, {"input": {"id": v, "version": version, "stageKey": "lost", "lostReason": "Budget"}}, as_="sales_admin")
    await move(gql, q, "qualified")  # back and forth: still its first time in November
    w = await new(gql, org, "W")
    clock.now = datetime(2026, 12, 2, 9, tzinfo=UTC)
    await move(gql, w, "qualified")  # December

    async def set_target(as_="sales_admin", **fields):
        return (await gql.ok(SET_TARGET, {"input": fields}, as_=as_))["setTarget"]

    made = await set_target(scope="ORGANIZATION", period="2026-11", wonAmount="10000", newQualifiedCount=4)
    assert made["userErrors"] == []
    assert made["target"] == {
        "scope": "ORGANIZATION", "period": "2026-11", "wonAmountTarget": "10000.00", "newQualifiedTarget": 4,
        "wonAmount": "8000.00", "wonCount": 2, "newQualifiedCount": 5, "wonAttainment": 0.8, "qualifiedAttainment": 1.25,
        "owner": None, "department": None}
    sales = await set_target("sales_manager", scope="DEPARTMENT", departmentKey="sales", period="2026-11", wonAmount="5000")
    assert sales["userErrors"] == []
    mine = await set_target("sales_manager", scope="OWNER", ownerId=to_global("User", org.users["sales_member"].id),
                            period="2026-11", newQualifiedCount=2)
    assert mine["userErrors"] == []
    legal = await set_target(scope="OWNER", ownerId=to_global("User", org.users["legal_manager"].id), period="2026-11", newQualifiedCount=2)
    assert legal["userErrors"] == []
    quarter = await set_target(scope="ORGANIZATION", period="2026-Q4", wonAmount="8200", newQualifiedCount=10)
    assert quarter["userErrors"] == []

    rows = (await gql.ok(TARGETS, {"p": "2026-11"}))["targets"]
    assert [(r["scope"], (r["department"] or {}).get("key"), (r["owner"] or {}).get("handle"), r["wonAmount"], r["wonCount"],
             r["newQualifiedCount"], r["wonAttainment"], r["qualifiedAttainment"]) for r in rows] == [
        ("DEPARTMENT", "sales", None, "8000.00", 2, 4, 1.6, None),  # P, S; qualified Q, S, U, V
        ("ORGANIZATION", None, None, "8000.00", 2, 5, 0.8, 1.25),
        ("OWNER", None, "sales_member", "1000.00", 1, 3, None, 1.5),  # P; Q, U, V
        ("OWNER", None, "legal_manager", "0.00", 0, 1, None, 0.5),  # R
    ]
    [q4] = (await gql.ok(TARGETS, {"p": "2026-Q4"}))["targets"]
    assert (q4["wonAmount"], q4["wonCount"], q4["newQualifiedCount"], q4["wonAttainment"], q4["qualifiedAttainment"]) == (
        "8200.00", 3, 8, 1.0, 0.8)

    # Who may set what, and bad input.
    assert (await set_target("sales_manager", scope="DEPARTMENT", departmentKey="legal", period="2026-11", wonAmount="1"))["userErrors"] == [
        {"code": "FORBIDDEN", "field": None}]
    assert (await set_target("sales_manager", scope="ORGANIZATION", period="2026-11", wonAmount="1"))["userErrors"][0]["code"] == "FORBIDDEN"
    assert (await set_target("sales_member", scope="OWNER", ownerId=to_global("User", org.users["sales_member"].id),
                             period="2026-11", wonAmount="1"))["userErrors"][0]["code"] == "FORBIDDEN"
    bad = await set_target(scope="OWNER", period="2026-13", wonAmount="-1", newQualifiedCount=-2)
    assert sorted(e["field"][0] for e in bad["userErrors"]) == ["newQualifiedCount", "ownerId", "period", "wonAmount"]
    assert {e["code"] for e in bad["userErrors"]} == {"VALIDATION"}
    body = await gql(TARGETS, {"p": "November"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # Both figures null removes a target.
    removed = await set_target("sales_manager", scope="OWNER", ownerId=to_global("User", org.users["sales_member"].id), period="2026-11")
    assert removed == {"target": None, "userErrors": []}
    assert len((await gql.ok(TARGETS, {"p": "2026-11"}))["targets"]) == 3
    async with org.db.read() as session:
        changes = [e.changes for e in (await session.execute(select(m.Event).where(
            m.Event.org_id == org.id, m.Event.type == "CONFIGURATION_CHANGED").order_by(m.Event.seq))).scalars()]
    assert [c["action"][1] for c in changes if c["subject"][1] == "target"] == ["set"] * 5 + ["removed"]
