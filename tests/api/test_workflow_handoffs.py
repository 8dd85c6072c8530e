"""Handoffs pass the baton between departments."""
from tests.api.workflow_helpers import (
    CANCEL_HANDOFF, REQUEST_HANDOFF, RESPOND_HANDOFF, create, event_count, events, inbox, mutate, opp,
)


async def request(gql, gid, to="legal", as_="sales_member", **extra):
    return await mutate(gql, REQUEST_HANDOFF, "requestHandoff", as_=as_, opportunityId=gid, toDepartmentKey=to, **extra)


async def test_accept_moves_the_baton_and_bumps_version(gql, org):
    deal = await create(gql)
    req = await request(gql, deal["id"], note="Please review the MSA", assigneeId=_uid(org, "legal_member"))
    assert req["userErrors"] == []
    h = req["handoff"]
    assert (h["status"], h["fromDepartment"]["key"], h["toDepartment"]["key"], h["assignee"]["handle"]) == ("PENDING", "sales", "legal", "legal_member")
    # The receiving department hears about it; the assignee is told it is theirs.
    kinds = sorted(e["node"]["kind"] for e in (await inbox(gql, "legal_member"))["edges"])
    assert kinds == ["assigned", "handoff"]
    assert [e["node"]["kind"] for e in (await inbox(gql, "legal_manager"))["edges"]] == ["handoff"]
    assert (await inbox(gql, "finance_member"))["totalCount"] == 0

    done = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_manager", id=h["id"], accept=True)
    assert done["userErrors"] == []
    assert done["handoff"]["status"] == "ACCEPTED" and done["handoff"]["respondedAt"]
    assert done["handoff"]["opportunity"] == {"version": 2, "department": {"key": "legal"}}
    resolved = (await events(org, "HANDOFF_RESOLVED"))[-1]
    assert resolved.changes == {"status": ["PENDING", "ACCEPTED"], "department": ["sales", "legal"]}
    assert [e.type for e in await events(org)] == ["OPPORTUNITY_CREATED", "HANDOFF_REQUESTED", "HANDOFF_RESOLVED"]
    assert [e["node"]["kind"] for e in (await inbox(gql, "sales_member"))["edges"]] == ["handoff"]


async def test_decline_keeps_the_department_and_records_the_reason(gql):
    deal = await create(gql)
    h = (await request(gql, deal["id"]))["handoff"]
    done = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_member", id=h["id"], accept=False, note="Not ours yet")
    assert done["handoff"]["status"] == "DECLINED" and done["handoff"]["responseNote"] == "Not ours yet"
    assert done["handoff"]["opportunity"] == {"version": 1, "department": {"key": "sales"}}
    again = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="legal_member", id=h["id"], accept=True)
    assert again["userErrors"][0]["code"] == "INVALID_TRANSITION"


async def test_only_receiving_department_or_admin_responds(gql, org):
    deal = await create(gql)
    h = (await request(gql, deal["id"]))["handoff"]
    before = await event_count(org)
    for who in ("sales_member", "finance_member", "sales_manager"):
        result = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_=who, id=h["id"], accept=True)
        assert result["handoff"] is None and result["userErrors"][0]["code"] == "FORBIDDEN", who
    assert await event_count(org) == before
    assert (await opp(gql, deal["id"]))["department"]["key"] == "sales"
    ok = await mutate(gql, RESPOND_HANDOFF, "respondHandoff", as_="sales_admin", id=h["id"], accept=True)
    assert ok["userErrors"] == [] and ok["handoff"]["opportunity"]["department"]["key"] == "legal"


async def test_duplicate_pending_and_same_department_are_refused(gql, org):
    deal = await create(gql)
    assert (await request(gql, deal["id"]))["userErrors"] == []
    before = await event_count(org)
    dup = await request(gql, deal["id"])
    assert dup["handoff"] is None and dup["userErrors"][0]["code"] == "DUPLICATE"
    same = await request(gql, deal["id"], to="sales")
    assert same["userErrors"][0]["code"] == "VALIDATION" and same["userErrors"][0]["field"] == ["toDepartmentKey"]
    unknown = await request(gql, deal["id"], to="nope")
    assert unknown["userErrors"][0]["code"] == "VALIDATION"
    wrong_assignee = await request(gql, deal["id"], to="finance", assigneeId=_uid(org, "legal_member"))
    assert wrong_assignee["userErrors"][0]["field"] == ["assigneeId"]
    assert await event_count(org) == before
    # A different target department is fine.
    assert (await request(gql, deal["id"], to="finance"))["userErrors"] == []


async def test_requester_cancels(gql):
    deal = await create(gql)
    h = (await request(gql, deal["id"]))["handoff"]
    other = await mutate(gql, CANCEL_HANDOFF, "cancelHandoff", as_="legal_member", id=h["id"])
    assert other["userErrors"][0]["code"] == "FORBIDDEN"
    done = await mutate(gql, CANCEL_HANDOFF, "cancelHandoff", id=h["id"])
    assert done["handoff"]["status"] == "CANCELLED"
    # Cancelled: a new one may be requested.
    assert (await request(gql, deal["id"]))["userErrors"] == []


def _uid(org, who):
    from resolvers.ids import to_global

    return to_global("User", org.users[who].id)
