"""Opportunities through the real HTTP API on SQLite and PostgreSQL."""
from datetime import datetime, timezone

from sqlalchemy import func, select

from db import models as m
from tests.api.workflow_helpers import add_stage, move, place, set_stage

CREATE = """
mutation($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) {
    opportunity { id title version amount currency priority tags stage { key } owner { handle } department { key } account { name } }
    userErrors { field code message }
  }
}"""

MOVE = """
mutation($input: MoveOpportunityInput!) {
  moveOpportunity(input: $input) {
    opportunity { id version stage { key } lostReason }
    userErrors { field code message }
  }
}"""

UPDATE = """
mutation($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) {
    opportunity { id version title amount expectedCloseDate }
    userErrors { field code message }
  }
}"""


async def create(gql, as_="sales_member", **fields):
    data = {"title": "Fleet pilot", "accountName": "Northwind", **fields}
    return (await gql.ok(CREATE, {"input": data}, as_=as_))["createOpportunity"]


async def event_count(org) -> int:
    async with org.db.read() as s:
        return await s.scalar(select(func.count()).select_from(m.Event).where(m.Event.org_id == org.id))


async def test_create_defaults_to_first_stage_owner_and_department(gql):
    result = await create(gql, amount="1200.5", tags=["Pilot", "pilot", "eu"])
    assert result["userErrors"] == []
    opp = result["opportunity"]
    assert opp["stage"]["key"] == "lead"
    assert opp["owner"]["handle"] == "sales_member"
    assert opp["department"]["key"] == "sales"
    assert opp["amount"] == "1200.50"
    assert opp["currency"] == "USD"
    assert opp["tags"] == ["pilot", "eu"]
    assert opp["version"] == 1


async def test_validation_errors_write_nothing(gql, org):
    before = await event_count(org)
    for fields, code, field in [
        ({"title": "   "}, "VALIDATION", "title"),
        ({"amount": "-5"}, "VALIDATION", "amount"),
        ({"probability": 101}, "VALIDATION", "probability"),
        ({"stageKey": "nope"}, "VALIDATION", "stageKey"),
        ({"title": "bad\x00byte"}, "VALIDATION", "title"),
        ({"ownerId": "VXNlcjo5OTk5OTk="}, "NOT_FOUND", "ownerId"),
    ]:
        result = await create(gql, **fields)
        assert result["opportunity"] is None
        assert [(e["code"], e["field"]) for e in result["userErrors"]] == [(code, [field])], fields
    assert await event_count(org) == before
    async with org.db.read() as s:
        assert await s.scalar(select(func.count()).select_from(m.Opportunity).where(m.Opportunity.org_id == org.id)) == 0


async def test_viewer_role_cannot_write(gql):
    result = await create(gql, as_="sales_viewer")
    assert result["opportunity"] is None
    assert result["userErrors"][0]["code"] == "FORBIDDEN"


async def test_anonymous_gets_unauthenticated(gql):
    body = await gql("{ opportunities { totalCount } }", as_=None)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_client_mutation_id_makes_create_idempotent(gql, org):
    first = await create(gql, clientMutationId="retry-1")
    again = await create(gql, clientMutationId="retry-1", title="Something else")
    assert again["opportunity"]["id"] == first["opportunity"]["id"]
    assert again["opportunity"]["title"] == "Fleet pilot"
    assert await event_count(org) == 1


async def test_update_checks_version_and_records_changes(gql, org):
    opp = (await create(gql))["opportunity"]
    ok = (await gql.ok(UPDATE, {"input": {"id": opp["id"], "version": 1, "amount": "5000", "title": "Fleet rollout"}}))["updateOpportunity"]
    assert ok["userErrors"] == [] and ok["opportunity"]["version"] == 2
    stale = (await gql.ok(UPDATE, {"input": {"id": opp["id"], "version": 1, "title": "Lost update"}}))["updateOpportunity"]
    assert stale["opportunity"] is None and stale["userErrors"][0]["code"] == "CONFLICT"
    async with org.db.read() as s:
        last = (await s.execute(select(m.Event).where(m.Event.org_id == org.id).order_by(m.Event.seq.desc()))).scalars().first()
    assert last.type == "OPPORTUNITY_UPDATED"
    assert last.changes == {"amount": [None, "5000.00"], "title": ["Fleet pilot", "Fleet rollout"]}


