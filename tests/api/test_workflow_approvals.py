"""Approvals: sequential and parallel steps, who decides, and the stage gate's automatic approval."""
import asyncio

from resolvers import approvals as rules
from tests.api.workflow_helpers import (
    CANCEL_APPROVAL, DECIDE, REQUEST_APPROVAL, create, event_count, events, inbox, move, mutate, opp, pk,
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
        {"step": 0, "department": "legal", "decision": "APPROVED", "stepStatus": "APPROVED"},
        {"step": 1, "department": "finance", "decision": "APPROVED", "stepStatus": "APPROVED", "status": ["PENDING", "APPROVED"]},
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
    # The default rule: legal, finance, and finance managers from 1,000,000 (skipped for 10).
    assert [(s["department"]["key"], s["status"]) for s in approval["steps"]] == [
        ("legal", "PENDING"), ("finance", "PENDING"), ("finance", "SKIPPED")]
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


# ---------------------------------------------------------------- exact outcomes


def _messages(box: dict) -> list[str]:
    return [e["node"]["message"] for e in box["edges"]]


async def test_requester_hears_only_the_final_outcome_in_words(gql, org):
    deal = await create(gql)
    a = (await request(gql, deal["id"], kind=" Discount "))["approval"]
    assert (a["kind"], a["mode"], a["status"], a["decidedAt"]) == ("discount", "SEQUENTIAL", "PENDING", None)
    assert _messages(await inbox(gql, "legal_member")) == ["Your approval is needed: discount on Fleet pilot"]
    [requested] = await events(org, "APPROVAL_REQUESTED")
    assert requested.changes == {"kind": "discount", "mode": "SEQUENTIAL", "departmentKeys": ["legal", "finance"]}
    assert (requested.opportunity_id, requested.approval_id) == (pk(deal["id"]), pk(a["id"]))
    assert requested.department_keys == ["finance", "legal", "sales"]  # the approvers' and the holder's

    await decide(gql, a["id"], "legal_member")
    assert (await inbox(gql, "sales_member"))["totalCount"] == 0  # an intermediate step says nothing to the requester
    assert _messages(await inbox(gql, "finance_member")) == ["Your approval is needed: discount on Fleet pilot"]
    last = await decide(gql, a["id"], "finance_member")
    assert [s["status"] for s in last["approval"]["steps"]] == ["APPROVED", "APPROVED"]
    assert _messages(await inbox(gql, "sales_member")) == ["The discount approval on Fleet pilot was approved"]
    assert [e["node"]["kind"] for e in (await inbox(gql, "sales_member"))["edges"]] == ["approval"]
    for who in ("legal_member", "finance_member", "sales_member"):
        assert {e["node"]["opportunity"]["id"] for e in (await inbox(gql, who))["edges"]} == {deal["id"]}
    decided = await events(org, "APPROVAL_DECIDED")
    assert [(sorted(e.department_keys), e.opportunity_id, e.approval_id) for e in decided] == [
        (["finance", "legal", "sales"], pk(deal["id"]), pk(a["id"]))] * 2

    other = (await request(gql, deal["id"], kind="pricing", depts=("legal",)))["approval"]
    no = await decide(gql, other["id"], "legal_member", approve=False, comment="Too deep")
    assert [(s["status"], s["comment"]) for s in no["approval"]["steps"]] == [("REJECTED", "Too deep")]
    assert _messages(await inbox(gql, "sales_member"))[0] == "The pricing approval on Fleet pilot was rejected: Too deep"


async def test_not_open_yet_and_already_decided_are_told_apart(gql, org):
    deal = await create(gql)
    a = (await request(gql, deal["id"], depts=("legal", "finance", "product")))["approval"]
    before = await event_count(org)
    early = await decide(gql, a["id"], "finance_member")
    too_long = await decide(gql, a["id"], "legal_member", comment="c" * 5001)
    assert [(e["code"], e["field"]) for e in too_long["userErrors"]] == [("VALIDATION", ["comment"])]
    assert early["userErrors"] == [{"field": None, "code": "INVALID_TRANSITION",
                                    "message": "Your step is not open yet: an earlier step must approve first"}]
    assert await event_count(org) == before
    await decide(gql, a["id"], "legal_member")
    again = await decide(gql, a["id"], "legal_manager")
    assert again["userErrors"] == [{"field": None, "code": "INVALID_TRANSITION", "message": "Your department's step is already decided"}]
    # The admin decides the open step: finance's, not product's.
    admin = await decide(gql, a["id"], "sales_admin")
    assert [s["status"] for s in admin["approval"]["steps"]] == ["APPROVED", "APPROVED", "PENDING"]
    assert admin["approval"]["status"] == "PENDING" and admin["approval"]["decidedAt"] is None
    assert _messages(await inbox(gql, "product_member")) == ["Your approval is needed: discount on Fleet pilot"]


async def test_a_decided_approval_cannot_be_cancelled(gql, org):
    deal = await create(gql)
    a = (await request(gql, deal["id"], depts=("legal",)))["approval"]
    await decide(gql, a["id"], "legal_member")
    before = await event_count(org)
    for who in ("sales_member", "sales_admin"):
        late = await mutate(gql, CANCEL_APPROVAL, "cancelApproval", as_=who, id=a["id"])
        assert late["approval"] is None
        assert late["userErrors"] == [{"field": ["id"], "code": "INVALID_TRANSITION", "message": "This approval is already approved"}]
    assert await event_count(org) == before
    assert (await opp(gql, deal["id"]))["approvals"][0]["status"] == "APPROVED"


async def test_cancelling_closes_open_steps_and_logs_the_departments(gql, org):
    deal = await create(gql)
    a = (await request(gql, deal["id"], depts=("legal", "finance")))["approval"]
    await decide(gql, a["id"], "legal_member")
    done = await mutate(gql, CANCEL_APPROVAL, "cancelApproval", id=a["id"])
    assert done["userErrors"] == []
    assert (done["approval"]["status"], bool(done["approval"]["decidedAt"])) == ("CANCELLED", True)
    assert [s["status"] for s in done["approval"]["steps"]] == ["APPROVED", "CANCELLED"]
    cancelled = (await events(org, "APPROVAL_DECIDED"))[-1]
    assert cancelled.changes == {"status": ["PENDING", "CANCELLED"]}
    assert (cancelled.opportunity_id, cancelled.approval_id) == (pk(deal["id"]), pk(a["id"]))
    assert sorted(cancelled.department_keys) == ["finance", "legal", "sales"]


async def test_unknown_ids_and_blank_kinds_are_user_errors(gql, org):
    from resolvers.ids import to_global

    deal = await create(gql)
    missing = to_global("Approval", 999999)
    for doc, name, extra in ((DECIDE, "decideApproval", {"approve": True}), (CANCEL_APPROVAL, "cancelApproval", {})):
        result = await mutate(gql, doc, name, as_="sales_admin", id=missing, **extra)
        assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("NOT_FOUND", ["id"])], name
    for doc, name, extra in ((DECIDE, "decideApproval", {"approve": True}), (CANCEL_APPROVAL, "cancelApproval", {})):
        wrong_type = await mutate(gql, doc, name, id=deal["id"], **extra)
        assert [e["field"] for e in wrong_type["userErrors"]] == [["id"]], name
    blank = await request(gql, deal["id"], kind="   ")
    assert blank["userErrors"] == [{"field": ["kind"], "code": "VALIDATION", "message": "kind must not be blank"}]
    bad = await mutate(gql, REQUEST_APPROVAL, "requestApproval", opportunityId=deal["id"], kind=" ", departmentKeys=["nope"], mode="SEQUENTIAL")
    assert sorted((e["code"], e["field"][0]) for e in bad["userErrors"]) == [("VALIDATION", "departmentKeys"), ("VALIDATION", "kind")]
    assert await event_count(org) == 1


