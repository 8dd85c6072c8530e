"""What client caches need from the schema: what the viewer may do, where a moved card
came from, the card as it is after a refused change, typed event changes, nodes."""
from tests.api.workflow_helpers import CREATE, REQUEST_HANDOFF, mutate

CARD = "id version viewerCanMove viewerCanUpdate stage { key } approvals { kind status }"
MOVE = """mutation($input: MoveOpportunityInput!) { moveOpportunity(input: $input) {
  opportunity { %s } previousStage { key } current { %s } userErrors { code field } } }""" % (CARD, CARD)
UPDATE = """mutation($input: UpdateOpportunityInput!) { updateOpportunity(input: $input) {
  opportunity { id } current { id version } userErrors { code } } }"""


async def new_card(gql, **fields) -> str:
    made = (await gql.ok(CREATE, {"input": {"title": "Pilot", "accountName": "Acme", **fields}}))["createOpportunity"]
    return made["opportunity"]["id"]


async def test_viewer_abilities_follow_the_rules_that_enforce_them(gql, org):
    gid = await new_card(gql)
    q = "query($id: ID!) { node(id: $id) { ... on Opportunity { viewerCanMove viewerCanUpdate handoffs { viewerCanRespond } } } }"
    h = await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=gid, toDepartmentKey="legal")
    assert h["userErrors"] == []
    expected = {  # owner; owner's manager; admin; the receiving department; another department; read-only
        "sales_member": (True, True, False), "sales_manager": (True, True, False), "sales_admin": (True, True, True),
        "legal_member": (False, False, True), "marketing_member": (False, False, False), "sales_viewer": (False, False, False),
    }
    for who, (move, update, respond) in expected.items():
        node = (await gql.ok(q, {"id": gid}, as_=who))["node"]
        assert (node["viewerCanMove"], node["viewerCanUpdate"], node["handoffs"][0]["viewerCanRespond"]) == (move, update, respond), who
    # The holding department may edit but not move: after legal accepts, legal edits.
    accept = "mutation($i: RespondHandoffInput!) { respondHandoff(input: $i) { userErrors { code } } }"
    assert (await gql.ok(accept, {"i": {"id": h["handoff"]["id"], "accept": True}}, as_="legal_member"))["respondHandoff"]["userErrors"] == []
    node = (await gql.ok(q, {"id": gid}, as_="legal_member"))["node"]
    assert (node["viewerCanMove"], node["viewerCanUpdate"], node["handoffs"][0]["viewerCanRespond"]) == (False, True, False)


async def test_a_move_says_where_the_card_came_from(gql, org):
    gid = await new_card(gql)
    moved = (await gql.ok(MOVE, {"input": {"id": gid, "version": 1, "stageKey": "qualified"}}))["moveOpportunity"]
    assert (moved["previousStage"], moved["opportunity"]["stage"], moved["current"]) == ({"key": "lead"}, {"key": "qualified"}, None)


async def test_a_refused_change_returns_the_card_as_it_is_now(gql, org):
    gid = await new_card(gql, amount="10", expectedCloseDate="2031-01-31")
    stale = (await gql.ok(UPDATE, {"input": {"id": gid, "version": 7, "title": "x"}}))["updateOpportunity"]
    assert (stale["opportunity"], stale["current"], [e["code"] for e in stale["userErrors"]]) == (None, {"id": gid, "version": 1}, ["CONFLICT"])
    gated = (await gql.ok(MOVE, {"input": {"id": gid, "version": 1, "stageKey": "contract"}}))["moveOpportunity"]
    assert gated["opportunity"] is None and gated["userErrors"][0]["code"] == "STAGE_GATE"
    # The approval the refusal opened comes with the card.
    assert (gated["current"]["stage"], gated["current"]["approvals"]) == ({"key": "lead"}, [{"kind": "contract", "status": "PENDING"}])
    unknown = (await gql.ok(MOVE, {"input": {"id": "T3Bwb3J0dW5pdHk6OTk5OTk5", "version": 1, "stageKey": "lead"}}))["moveOpportunity"]
    assert (unknown["current"], unknown["userErrors"][0]["code"]) == (None, "NOT_FOUND")


async def test_events_carry_typed_changes_and_stages(gql, org):
    gid = await new_card(gql)
    await gql.ok(MOVE, {"input": {"id": gid, "version": 1, "stageKey": "qualified"}})
    await gql.ok(UPDATE, {"input": {"id": gid, "version": 2, "title": "Pilot 2", "probability": 40}})
    q = """query($id: ID!) { node(id: $id) { ... on Opportunity { history { edges { node {
      type fromStage { key } toStage { key } fieldChanges { field before after } } } } } } }"""
    history = [e["node"] for e in (await gql.ok(q, {"id": gid}))["node"]["history"]["edges"]]
    assert history == [
        {"type": "OPPORTUNITY_UPDATED", "fromStage": None, "toStage": None,
         "fieldChanges": [{"field": "title", "before": "Pilot", "after": "Pilot 2"}, {"field": "probability", "before": None, "after": 40}]},
        {"type": "OPPORTUNITY_MOVED", "fromStage": {"key": "lead"}, "toStage": {"key": "qualified"},
         "fieldChanges": [{"field": "stage", "before": "lead", "after": "qualified"}]},
        {"type": "OPPORTUNITY_CREATED", "fromStage": None, "toStage": None, "fieldChanges": []},
    ]


async def test_nodes_fetches_several_in_order(gql, org):
    a, b = await new_card(gql), await new_card(gql, title="Second")
    got = (await gql.ok("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [b, "nope", a]}))["nodes"]
    assert got == [{"id": b}, None, {"id": a}]
    too_many = await gql("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [a] * 101})
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_polling_events_narrows_like_the_subscription(gql, org):
    a = await new_card(gql)
    b = await new_card(gql, title="Other")
    await gql.ok(MOVE, {"input": {"id": a, "version": 1, "stageKey": "qualified"}})
    await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=b, toDepartmentKey="legal")
    q = """query($types: [BoardEventType!], $d: [String!], $o: ID) { events(types: $types, departmentKeys: $d, opportunityId: $o) {
      edges { node { type opportunity { id } } } } }"""

    async def seen(**v):
        return [(e["node"]["type"], e["node"]["opportunity"]["id"]) for e in (await gql.ok(q, v))["events"]["edges"]]

    assert await seen(types=["OPPORTUNITY_MOVED"]) == [("OPPORTUNITY_MOVED", a)]
    assert await seen(o=b) == [("OPPORTUNITY_CREATED", b), ("HANDOFF_REQUESTED", b)]
    assert await seen(d=["legal"]) == [("HANDOFF_REQUESTED", b)]
    assert await seen(d=[]) == []
    assert len(await seen()) == 4
    bad = await gql(q, {"o": "nope"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
