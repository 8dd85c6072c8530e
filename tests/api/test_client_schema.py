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


# ---------------------------------------------------------------- pages, typed fields, kinds, ids

from db import models as m  # noqa: E402
from resolvers.ids import parse_global  # noqa: E402
from tests.api.workflow_helpers import REQUEST_APPROVAL, create  # noqa: E402

SET_RULE = "mutation($i: SetAccessRuleInput!) { setAccessRule(input: $i) { userErrors { code } } }"
UPDATE_STAGE = "mutation($i: UpdateStageInput!) { updateStage(input: $i) { userErrors { field code } } }"


async def walk(gql, field: str, args: str = "", size: int = 2, as_="sales_member", node="id") -> tuple[list, list[bool], int]:
    """Every node of a connection read `size` at a time: (nodes, hasNextPage of each page, totalCount)."""
    q = "query($after: String) { %s(first: %d, after: $after%s) { totalCount pageInfo { hasNextPage endCursor } edges { node { %s } } } }" % (
        field, size, args, node)
    nodes, more, after = [], [], None
    while True:
        page = (await gql.ok(q, {"after": after}, as_=as_))[field]
        nodes += [e["node"] for e in page["edges"]]
        more.append(page["pageInfo"]["hasNextPage"])
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, more, page["totalCount"]
        after = page["pageInfo"]["endCursor"]


async def request_contract(gql, gid: str, as_="sales_member") -> dict:
    made = (await gql.ok(REQUEST_APPROVAL, {"input": {"opportunityId": gid, "kind": "contract", "departmentKeys": ["legal"]}}, as_=as_))
    assert made["requestApproval"]["userErrors"] == []
    return made["requestApproval"]["approval"]


