"""Collaboration per department: handoff response and approval turnaround (median, p90),
deals taken part in and time holding the baton, against times set with the test clock."""
from datetime import datetime, timedelta, timezone

from tests.api.test_stuck import long_tokens  # noqa: F401 (fixture)
from tests.api.workflow_helpers import DECIDE, REQUEST_APPROVAL, REQUEST_HANDOFF, RESPOND_HANDOFF, create, mutate

COLLABORATION = """query($from: DateTime!, $to: DateTime!) { collaboration(from: $from, to: $to) {
  department { key } dealCount batonTotalHours
  handoffResponse { count medianHours p90Hours } approvalTurnaround { count medianHours p90Hours }
  batonHours { count medianHours p90Hours } } }"""
T0 = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)


async def test_collaboration_per_department(gql, org, clock):
    def at(hours):
        clock.now = T0 + timedelta(hours=hours)

    async def handoff(card, to):
        made = await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=card, toDepartmentKey=to)
        assert made["userErrors"] == []
        return made["handoff"]["id"]

    async def respond(handoff_id, who, accept=True):
        assert (await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_=who, id=handoff_id, accept=accept))["userErrors"] == []

    async def approval(card, departments):
        made = await mutate(gql, REQUEST_APPROVAL, "requestApproval", opportunityId=card, kind="discount", departmentKeys=departments)
        assert made["userErrors"] == []
        return made["approval"]["id"]

    async def decide(approval_id, who):
        assert (await mutate(gql, DECIDE, "decideApproval", as_=who, id=approval_id, approve=True))["userErrors"] == []

    at(0)
    one, two, three, four = [(await create(gql, title=t))["id"] for t in ("One", "Two", "Three", "Four")]
    h1, h2, h3 = await handoff(one, "legal"), await handoff(two, "legal"), await handoff(three, "finance")
    a1 = await approval(four, ["legal", "finance"])  # sequential: finance's step opens when legal decides
    at(1)
    five = (await create(gql, title="Five"))["id"]
    a2 = await approval(five, ["legal"])
    at(2)
    await respond(h1, "legal_member", accept=False)  # 2 h
    await decide(a2, "legal_member")  # 1 h
    h4 = await handoff(one, "legal")
    at(3)
    await decide(a1, "legal_member")  # 3 h
    at(4)
    await respond(h2, "legal_member")  # 4 h: Two is Legal's from now
    at(6)
    await respond(h3, "finance_member")  # 6 h: Three is Finance's
    at(8)
    await decide(a1, "finance_member")  # 5 h after its step opened
    at(12)
    await respond(h4, "legal_member")  # 10 h: One is Legal's
    at(20)

    window = {"from": (T0 - timedelta(hours=1)).isoformat(), "to": (T0 + timedelta(days=1)).isoformat()}
    rows = {r["department"]["key"]: r for r in (await gql.ok(COLLABORATION, window))["collaboration"]}
    assert list(rows) == ["sales", "marketing", "product", "legal", "finance"]
    figures = {key: (r["handoffResponse"], r["approvalTurnaround"], r["dealCount"], r["batonHours"], r["batonTotalHours"])
               for key, r in rows.items()}
    none = {"count": 0, "medianHours": None, "p90Hours": None}
    # Legal answered in 2, 4 and 10 hours: median 4, p90 4 + 0.8 x (10 - 4) = 8.8. Its steps took 3 and 1 hours.
    # Baton (up to now, 20 h): Sales held One 12, Two 4, Three 6, Four 20, Five 19 h; Legal One 8, Two 16; Finance Three 14.
    assert figures == {
        "sales": (none, none, 5, {"count": 5, "medianHours": 12.0, "p90Hours": 19.6}, 61.0),
        "marketing": (none, none, 0, none, 0),
        "product": (none, none, 0, none, 0),
        "legal": ({"count": 3, "medianHours": 4.0, "p90Hours": 8.8}, {"count": 2, "medianHours": 2.0, "p90Hours": 2.8},
                  4, {"count": 2, "medianHours": 12.0, "p90Hours": 15.2}, 24.0),
        "finance": ({"count": 1, "medianHours": 6.0, "p90Hours": 6.0}, {"count": 1, "medianHours": 5.0, "p90Hours": 5.0},
                    2, {"count": 1, "medianHours": 14.0, "p90Hours": 14.0}, 14.0),
    }

    # A window ending earlier cuts the baton there and leaves out what was requested later.
    early = {"from": window["from"], "to": (T0 + timedelta(minutes=30)).isoformat()}
    rows = {r["department"]["key"]: r for r in (await gql.ok(COLLABORATION, early))["collaboration"]}
    assert rows["legal"]["handoffResponse"] == {"count": 2, "medianHours": 3.0, "p90Hours": 3.8}  # h1, h2 (h4 came at 2 h)
    assert rows["legal"]["approvalTurnaround"] == {"count": 1, "medianHours": 3.0, "p90Hours": 3.0}  # a1 (a2 opened at 1 h)
    assert [rows[k]["dealCount"] for k in ("sales", "legal", "finance")] == [4, 3, 2]  # Five came at 1 h
    assert (rows["sales"]["batonTotalHours"], rows["legal"]["batonTotalHours"]) == (2.0, 0)  # 4 cards x 0.5 h

    body = await gql(COLLABORATION, {"from": window["to"], "to": window["from"]})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
