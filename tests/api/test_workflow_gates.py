"""Stage gates: what a card needs to enter a stage, and the stage's automatic approval."""
from resolvers import gates
from tests.api.test_workflow_approvals import decide, request
from tests.api.workflow_helpers import add_stage, create, event_count, events, move, opp, place, set_stage

UPDATE_STAGE = "mutation($input: UpdateStageInput!) { updateStage(input: $input) { userErrors { code field } } }"


async def _set_stage(gql, key: str, **settings) -> None:
    stages = (await gql.ok("{ pipelines { stages { id key } } }"))["pipelines"][0]["stages"]
    gid = next(st["id"] for st in stages if st["key"] == key)
    result = (await gql.ok(UPDATE_STAGE, {"input": {"id": gid, **settings}}, as_="sales_admin"))["updateStage"]
    assert result["userErrors"] == []


async def test_only_an_approved_approval_of_the_gates_own_kind_opens_it(gql, org):
    deal = await create(gql, amount="10", expectedCloseDate="2030-01-31")
    # A discount approval signed by legal alone is not a contract approval.
    discount = (await request(gql, deal["id"], kind="discount", depts=("legal",)))["approval"]
    await decide(gql, discount["id"], "legal_member")
    refused = await move(gql, deal["id"], "contract")
    assert refused["userErrors"] == [{
        "field": ["approval:contract"], "code": "STAGE_GATE",
        "message": "Contract needs an approved contract approval first; a contract approval has been requested",
    }]
    # The requested one is pending: the gate stays shut and says so, without a second request.
    pending = await move(gql, deal["id"], "contract")
    assert pending["userErrors"] == [{
        "field": ["approval:contract"], "code": "STAGE_GATE",
        "message": "Contract needs an approved contract approval first (a contract approval is pending)",
    }]
    [_, contract] = (await opp(gql, deal["id"]))["approvals"]
    assert (contract["kind"], contract["status"]) == ("contract", "PENDING")
    await decide(gql, contract["id"], "legal_member")
    half = await move(gql, deal["id"], "contract")
    assert half["userErrors"][0]["code"] == "STAGE_GATE"
    await decide(gql, contract["id"], "finance_member")
    assert (await move(gql, deal["id"], "contract"))["opportunity"]["stage"] == {"key": "contract"}


async def test_a_rejected_approval_does_not_open_the_gate_and_a_new_one_is_requested(gql, org):
    deal = await create(gql, amount="10", expectedCloseDate="2030-01-31")
    await move(gql, deal["id"], "contract")
    [contract] = (await opp(gql, deal["id"]))["approvals"]
    await decide(gql, contract["id"], "legal_member", approve=False)
    again = await move(gql, deal["id"], "contract")
    assert again["userErrors"][0]["message"].endswith("; a contract approval has been requested")
    assert [a["status"] for a in (await opp(gql, deal["id"]))["approvals"]] == ["REJECTED", "PENDING"]


async def test_another_cards_approval_does_not_open_the_gate(gql, org):
    """Two cards with the same figures: the contract approved for one opens only its own gate."""
    approved = await create(gql, amount="10", expectedCloseDate="2030-01-31")
    twin = await create(gql, amount="10", expectedCloseDate="2030-01-31")
    await move(gql, approved["id"], "contract")
    [contract] = (await opp(gql, approved["id"]))["approvals"]
    for who in ("legal_member", "finance_member"):
        await decide(gql, contract["id"], who)
    assert (await move(gql, approved["id"], "contract"))["opportunity"]["stage"] == {"key": "contract"}
    refused = await move(gql, twin["id"], "contract")
    assert refused["userErrors"][0]["code"] == "STAGE_GATE"
    assert [a["kind"] for a in (await opp(gql, twin["id"]))["approvals"]] == ["contract"]  # its own, just requested


async def test_a_returned_approval_is_not_requested_again(gql, org):
    """Sent back to the requester, the stage's approval waits for a resubmission: another
    refused move does not open a second one."""
    from tests.api.test_approval_flows import RETURN, run

    deal = await create(gql, amount="10", expectedCloseDate="2030-01-31")
    await move(gql, deal["id"], "contract")
    [contract] = (await opp(gql, deal["id"]))["approvals"]
    returned = await run(gql, RETURN, "returnApproval", "legal_member", id=contract["id"], comment="金额有误")
    assert returned["userErrors"] == []
    again = await move(gql, deal["id"], "contract")
    assert again["userErrors"] == [{
        "field": ["approval:contract"], "code": "STAGE_GATE",
        "message": "Contract needs an approved contract approval first (the contract approval was returned: edit and resubmit it)",
    }]
    assert [a["status"] for a in (await opp(gql, deal["id"]))["approvals"]] == ["RETURNED"]


async def test_a_card_reopened_from_lost_passes_every_gate_on_its_way(gql, org):
    """Lost sits after Won: reopening a lost card into Negotiation still needs what Proposal
    asks, and what the first stage asks."""
    deal = await create(gql)  # no amount, no expected close date
    assert (await move(gql, deal["id"], "lost", lostReason="预算取消"))["userErrors"] == []
    await _set_stage(gql, "lead", requiredFields=["probability"])
    refused = await move(gql, deal["id"], "negotiation")
    assert refused["userErrors"][0]["code"] == "STAGE_GATE"
    assert refused["userErrors"][0]["field"] == ["probability", "amount", "expectedCloseDate"]