async def test_another_organizations_approval_is_not_found(gql, org, db):
    from tests.conftest import make_org

    deal = await create(gql)
    a = (await request(gql, deal["id"], depts=("legal",)))["approval"]
    stranger = await make_org(db)
    for doc, name, extra in ((DECIDE, "decideApproval", {"approve": True}), (CANCEL_APPROVAL, "cancelApproval", {})):
        body = await gql.ok(doc, {"input": {"id": a["id"], **extra}}, token=stranger.tokens["sales_admin"])
        assert [(e["code"], e["field"]) for e in body[name]["userErrors"]] == [("NOT_FOUND", ["id"])], name
    assert (await opp(gql, deal["id"]))["approvals"][0]["status"] == "PENDING"


async def test_a_parallel_stage_rule_opens_a_parallel_approval(gql, org):
    pipelines = (await gql.ok("{ pipelines { stages { id key } } }"))["pipelines"]
    contract = next(st["id"] for st in pipelines[0]["stages"] if st["key"] == "contract")
    rule = {"kind": "contract", "departmentKeys": ["legal", "finance"], "mode": "PARALLEL"}
    update = "mutation($input: UpdateStageInput!) { updateStage(input: $input) { userErrors { code } } }"
    assert (await gql.ok(update, {"input": {"id": contract, "autoApproval": rule}}, as_="sales_admin"))["updateStage"]["userErrors"] == []
    deal = await create(gql, amount="10", expectedCloseDate="2030-01-31")
    refused = await move(gql, deal["id"], "contract")
    assert refused["userErrors"] == [{
        "field": ["approval:contract"], "code": "STAGE_GATE",
        "message": "Contract needs an approved contract approval first; a contract approval has been requested",
    }]
    [approval] = (await opp(gql, deal["id"]))["approvals"]
    assert [(s["department"]["key"], s["status"]) for s in approval["steps"]] == [("legal", "PENDING"), ("finance", "PENDING")]
    # Both steps are open at once: both departments are asked, and finance may decide first.
    for who in ("legal_member", "finance_member"):
        assert _messages(await inbox(gql, who)) == ["Your approval is needed: contract on Fleet pilot"]
    assert (await decide(gql, approval["id"], "finance_member"))["userErrors"] == []
    assert (await inbox(gql, "legal_member"))["totalCount"] == 1  # already open: not asked twice
    [requested] = await events(org, "APPROVAL_REQUESTED")
    assert requested.changes == {"kind": "contract", "mode": "PARALLEL", "departmentKeys": ["legal", "finance"]}


