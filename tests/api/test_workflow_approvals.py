"""Approvals: sequential and parallel steps, who decides, and the stage gate's automatic approval."""
import asyncio

from resolvers import approvals as rules
from tests.api.workflow_helpers import (
    CANCEL_APPROVAL, DECIDE, REQUEST_APPROVAL, create, event_count, events, inbox, move, mutate, opp,
)


async def request(gql, gid, kind="discount", depts=("legal", "finance"), mode="SEQUENTIAL", as_="sales_member"):
    return await mutate(gql, REQUEST_APPROVAL, "requestApproval", as_=as_, opportunityId=gid, kind=kind, departmentKeys=list(depts), mode=mode)


async def decide(gql, approval_id, who, approve=True, comment=None):
    return await mutate(gql, DECIDE, "decideApproval", as_=who, id=approval_id, approve=approve, comment=comment)


async def test_sequential_opens_steps_in_turn(gql, org):
    deal = await create(gql)
    req = await request(gql, deal["id"])
    assert req["userErrors"] == []
    a = req["approval"]
    assert [s["status"] for s in a["steps"]] == ["PENDING", "PENDING"]
    # Only the open step's department is told.
    assert [e["node"]["kind"] for e in (await inbox(gql, "legal_member"))["edges"]] == ["approval"]
    assert (await inbox(gql, "finance_member"))["totalCount"] == 0

    early = await decide(gql, a["id"], "finance_member")
    assert early["approval"] is None and early["userErrors"][0]["code"] == "INVALID_TRANSITION"

    first = await decide(gql, a["id"], "legal_member", comment="Fine by legal")
    assert first["approval"]["status"] == "PENDING"
    assert first["approval"]["steps"][0] == {"position": 0, "status": "APPROVED", "department": {"key": "legal"}, "decidedBy": {"handle": "legal_member"}, "comment": "Fine by legal"}
    assert [e["node"]["kind"] for e in (await inbox(gql, "finance_member"))["edges"]] == ["approval"]
    again = await decide(gql, a["id"], "legal_manager")
    assert again["userErrors"][0]["code"] == "INVALID_TRANSITION"

    last = await decide(gql, a["id"], "finance_member")
    assert last["approval"]["status"] == "APPROVED" and last["approval"]["decidedAt"]
    decided = await events(org, "APPROVAL_DECIDED")
    assert [e.changes for e in decided] == [
        {"step": 0, "department": "legal", "decision": "APPROVED"},
        {"step": 1, "department": "finance", "decision": "APPROVED", "status": ["PENDING", "APPROVED"]},
    ]
    assert [e.type for e in await events(org)].count("APPROVAL_REQUESTED") == 1


async def test_parallel_opens_all_and_one_rejection_rejects(gql):
    deal = await create(gql)
    a = (await request(gql, deal["id"], mode="PARALLEL", depts=("legal", "finance", "product")))["approval"]
    for who in ("legal_member", "finance_member", "product_member"):
        assert (await inbox(gql, who))["totalCount"] == 1
    ok = await decide(gql, a["id"], "finance_member")
    assert ok["approval"]["status"] == "PENDING"
    no = await decide(gql, a["id"], "product_member", approve=False, comment="Roadmap conflict")
    assert no["approval"]["status"] == "REJECTED"
    assert [s["status"] for s in no["approval"]["steps"]] == ["CANCELLED", "APPROVED", "REJECTED"]
    late = await decide(gql, a["id"], "legal_member")
    assert late["userErrors"][0]["code"] == "INVALID_TRANSITION"
    # The requester hears the outcome.
    assert "rejected" in (await inbox(gql, "sales_member"))["edges"][0]["node"]["message"]


async def test_only_step_department_or_admin_decides(gql, org):
    deal = await create(gql)
    a = (await request(gql, deal["id"], depts=("legal",)))["approval"]
    before = await event_count(org)
    for who in ("sales_member", "sales_manager", "marketing_member", "sales_viewer"):
        result = await decide(gql, a["id"], who)
        assert result["approval"] is None and result["userErrors"][0]["code"] == "FORBIDDEN", who
    assert await event_count(org) == before
    assert (await decide(gql, a["id"], "sales_admin"))["approval"]["status"] == "APPROVED"