async def test_approvals_connection_pages_what_the_list_shows(gql, org):
    assert (await gql.ok(SET_RULE, {"i": {"role": "MEMBER", "scope": "OWN"}}, as_="sales_admin"))["setAccessRule"]["userErrors"] == []
    theirs = [await request_contract(gql, await new_card(gql, title=f"Theirs {i}")) for i in range(3)]
    mine = [await request_contract(gql, (await create(gql, as_="marketing_member", title=f"Mine {i}"))["id"], as_="marketing_member")
            for i in range(2)]
    listed = "{ approvals { id } }"
    for who, expected, size in (("marketing_member", mine, 1), ("sales_admin", mine + theirs, 2)):
        nodes, more, total = await walk(gql, "approvalsConnection", size=size, as_=who)
        ids = [n["id"] for n in nodes]
        # Newest first, exactly the list's rows for this viewer, over more than one page.
        assert ids == [a["id"] for a in (await gql.ok(listed, as_=who))["approvals"]], who
        assert sorted(ids) == sorted(a["id"] for a in expected) and total == len(expected), who
        assert more == [True] * (len(more) - 1) + [False] and len(more) > 1, who
    filtered, _, total = await walk(gql, "approvalsConnection", ', status: [APPROVED]', as_="sales_admin")
    assert (filtered, total) == ([], 0)
    bad = await gql('{ approvalsConnection(after: "bm9wZQ==") { totalCount } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_users_and_api_tokens_connections_page(gql, org):
    everyone = sorted(u["id"] for u in (await gql.ok("{ users { id } }"))["users"])
    nodes, more, total = await walk(gql, "usersConnection", size=4)
    ids = [n["id"] for n in nodes]
    assert sorted(ids) == everyone and total == len(everyone) and len(more) > 1
    assert [parse_global(i)[1] for i in ids] == sorted(parse_global(i)[1] for i in ids)  # by id: stable pages
    legal = sorted(u["id"] for u in (await gql.ok('{ users(departmentKey: "legal") { id } }'))["users"])
    assert sorted(n["id"] for n in (await walk(gql, "usersConnection", ', departmentKey: "legal"', size=1))[0]) == legal != []

    create = "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { apiToken { id } userErrors { code } } }"
    made = [(await gql.ok(create, {"i": {"name": f"tool {i}", "scope": "READ"}}, as_="sales_admin"))["createApiToken"]["apiToken"]["id"]
            for i in range(3)]
    revoke = "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { userErrors { code } } }"
    assert (await gql.ok(revoke, {"id": made[0]}, as_="sales_admin"))["revokeApiToken"]["userErrors"] == []
    listed = [t["id"] for t in (await gql.ok("{ apiTokens { id } }", as_="sales_admin"))["apiTokens"]]
    nodes, more, total = await walk(gql, "apiTokensConnection", as_="sales_admin", size=1)
    assert [n["id"] for n in nodes] == listed == made[1:] and total == 2 and more == [True, False]
    nodes, _, total = await walk(gql, "apiTokensConnection", ", includeRevoked: true", as_="sales_admin")
    assert [n["id"] for n in nodes] == made and total == 3
    refused = await gql("{ apiTokensConnection { totalCount } }", as_="sales_member")
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_loss_reasons_are_typed(gql, org):
    for title, reason in (("A", "Price"), ("B", "Timing"), ("C", "Price"), ("D", None)):
        gid = await new_card(gql, title=title)
        extra = {"lostReason": reason} if reason else {}
        if reason is None:  # lost without a reason recorded: straight into Lost through the database
            async with org.db.write() as s:
                card = await s.get(m.Opportunity, parse_global(gid)[1])
                card.stage_id = (await s.execute(
                    m.Stage.__table__.select().where(m.Stage.pipeline_id == card.pipeline_id, m.Stage.key == "lost"))).first().id
            continue
        moved = (await gql.ok(MOVE, {"input": {"id": gid, "version": 1, "stageKey": "lost", **extra}}))["moveOpportunity"]
        assert moved["userErrors"] == [], moved
    got = (await gql.ok("{ analytics { lossReasons lossReasonCounts { reason count } top: lossReasonCounts(first: 1) { reason } } }"))["analytics"]
    assert got["lossReasonCounts"] == [{"reason": "Price", "count": 2}, {"reason": "Timing", "count": 1}, {"reason": "unspecified", "count": 1}]
    assert {r["reason"]: r["count"] for r in got["lossReasonCounts"]} == got["lossReasons"]
    assert got["top"] == [{"reason": "Price"}]


async def test_notification_kinds_are_an_enum_and_an_unknown_kind_reads_as_other(gql, org):
    gid = await new_card(gql)
    assert (await mutate(gql, REQUEST_HANDOFF, "requestHandoff", opportunityId=gid, toDepartmentKey="legal"))["userErrors"] == []
    async with org.db.write() as s:
        s.add(m.Notification(org_id=org.id, user_id=org.users["legal_member"].id, kind="from-a-newer-server", message="?"))
    q = "{ notifications { edges { node { kind type } } } }"
    got = [e["node"] for e in (await gql.ok(q, as_="legal_member"))["notifications"]["edges"]]
    assert got == [{"kind": "from-a-newer-server", "type": "OTHER"}, {"kind": "handoff", "type": "HANDOFF"}]


def test_notification_kinds_cover_every_kind_channels_route():
    from resolvers.channels import KINDS
    from schema.notifications import NotificationKind

    # Channels route every inbox kind (plus their own digest): the enum must know each one.
    assert {k.value for k in NotificationKind} == set(KINDS) - {"digest"} | {"other"}


async def test_a_misspelt_approval_kind_is_refused_and_the_configured_ones_are_listed(gql, org):
    gid = await new_card(gql)
    assert (await gql.ok("{ approvalKinds }"))["approvalKinds"] == ["contract"]

    async def ask(kind, on=gid):
        return (await gql.ok(REQUEST_APPROVAL, {"input": {"opportunityId": on, "kind": kind, "departmentKeys": ["finance"]}}))["requestApproval"]

    typo = await ask("contrct")
    assert (typo["approval"], [(e["field"], e["code"]) for e in typo["userErrors"]]) == (None, [(["kind"], "VALIDATION")])
    assert "'contract'" in typo["userErrors"][0]["message"]  # names the kind meant
    assert (await gql.ok("{ approvals { id } }"))["approvals"] == []
    # A kind no stage configures, and not a near miss of one, stays an ad-hoc approval.
    assert (await ask("pricing"))["userErrors"] == []
    # Once a stage requires a kind, it is listed, and its typos are refused too.
    stages = (await gql.ok("{ pipelines { stages { id key } } }"))["pipelines"][0]["stages"]
    qualified = next(st["id"] for st in stages if st["key"] == "qualified")
    done = (await gql.ok(UPDATE_STAGE, {"i": {"id": qualified, "requiredApprovals": ["discount"]}}, as_="sales_admin"))["updateStage"]
    assert done["userErrors"] == []
    assert (await gql.ok("{ approvalKinds }"))["approvalKinds"] == ["contract", "discount"]
    assert [e["field"] for e in (await ask("discnt"))["userErrors"]] == [["kind"]]
    ok = await ask("Discount")
    assert ok["userErrors"] == [] and ok["approval"]["kind"] == "discount"


async def test_approval_steps_and_board_columns_have_stable_ids(gql, org):
    gid = await new_card(gql)
    await gql.ok(REQUEST_APPROVAL, {"input": {"opportunityId": gid, "kind": "contract", "departmentKeys": ["legal", "finance"]}})
    q = "query($id: ID!) { node(id: $id) { ... on Opportunity { approvals { steps { id position } } } } }"
    first, again = [(await gql.ok(q, {"id": gid}))["node"]["approvals"][0]["steps"] for _ in range(2)]
    assert first == again and len({s["id"] for s in first}) == 2
    assert all(parse_global(s["id"])[0] == "ApprovalStep" for s in first)

    board = "query($f: OpportunityFilter) { board(filter: $f) { columns { id stage { key } } } }"

    async def ids(flt):
        return [c["id"] for c in (await gql.ok(board, {"f": flt}))["board"]["columns"]]

    plain = await ids(None)
    assert len(set(plain)) == len(plain)  # one per stage
    assert await ids(None) == plain == await ids({}) == await ids({"staleOnly": False, "tags": []})
    tagged = await ids({"tags": ["b", "a"]})
    assert tagged == await ids({"tags": ["a", "b"]})
    assert not set(tagged) & set(plain) and not set(await ids({"tags": ["a"]})) & set(tagged)