async def test_request_checks_name_their_fields_and_defaults(gql, org):
    from sqlalchemy import select

    from db import models as m

    deal = await create(gql)
    for depts, message in (([], "Name at least one approver department"), (["legal", " legal"], "Each department may appear only once"),
                           (["legal", "nope", "gone"], "Unknown department 'nope', 'gone'")):
        bad = await request(gql, deal["id"], depts=depts)
        assert bad["userErrors"] == [{"field": ["departmentKeys"], "code": "VALIDATION", "message": message}], depts
    long_comment = await mutate(gql, REQUEST_APPROVAL, "requestApproval", opportunityId=deal["id"], kind="x", departmentKeys=["legal"], comment="c" * 5001)
    assert [(e["code"], e["field"]) for e in long_comment["userErrors"]] == [("VALIDATION", ["comment"])]
    long_kind = await request(gql, deal["id"], kind="k" * 41)
    assert [(e["code"], e["field"]) for e in long_kind["userErrors"]] == [("VALIDATION", ["kind"])]
    forbidden = await request(gql, deal["id"], as_="marketing_member")
    assert [e["code"] for e in forbidden["userErrors"]] == ["FORBIDDEN"]
    assert await event_count(org) == 1
    # Keys are trimmed, a 40-letter kind is fine and the mode defaults to SEQUENTIAL.
    done = await mutate(gql, REQUEST_APPROVAL, "requestApproval", opportunityId=deal["id"], kind="k" * 40,
                        departmentKeys=[" legal ", "finance"], comment="  Needs sign-off by Friday  ")
    assert (done["approval"]["mode"], [s["department"]["key"] for s in done["approval"]["steps"]]) == ("SEQUENTIAL", ["legal", "finance"])
    assert done["approval"]["comment"] == "Needs sign-off by Friday"
    async with org.db.read() as s:
        step_orgs = (await s.execute(
            select(m.Department.org_id).join(m.ApprovalStep, m.ApprovalStep.department_id == m.Department.id)
            .where(m.ApprovalStep.approval_id == pk(done["approval"]["id"]))
        )).scalars().all()
    assert step_orgs == [org.id, org.id]  # every organization has a "legal": the steps name this one's
    dup = await request(gql, deal["id"], kind="K" * 40)
    assert dup["userErrors"] == [{"field": ["kind"], "code": "DUPLICATE", "message": f"A {'k' * 40} approval is already open for this opportunity"}]