async def test_move_enforces_field_gates_and_lost_reason(gql):
    opp = (await create(gql))["opportunity"]
    gated = (await gql.ok(MOVE, {"input": {"id": opp["id"], "version": 1, "stageKey": "proposal"}}))["moveOpportunity"]
    assert gated["opportunity"] is None
    err = gated["userErrors"][0]
    assert err["code"] == "STAGE_GATE"
    assert err["field"] == ["amount", "expectedCloseDate"]
    assert "amount" in err["message"] and "expected close date" in err["message"]

    await gql.ok(UPDATE, {"input": {"id": opp["id"], "version": 1, "amount": "10", "expectedCloseDate": "2030-01-31"}})
    moved = (await gql.ok(MOVE, {"input": {"id": opp["id"], "version": 2, "stageKey": "proposal"}}))["moveOpportunity"]
    assert moved["userErrors"] == [] and moved["opportunity"]["stage"]["key"] == "proposal"

    no_reason = (await gql.ok(MOVE, {"input": {"id": opp["id"], "version": 3, "stageKey": "lost"}}))["moveOpportunity"]
    assert no_reason["userErrors"][0]["code"] == "STAGE_GATE" and no_reason["userErrors"][0]["field"] == ["lostReason"]
    lost = (await gql.ok(MOVE, {"input": {"id": opp["id"], "version": 3, "stageKey": "lost", "lostReason": "Budget cut"}}))["moveOpportunity"]
    assert lost["opportunity"]["lostReason"] == "Budget cut"


async def test_contract_stage_needs_an_approved_contract_approval(gql):
    opp = (await create(gql, amount="10", expectedCloseDate="2030-01-31"))["opportunity"]
    result = (await gql.ok(MOVE, {"input": {"id": opp["id"], "version": 1, "stageKey": "contract"}}))["moveOpportunity"]
    assert result["userErrors"][0]["code"] == "STAGE_GATE"
    assert result["userErrors"][0]["field"] == ["approval:contract"]


async def test_only_owner_manager_or_admin_moves(gql):
    opp = (await create(gql))["opportunity"]
    for who, allowed in [("marketing_member", False), ("legal_manager", False), ("sales_manager", True)]:
        current = (await gql.ok("query($id: ID!) { node(id: $id) { ... on Opportunity { version stage { key } } } }", {"id": opp["id"]}))["node"]
        target = "qualified" if current["stage"]["key"] == "lead" else "lead"
        result = (await gql.ok(MOVE, {"input": {"id": opp["id"], "version": current["version"], "stageKey": target}}, as_=who))["moveOpportunity"]
        assert (result["userErrors"] == []) is allowed, (who, result)
        if not allowed:
            assert result["userErrors"][0]["code"] == "FORBIDDEN"