async def test_a_move_past_lost_does_not_ask_for_a_lost_reason(gql, org):
    """A stage added after Lost: a won card moving on to it passes Won's gate, not Lost's."""
    deal = await create(gql, amount="10")
    await place(org, deal["id"], "won")
    await add_stage(gql, "renewal", name="Renewal")
    await set_stage(org, "contract", deliverables=[])  # Won asks for Contract's: not this test's
    moved = await move(gql, deal["id"], "renewal")
    assert moved["userErrors"] == [], moved
    assert moved["opportunity"]["stage"] == {"key": "renewal"}


async def test_gates_list_every_missing_field_and_approval(gql, org):
    await _set_stage(gql, "qualified", requiredFields=["amount", "probability", "nextStep"], requiredApprovals=["pricing", "legal"])
    deal = await create(gql, amount="10")
    refused = await move(gql, deal["id"], "qualified")
    assert refused["userErrors"] == [{
        "field": ["probability", "nextStep", "approval:pricing", "approval:legal"], "code": "STAGE_GATE",
        "message": "Qualified needs probability, next step, an approved pricing approval, an approved legal approval first",
    }]
    # No automatic rule on this stage: nothing was requested.
    assert (await opp(gql, deal["id"]))["approvals"] == []
    assert await event_count(org) == 2  # the card and the stage edit


async def test_a_rule_for_another_kind_requests_nothing(gql, org):
    await _set_stage(gql, "qualified", requiredFields=["amount"],
                     autoApproval={"kind": "pricing", "departmentKeys": ["finance"], "mode": "SEQUENTIAL"})
    deal = await create(gql)
    refused = await move(gql, deal["id"], "qualified")
    assert refused["userErrors"] == [{"field": ["amount"], "code": "STAGE_GATE", "message": "Qualified needs amount first"}]
    assert (await opp(gql, deal["id"]))["approvals"] == []


async def test_the_automatic_approval_is_requested_once_with_its_rule(gql, org, caplog):
    deal = await create(gql, amount="10", expectedCloseDate="2030-01-31")
    await move(gql, deal["id"], "contract")
    [requested] = await events(org, "APPROVAL_REQUESTED")
    assert requested.changes == {"kind": "contract", "mode": "SEQUENTIAL", "departmentKeys": ["legal", "finance"], "skipped": [2]}
    [approval] = (await opp(gql, deal["id"]))["approvals"]
    assert [(s["department"]["key"], s["status"]) for s in approval["steps"]] == [
        ("legal", "PENDING"), ("finance", "PENDING"), ("finance", "SKIPPED")]
    # A second request under the lock finds the pending one (and, later, the approved one).
    pk = await _opp_pk(org)
    rule = {"kind": "contract", "departmentKeys": ["legal", "finance"]}
    assert await gates.auto_request(org.ctx("sales_member"), pk, rule) is None
    for who in ("legal_member", "finance_member"):
        await decide(gql, approval["id"], who)
    assert await gates.auto_request(org.ctx("sales_member"), pk, rule) is None
    assert len(await events(org, "APPROVAL_REQUESTED")) == 1
    assert caplog.records == []  # found, not refused as a duplicate and logged


async def test_a_broken_rule_is_logged_and_the_gate_still_answers(gql, org, caplog):
    deal = await create(gql)
    pk = await _opp_pk(org)
    broken = {"kind": "contract", "departmentKeys": ["gone"]}
    with caplog.at_level("ERROR", logger="baton.approvals"):
        assert await gates.auto_request(org.ctx("sales_member"), pk, broken) is None
    assert [r.getMessage() for r in caplog.records] == [f"automatic contract approval for opportunity {pk} failed"]
    # Without a mode the rule is SEQUENTIAL.
    approval = await gates.auto_request(org.ctx("sales_member"), pk, {"kind": "contract", "departmentKeys": ["legal"]})
    assert (approval.kind, approval.mode, approval.status, approval.comment) == ("contract", "SEQUENTIAL", "PENDING", "Requested by the stage gate")
    assert (await opp(gql, deal["id"]))["approvals"][0]["kind"] == "contract"


async def _opp_pk(org) -> int:
    from sqlalchemy import select

    from db import models as m

    async with org.db.read() as s:
        return await s.scalar(select(m.Opportunity.id).where(m.Opportunity.org_id == org.id))


def test_gate_errors_name_fields_in_words():
    class Stage:
        name = "Won"

    error = gates.gate_error(Stage(), ["amount", "expectedCloseDate", "lostReason", "colour"], ["legal"])
    assert (error.code, error.field) == ("STAGE_GATE", ["amount", "expectedCloseDate", "lostReason", "colour", "approval:legal"])
    assert error.message == "Won needs amount, expected close date, lost reason, colour, an approved legal approval first"


async def test_missing_deliverables_are_asked_for_by_the_stage_the_card_moves_into(gql, org):
    """Negotiation to Won passes Contract: Won, the move's target, names what it still needs."""
    deal = await create(gql, amount="10")
    await set_stage(org, "contract", required_approvals=[], auto_approval=None)
    await place(org, deal["id"], "negotiation")
    refused = await move(gql, deal["id"], "won")
    assert refused["userErrors"] == [{
        "field": ["deliverable:contract.legal-review", "deliverable:contract.payment-terms"], "code": "STAGE_GATE",
        "message": "Won needs these deliverables ticked first (Contract: 合同审核意见, 付款条款确认)",
    }]
