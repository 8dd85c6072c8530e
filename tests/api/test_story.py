"""End to end: a deal from qualification to won across sales, legal and finance."""
from sqlalchemy import select

from db import models as m
from resolvers import analytics
from resolvers.ids import parse_global
from resolvers.alerts import raise_alerts
from api.settings import Settings
from tests.api.workflow_helpers import (
    DECIDE, RESPOND_HANDOFF, REQUEST_HANDOFF, UPDATE, create, inbox, move, mutate, opp,
)

COMMENT = "mutation($input: AddCommentInput!) { addComment(input: $input) { userErrors { code } } }"
CHECK = "mutation($input: CheckDeliverableInput!) { checkDeliverable(input: $input) { userErrors { code message } } }"
ANALYTICS = "{ analytics { funnel { stage { key } entered current } winRate } }"


async def test_a_deal_from_qualified_to_won(gql, org, clock):
    deal = await create(gql, title="Hospital suite")
    gid = deal["id"]
    assert (await move(gql, gid, "qualified"))["userErrors"] == []

    # Stopped at proposal until the amount and close date are set.
    gated = await move(gql, gid, "proposal")
    assert gated["userErrors"][0]["code"] == "STAGE_GATE"
    card = await opp(gql, gid)
    await gql.ok(UPDATE, {"input": {"id": gid, "version": card["version"], "amount": "180000", "expectedCloseDate": "2030-06-30"}})
    assert (await move(gql, gid, "proposal"))["userErrors"] == []
    assert (await move(gql, gid, "negotiation"))["userErrors"] == []

    # Sales hands it to legal; legal accepts and now holds the baton.
    h = (await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=gid, toDepartmentKey="legal", note="Redlines attached"))["handoff"]
    assert (await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_manager", id=h["id"], accept=True))["userErrors"] == []
    assert (await opp(gql, gid))["department"]["key"] == "legal"

    # Asking for contract opens the legal → finance approval automatically.
    refused = await move(gql, gid, "contract")
    assert refused["userErrors"][0]["code"] == "STAGE_GATE"
    [approval] = (await opp(gql, gid))["approvals"]
    assert (await mutate(gql, DECIDE, "decideApproval", as_="legal_member", id=approval["id"], approve=True))["approval"]["status"] == "PENDING"

    # Finance is mentioned about payment terms and sees it in the inbox with the approval request.
    await gql.ok(COMMENT, {"input": {"opportunityId": gid, "body": "@finance can we accept net-60 payment terms?"}})
    kinds = [e["node"]["kind"] for e in (await inbox(gql, "finance_member"))["edges"]]
    assert kinds == ["mention", "approval"]
    assert (await mutate(gql, DECIDE, "decideApproval", as_="finance_member", id=approval["id"], approve=True, comment="net-60 ok"))["approval"]["status"] == "APPROVED"

    assert (await move(gql, gid, "contract"))["opportunity"]["stage"]["key"] == "contract"
    # Won needs Contract's deliverables: legal's review and finance's payment terms.
    for key, who in (("legal-review", "legal_member"), ("payment-terms", "finance_member")):
        ticked = await gql.ok(CHECK, {"input": {"opportunityId": gid, "stageKey": "contract", "key": key, "done": True}}, as_=who)
        assert ticked["checkDeliverable"]["userErrors"] == []
    assert (await move(gql, gid, "won"))["opportunity"]["stage"]["key"] == "won"

    # A stalled deal raises an alert for its owner.
    stalled = await create(gql, title="Quiet lead")
    async with org.db.read() as s:
        row = await s.get(m.Opportunity, parse_global(stalled["id"])[1])
    clock.now = row.last_activity_at
    clock.advance(hours=73)
    assert await raise_alerts(org.db, clock(), Settings(), org_id=org.id) == 1
    async with org.db.read() as s:
        alerts = list((await s.execute(select(m.Notification).where(m.Notification.user_id == org.users["sales_member"].id, m.Notification.kind == "alert"))).scalars())
    assert len(alerts) == 1 and "Quiet lead" in alerts[0].message

    # Analytics show the funnel (as of real time, through the resolver: tokens expire on the moved clock).
    data = await analytics.analytics(org.ctx("sales_member"), None, None, None)
    funnel = {r.stage.key: (r.entered, r.current) for r in data.funnel}
    assert funnel["lead"] == (2, 1) and funnel["proposal"] == (1, 0) and funnel["contract"] == (1, 0) and funnel["won"] == (1, 1)
    assert data.win_rate == 1.0