async def test_approvals_are_listed_newest_first(gql):
    deal = await create(gql)
    for kind in ("first", "second", "third"):
        await request(gql, deal["id"], kind=kind, depts=("legal",))
    q = "query($d: String) { approvals(departmentKey: $d) { kind } }"
    assert [a["kind"] for a in (await gql.ok(q, {}))["approvals"]] == ["third", "second", "first"]
    assert (await gql.ok(q, {"d": "finance"}))["approvals"] == []


async def test_the_approvals_list_stops_at_500(gql, org):
    from sqlalchemy import insert, select

    from db import models as m

    await create(gql)
    async with org.db.write() as s:
        opp_id = await s.scalar(select(m.Opportunity.id).where(m.Opportunity.org_id == org.id))
        await s.execute(insert(m.Approval), [
            {"org_id": org.id, "opportunity_id": opp_id, "requested_by_id": org.users["sales_member"].id, "kind": f"k{i}"}
            for i in range(501)
        ])
    listed = (await gql.ok("{ approvals { kind } }"))["approvals"]
    assert (len(listed), listed[0]["kind"], listed[-1]["kind"]) == (500, "k500", "k1")


async def test_a_cancel_racing_the_last_decision_has_one_outcome(gql, org):
    # The approval row is re-read under its lock: a cancel that loaded it before the
    # decision committed must not turn APPROVED into CANCELLED (PostgreSQL races them).
    for _ in range(3):
        deal = await create(gql)
        a = (await request(gql, deal["id"], depts=("legal",)))["approval"]
        results = await asyncio.gather(
            rules.decide_approval(org.ctx("legal_member"), {"id": a["id"], "approve": True}),
            rules.cancel_approval(org.ctx("sales_member"), {"id": a["id"]}),
        )
        assert sorted(bool(errors) for _, errors in results) == [False, True]
        [loser] = [errors for _, errors in results if errors]
        assert loser[0].code == "INVALID_TRANSITION"
        [approval] = (await opp(gql, deal["id"]))["approvals"]
        assert [approval["status"]] == [s["status"] for s in approval["steps"]]


async def test_an_unknown_mode_is_refused_by_the_rule_itself(gql, org):
    # The API's enum stops it first; the rule holds for other callers (imports, the CLI).
    deal = await create(gql)
    approval, errors = await rules.request_approval(org.ctx("sales_member"), {
        "opportunity_id": deal["id"], "kind": "x", "department_keys": ["legal"], "mode": "BOTH",
    })
    assert approval is None
    assert [(e.code, e.field, e.message) for e in errors] == [("VALIDATION", ["mode"], "mode must be SEQUENTIAL or PARALLEL")]


async def test_a_returned_approval_is_withdrawn_and_the_withdrawal_recorded(gql, org):
    from tests.api.test_approval_flows import RETURN, run

    deal = await create(gql)
    a = (await request(gql, deal["id"], depts=("legal",)))["approval"]
    assert (await run(gql, RETURN, "returnApproval", "legal_member", id=a["id"], comment="金额有误"))["userErrors"] == []
    done = await mutate(gql, CANCEL_APPROVAL, "cancelApproval", id=a["id"])
    assert (done["userErrors"], done["approval"]["status"]) == ([], "CANCELLED")
    assert (await events(org, "APPROVAL_DECIDED"))[-1].changes == {"status": ["RETURNED", "CANCELLED"]}
    q = "query($id: ID!) { node(id: $id) { ... on Approval { decisions { action user { handle } comment } } } }"
    assert (await gql.ok(q, {"id": a["id"]}))["node"]["decisions"] == [
        {"action": "RETURNED", "user": {"handle": "legal_member"}, "comment": "金额有误"},
        {"action": "CANCELLED", "user": {"handle": "sales_member"}, "comment": None},
    ]
