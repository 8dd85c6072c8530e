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