async def test_filter_and_paginate(gql):
    for i in range(5):
        await create(gql, title=f"Deal {i}", accountName="Acme" if i % 2 else "Globex", tags=["hot"] if i < 2 else [], priority="HIGH" if i == 4 else "LOW")
    query = """query($f: OpportunityFilter, $after: String) { opportunities(filter: $f, first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { title } } } }"""
    titles, after = [], None
    while True:
        page = (await gql.ok(query, {"f": None, "after": after}))["opportunities"]
        assert page["totalCount"] == 5
        titles += [e["node"]["title"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert titles == [f"Deal {i}" for i in reversed(range(5))]

    async def titles_for(flt):
        return sorted(e["node"]["title"] for e in (await gql.ok(query, {"f": flt}))["opportunities"]["edges"])

    assert await titles_for({"search": "acm"}) == ["Deal 1", "Deal 3"]
    assert await titles_for({"tags": ["HOT"]}) == ["Deal 0", "Deal 1"]
    assert await titles_for({"priority": ["HIGH"]}) == ["Deal 4"]
    assert await titles_for({"stageKeys": ["qualified"]}) == []
    assert await titles_for({"departmentKeys": ["sales"], "search": "deal 2"}) == ["Deal 2"]


async def test_other_organizations_ids_are_not_found(gql, db):
    from tests.conftest import make_org

    opp = (await create(gql))["opportunity"]
    stranger = await make_org(db)
    body = await gql.ok("query($id: ID!) { node(id: $id) { id } }", {"id": opp["id"]}, token=stranger.tokens["sales_admin"])
    assert body["node"] is None
    moved = (await gql.ok(MOVE, {"input": {"id": opp["id"], "version": 1, "stageKey": "qualified"}}, token=stranger.tokens["sales_admin"]))["moveOpportunity"]
    assert moved["userErrors"][0]["code"] == "NOT_FOUND"


# ---------------------------------------------------------------- moves: exact outcomes


async def _move(gql, gid, version, stage, **extra):
    return (await gql.ok(MOVE, {"input": {"id": gid, "version": version, "stageKey": stage, **extra}}))["moveOpportunity"]


async def test_a_move_from_an_out_of_date_board_is_a_conflict(gql, org):
    from tests.api.workflow_helpers import events

    opp = (await create(gql))["opportunity"]
    assert (await _move(gql, opp["id"], 1, "qualified"))["opportunity"]["version"] == 2
    before = await event_count(org)
    stale = await _move(gql, opp["id"], 1, "negotiation")
    assert stale["opportunity"] is None
    assert [(e["code"], e["field"]) for e in stale["userErrors"]] == [("CONFLICT", ["version"])]
    assert await event_count(org) == before
    assert [e.changes for e in await events(org, "OPPORTUNITY_MOVED")] == [{"stage": ["lead", "qualified"]}]


async def test_moves_to_the_own_stage_or_an_unknown_stage_are_refused(gql, org):
    opp = (await create(gql))["opportunity"]
    same = await _move(gql, opp["id"], 1, "lead")
    assert same["opportunity"] is None
    assert same["userErrors"] == [{"field": ["stageKey"], "code": "INVALID_TRANSITION", "message": "The card is already in Lead"}]
    unknown = await _move(gql, opp["id"], 1, "nope")
    assert unknown["userErrors"] == [{
        "field": ["stageKey"], "code": "VALIDATION",
        "message": "Unknown stage 'nope'; the stages are lead, qualified, proposal, negotiation, contract, won, lost",
    }]
    assert await event_count(org) == 1


async def test_move_and_loss_events_name_their_type_and_exact_changes(gql, org):
    from tests.api.workflow_helpers import events, pk

    opp = (await create(gql))["opportunity"]
    # A lost reason sent with an ordinary move is not recorded.
    moved = await _move(gql, opp["id"], 1, "qualified", lostReason="ignored")
    assert moved["opportunity"] == {"id": opp["id"], "version": 2, "stage": {"key": "qualified"}, "lostReason": None}
    lost = await _move(gql, opp["id"], 2, "lost", lostReason="  Budget cut  ")
    assert lost["opportunity"] == {"id": opp["id"], "version": 3, "stage": {"key": "lost"}, "lostReason": "Budget cut"}
    reopened = await _move(gql, opp["id"], 3, "qualified")
    assert reopened["opportunity"] == {"id": opp["id"], "version": 4, "stage": {"key": "qualified"}, "lostReason": None}
    # Gates are cumulative: skipping Proposal needs its gate too.
    again = await _move(gql, opp["id"], 4, "negotiation")
    assert again["userErrors"] == [{"field": ["amount", "expectedCloseDate"], "code": "STAGE_GATE",
                                    "message": "Negotiation needs amount, expected close date first"}]
    log = [(e.type, e.changes, sorted(e.department_keys)) for e in await events(org)][1:]
    assert {e.opportunity_id for e in await events(org)} == {pk(opp["id"])}
    assert log == [
        ("OPPORTUNITY_MOVED", {"stage": ["lead", "qualified"]}, ["sales"]),
        ("OPPORTUNITY_LOST", {"stage": ["qualified", "lost"], "lostReason": [None, "Budget cut"]}, ["sales"]),
        ("OPPORTUNITY_MOVED", {"stage": ["lost", "qualified"], "lostReason": ["Budget cut", None]}, ["sales"]),
    ]


async def test_a_move_names_the_owners_and_the_holders_departments(gql, org):
    from tests.api.workflow_helpers import events

    # Owned by a sales member, held by legal after a handoff: both departments see the move.
    opp = (await create(gql))["opportunity"]
    async with org.db.write() as s:
        legal = await s.scalar(select(m.Department.id).where(m.Department.org_id == org.id, m.Department.key == "legal"))
        row = await s.scalar(select(m.Opportunity).where(m.Opportunity.org_id == org.id))
        row.department_id = legal
    assert (await _move(gql, opp["id"], 1, "qualified"))["userErrors"] == []
    [event] = await events(org, "OPPORTUNITY_MOVED")
    assert sorted(event.department_keys) == ["legal", "sales"]


async def test_a_move_stamps_the_stage_entry_and_checks_the_lost_reason(gql, org, clock):
    q = "query($id: ID!) { node(id: $id) { ... on Opportunity { stageEnteredAt updatedAt } } }"
    opp = (await create(gql))["opportunity"]
    created = (await gql.ok(q, {"id": opp["id"]}))["node"]
    clock.advance(hours=1)
    assert (await _move(gql, opp["id"], 1, "qualified"))["userErrors"] == []
    moved = (await gql.ok(q, {"id": opp["id"]}))["node"]
    assert moved["stageEnteredAt"] > created["stageEnteredAt"] and moved["updatedAt"] == moved["stageEnteredAt"]
    too_long = await _move(gql, opp["id"], 2, "lost", lostReason="x" * 501)
    assert [(e["code"], e["field"]) for e in too_long["userErrors"]] == [("VALIDATION", ["lostReason"])]
    assert (await _move(gql, opp["id"], 2, "lost", lostReason="x" * 500))["opportunity"]["lostReason"] == "x" * 500


async def test_a_move_forward_checks_the_stage_it_leaves_and_those_ahead_not_those_behind(gql, org):
    """Lead asks for a next step only after the card left it: moving on from Qualified
    does not ask again."""
    deal = (await create(gql, amount="10", expectedCloseDate="2030-01-31"))["opportunity"]
    assert (await move(gql, deal["id"], "qualified"))["userErrors"] == []
    await set_stage(org, "lead", required_fields=["nextStep"])
    moved = await move(gql, deal["id"], "proposal")
    assert (moved["userErrors"], moved["opportunity"]["stage"]) == ([], {"key": "proposal"})


async def test_a_card_left_in_an_archived_stage_may_still_leave_it(gql, org):
    """A move racing the archiving of the card's stage: the card may still move out."""
    deal = (await create(gql))["opportunity"]
    assert (await move(gql, deal["id"], "qualified"))["userErrors"] == []
    await set_stage(org, "qualified", archived_at=datetime.now(timezone.utc))
    moved = await move(gql, deal["id"], "lead")
    assert (moved["userErrors"], moved["opportunity"]["stage"]) == ([], {"key": "lead"})


async def test_an_archived_stage_is_unknown_to_moves(gql, org):
    deal = (await create(gql))["opportunity"]
    await set_stage(org, "qualified", archived_at=datetime.now(timezone.utc))
    refused = await move(gql, deal["id"], "qualified")
    assert refused["userErrors"] == [{"field": ["stageKey"], "code": "VALIDATION", "message":
                                      "Unknown stage 'qualified'; the stages are lead, proposal, negotiation, contract, won, lost"}]


async def test_the_stage_before_a_target_is_the_one_before_it_in_the_pipelines_order(gql, org):
    """A stage inserted between Contract and Won: a card there moves on to Won, which asks for
    the deliverables of the stage before it, the inserted one (it has none), not Contract's."""
    deal = (await create(gql, amount="10"))["opportunity"]
    await add_stage(gql, "signing", name="Signing", position=5)
    await place(org, deal["id"], "signing")
    moved = await move(gql, deal["id"], "won")
    assert moved["userErrors"] == [], moved
    assert moved["opportunity"]["stage"] == {"key": "won"}