async def test_duplicate_pending_kind_and_validation(gql, org):
    deal = await create(gql)
    assert (await request(gql, deal["id"]))["userErrors"] == []
    before = await event_count(org)
    dup = await request(gql, deal["id"])
    assert dup["approval"] is None and dup["userErrors"][0]["code"] == "DUPLICATE"
    for depts in ([], ["legal", "legal"], ["nope"]):
        bad = await request(gql, deal["id"], kind="pricing", depts=depts)
        assert bad["userErrors"][0]["code"] == "VALIDATION", depts
    assert await event_count(org) == before
    # Another kind is independent.
    assert (await request(gql, deal["id"], kind="pricing"))["userErrors"] == []


async def test_requester_cancels_then_may_request_again(gql):
    deal = await create(gql)
    a = (await request(gql, deal["id"]))["approval"]
    assert (await mutate(gql, CANCEL_APPROVAL, "cancelApproval", as_="legal_member", id=a["id"]))["userErrors"][0]["code"] == "FORBIDDEN"
    done = await mutate(gql, CANCEL_APPROVAL, "cancelApproval", id=a["id"])
    assert done["approval"]["status"] == "CANCELLED"
    assert (await decide(gql, a["id"], "legal_member"))["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert (await request(gql, deal["id"]))["userErrors"] == []


async def test_concurrent_decisions_have_one_outcome(gql, org):
    deal = await create(gql)
    a = (await request(gql, deal["id"], depts=("legal",)))["approval"]
    results = await asyncio.gather(
        rules.decide_approval(org.ctx("legal_member"), {"id": a["id"], "approve": True}),
        rules.decide_approval(org.ctx("legal_manager"), {"id": a["id"], "approve": False}),
    )
    winners = [r for r in results if not r[1]]
    losers = [r for r in results if r[1]]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0][1][0].code == "INVALID_TRANSITION"
    assert len(await events(org, "APPROVAL_DECIDED")) == 1


async def test_contract_gate_opens_the_automatic_approval(gql, org):
    deal = await create(gql, amount="10", expectedCloseDate="2030-01-31")
    refused = await move(gql, deal["id"], "contract")
    assert refused["opportunity"] is None
    err = refused["userErrors"][0]
    assert err["code"] == "STAGE_GATE" and "requested" in err["message"]
    card = await opp(gql, deal["id"])
    assert card["stage"]["key"] == "lead" and card["version"] == 1
    [approval] = card["approvals"]
    assert (approval["kind"], approval["status"]) == ("contract", "PENDING")
    assert [s["department"]["key"] for s in approval["steps"]] == ["legal", "finance"]
    # Only the approval was written: no move event.
    assert [e.type for e in await events(org)] == ["OPPORTUNITY_CREATED", "APPROVAL_REQUESTED"]
    # Asking again does not open a second one.
    again = await move(gql, deal["id"], "contract")
    assert "pending" in again["userErrors"][0]["message"]
    assert len((await opp(gql, deal["id"]))["approvals"]) == 1
    for who in ("legal_member", "finance_member"):
        assert (await decide(gql, approval["id"], who))["userErrors"] == []
    moved = await move(gql, deal["id"], "contract")
    assert moved["userErrors"] == [] and moved["opportunity"]["stage"]["key"] == "contract"
    assert len((await opp(gql, deal["id"]))["approvals"]) == 1


async def test_refused_move_for_other_reasons_opens_nothing(gql):
    deal = await create(gql, amount="10")
    forbidden = await move(gql, deal["id"], "contract", as_="marketing_member")
    assert forbidden["userErrors"][0]["code"] == "FORBIDDEN"
    assert (await opp(gql, deal["id"]))["approvals"] == []


async def test_approvals_query_filters_by_department_and_status(gql):
    deal = await create(gql)
    a = (await request(gql, deal["id"], depts=("legal",)))["approval"]
    await request(gql, deal["id"], kind="pricing", depts=("finance",))
    q = "query($d: String, $s: [ApprovalStatus!]) { approvals(departmentKey: $d, status: $s) { kind status } }"
    assert (await gql.ok(q, {"d": "legal"}))["approvals"] == [{"kind": "discount", "status": "PENDING"}]
    assert len((await gql.ok(q, {}))["approvals"]) == 2
    await decide(gql, a["id"], "legal_member")
    assert (await gql.ok(q, {"s": ["PENDING"]}))["approvals"] == [{"kind": "pricing", "status": "PENDING"}]
