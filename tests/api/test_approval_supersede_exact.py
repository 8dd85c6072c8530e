"""Approvals after a card's locked fields move (resolvers/approvals.py: supersede_changed,
reopen_superseded, ensure_unlocked) and a decision's record, exactly: every approval's
status, the events' type, `changes`, actor and ids, the notifications' texts and each
refusal's code, field and message. Written against the mutants mutmut left alive
(docs/testing.md); on both databases."""
from datetime import datetime, timezone

from tests.api.test_approval_actions_exact import decisions_of, notes, steps_of
from tests.api.test_approval_flows import DECIDE, REQUEST, RETURN, _stage_id, card, edit, new_deal, run, users
from tests.api.workflow_helpers import add_stage, events, move, pk, set_stage

SET_RULE = """mutation($input: SetStageApprovalRuleInput!) { setStageApprovalRule(input: $input) {
    userErrors { code message } } }"""
APPROVAL = """query($id: ID!) { node(id: $id) { ... on Approval { kind status comment requestedBy { handle }
  steps { position status openedAt approvedBy { handle } } } } }"""
TITLE = "Memo deal"
RULE_STAGE = "won"  # the memo rule sits on a stage the cards never enter (a rule gates its stage)


async def set_rule(gql, stage_key: str, rule: dict) -> None:
    done = await gql.ok(SET_RULE, {"input": {"stageId": await _stage_id(gql, stage_key), "rule": rule}}, as_="sales_admin")
    assert done["setStageApprovalRule"]["userErrors"] == []


async def to_stage(gql, gid: str, stage: str, **extra) -> None:
    moved = await move(gql, gid, stage, **extra)
    assert moved["userErrors"] == [], moved


def memo_rule(org, locks=("amount",), **step) -> dict:
    return {"kind": "memo", "locks": list(locks), "steps": [{"userIds": users(org, "legal_member"), **step}]}


async def qualified_deal(gql, org, kinds=("memo",), amount="10") -> str:
    """A card in Qualified, a stage that (from now on) requires `kinds`."""
    deal = await new_deal(gql, amount, TITLE)
    await to_stage(gql, deal, "qualified")
    await set_stage(org, "qualified", required_approvals=list(kinds))
    return deal


async def approved(gql, deal: str, kind: str, as_="sales_member", depts=()) -> dict:
    made = await run(gql, REQUEST, "requestApproval", as_, opportunityId=deal, kind=kind, departmentKeys=list(depts))
    assert made["userErrors"] == [], made
    done = await run(gql, DECIDE, "decideApproval", "legal_member", id=made["approval"]["id"], approve=True)
    assert done["approval"]["status"] == "APPROVED", done
    return done["approval"]


async def statuses(gql, deal: str) -> list[tuple]:
    return [(a["kind"], a["status"]) for a in (await card(gql, deal))["approvals"]]


async def approval(gql, gid: str) -> dict:
    return (await gql.ok(APPROVAL, {"id": gid}))["node"]


# ---------------------------------------------------------------- superseded, then reopened


async def test_a_moved_lock_supersedes_tells_both_and_reopens_past_the_gate(gql, org):
    await set_rule(gql, RULE_STAGE, memo_rule(org))
    deal = await qualified_deal(gql, org)
    # The manager asks, the owner (sales_member) owns, an admin edits: everyone but the admin is told.
    a = await approved(gql, deal, "memo", as_="sales_manager")
    assert (await edit(gql, deal, as_="sales_admin", amount="20"))["userErrors"] == []
    assert await statuses(gql, deal) == [("memo", "SUPERSEDED"), ("memo", "PENDING")]
    [event] = await events(org, "APPROVAL_SUPERSEDED")
    assert (event.changes, event.actor_id, event.approval_id, event.opportunity_id) == (
        {"status": ["APPROVED", "SUPERSEDED"], "amount": ["10.00", "20.00"]}, org.users["sales_admin"].id, pk(a["id"]), pk(deal))
    text = f"The memo approval on {TITLE} no longer holds: amount changed"
    assert sorted(await notes(org, event)) == [("sales_manager", "approval", pk(deal), text),
                                               ("sales_member", "approval", pk(deal), text)]
    # The new approval is the admin's, says why, and asks legal again.
    [first, again] = await events(org, "APPROVAL_REQUESTED")
    assert (again.changes, again.actor_id, again.opportunity_id) == (
        {"kind": "memo", "mode": "SEQUENTIAL", "departmentKeys": ["legal"]}, org.users["sales_admin"].id, pk(deal))
    reopened = await approval(gql, [x for x in (await card(gql, deal))["approvals"] if x["status"] == "PENDING"][0]["id"])
    assert (reopened["kind"], reopened["status"], reopened["comment"], reopened["requestedBy"]) == (
        "memo", "PENDING", "Re-approval: the approved terms changed", {"handle": "sales_admin"})
    assert [(s["position"], s["status"], bool(s["openedAt"])) for s in reopened["steps"]] == [(0, "PENDING", True)]
    assert await notes(org, again) == [("legal_member", "approval", pk(deal), f"Your approval is needed: memo on {TITLE}")]


async def test_only_approved_approvals_of_this_card_whose_locks_moved_are_superseded(gql, org):
    # memo locks the title only; pricing (ad hoc, legal) locks the default fields, amount among them.
    await set_rule(gql, RULE_STAGE, memo_rule(org, locks=("title",)))
    deal = await qualified_deal(gql, org, kinds=())
    memo = await approved(gql, deal, "memo")
    pricing = await approved(gql, deal, "pricing", depts=("legal",))
    other = await new_deal(gql, "10", "Other deal")
    other_memo = await approved(gql, other, "memo")
    assert (await edit(gql, deal, amount="20"))["userErrors"] == []
    # The memo's title did not move (and is looked at first): pricing is superseded all the same,
    # and with no stage requiring it, nothing reopens.
    assert await statuses(gql, deal) == [("memo", "APPROVED"), ("pricing", "SUPERSEDED")]
    assert await statuses(gql, other) == [("memo", "APPROVED")]
    [event] = await events(org, "APPROVAL_SUPERSEDED")
    assert (event.changes, event.approval_id, event.opportunity_id) == (
        {"status": ["APPROVED", "SUPERSEDED"], "amount": ["10.00", "20.00"]}, pk(pricing["id"]), pk(deal))
    # A second edit supersedes nothing again: only APPROVED approvals are looked at.
    assert (await edit(gql, deal, amount="30"))["userErrors"] == []
    assert await statuses(gql, deal) == [("memo", "APPROVED"), ("pricing", "SUPERSEDED")]
    assert len(await events(org, "APPROVAL_SUPERSEDED")) == 1
    assert memo["status"] == other_memo["status"] == "APPROVED"


async def test_an_ungated_superseded_approval_does_not_stop_the_gated_one_reopening(gql, org):
    await set_rule(gql, RULE_STAGE, memo_rule(org))
    deal = await qualified_deal(gql, org)
    await approved(gql, deal, "pricing", depts=("legal",))  # superseded first; no stage requires it
    await approved(gql, deal, "memo")
    assert (await edit(gql, deal, amount="20"))["userErrors"] == []
    assert await statuses(gql, deal) == [("pricing", "SUPERSEDED"), ("memo", "SUPERSEDED"), ("memo", "PENDING")]


async def test_the_first_stage_requiring_the_kind_is_its_gate(gql, org):
    """Two stages require the kind, one before the card's stage and one after: the approval
    reopens, gated by the earlier one, also when that stage was added last (inserted before
    the others, its row comes after theirs)."""
    await set_rule(gql, RULE_STAGE, memo_rule(org))
    deal = await new_deal(gql, "10", TITLE)
    await to_stage(gql, deal, "qualified")
    await add_stage(gql, "screening", position=1, requiredApprovals=["memo"])
    await set_stage(org, "negotiation", required_approvals=["memo"])
    await approved(gql, deal, "memo")
    assert (await edit(gql, deal, amount="20"))["userErrors"] == []
    assert await statuses(gql, deal) == [("memo", "SUPERSEDED"), ("memo", "PENDING")]


async def test_a_returned_approval_of_the_kind_is_not_doubled_and_others_still_reopen(gql, org):
    await set_rule(gql, RULE_STAGE, memo_rule(org))
    deal = await qualified_deal(gql, org, kinds=("memo", "review"))
    await approved(gql, deal, "memo")
    await approved(gql, deal, "review", depts=("legal",))
    b = (await run(gql, REQUEST, "requestApproval", "sales_member", opportunityId=deal, kind="memo", departmentKeys=[]))["approval"]
    back = await run(gql, RETURN, "returnApproval", "legal_member", id=b["id"], comment="Fix it")
    assert back["approval"]["status"] == "RETURNED"
    done = await edit(gql, deal, amount="20")
    assert done["userErrors"] == []
    # memo: the returned one stands for it; review: reopened.
    assert await statuses(gql, deal) == [
        ("memo", "SUPERSEDED"), ("review", "SUPERSEDED"), ("memo", "RETURNED"), ("review", "PENDING")]
    assert [e.changes["kind"] for e in await events(org, "APPROVAL_REQUESTED")] == ["memo", "review", "memo", "review"]


async def test_a_pending_approval_of_the_kind_is_not_doubled(gql, org):
    await set_rule(gql, RULE_STAGE, memo_rule(org))
    deal = await qualified_deal(gql, org)
    await approved(gql, deal, "memo")
    await set_rule(gql, RULE_STAGE, memo_rule(org, locks=("title",)))  # the next memo locks the title only
    made = await run(gql, REQUEST, "requestApproval", "sales_member", opportunityId=deal, kind="memo", departmentKeys=[])
    assert made["userErrors"] == []
    done = await edit(gql, deal, amount="20")
    assert done["userErrors"] == []
    assert await statuses(gql, deal) == [("memo", "SUPERSEDED"), ("memo", "PENDING")]
    assert len(await events(org, "APPROVAL_REQUESTED")) == 2


async def test_a_lost_card_gets_no_new_approval(gql, org):
    await set_rule(gql, RULE_STAGE, memo_rule(org))
    deal = await qualified_deal(gql, org)
    await approved(gql, deal, "memo")
    await to_stage(gql, deal, "lost", lostReason="Budget cut")
    assert (await edit(gql, deal, amount="20"))["userErrors"] == []
    assert await statuses(gql, deal) == [("memo", "SUPERSEDED")]
    assert len(await events(org, "APPROVAL_REQUESTED")) == 1


# ---------------------------------------------------------------- locks, rules, decisions


async def test_a_locked_field_is_refused_by_name_kind_and_approval(gql, org):
    await set_rule(gql, RULE_STAGE, memo_rule(org))
    deal = await qualified_deal(gql, org)
    made = await run(gql, REQUEST, "requestApproval", "sales_member", opportunityId=deal, kind="memo", departmentKeys=[])
    locked = await edit(gql, deal, amount="20")
    assert locked["userErrors"] == [{"field": ["amount"], "code": "LOCKED",
                                     "message": f"amount cannot change while the memo approval ({made['approval']['id']}) is pending"}]


async def test_an_archived_stage_sets_no_rule(gql, org):
    await set_rule(gql, RULE_STAGE, memo_rule(org))
    await set_stage(org, RULE_STAGE, archived_at=datetime.now(timezone.utc))
    deal = await new_deal(gql, "10", TITLE)
    made = await run(gql, REQUEST, "requestApproval", "sales_member", opportunityId=deal, kind="memo", departmentKeys=[])
    assert made["userErrors"] == [{"field": ["departmentKeys"], "code": "VALIDATION", "message": "Name at least one approver department"}]


async def test_a_decision_records_its_comment_and_its_decider(gql, org):
    await set_rule(gql, RULE_STAGE, memo_rule(org))
    deal = await new_deal(gql, "10", TITLE)
    made = (await run(gql, REQUEST, "requestApproval", "sales_member", opportunityId=deal, kind="memo", departmentKeys=[]))["approval"]
    done = await run(gql, DECIDE, "decideApproval", "legal_member", id=made["id"], approve=True, comment="Fine")
    assert decisions_of(done["approval"]["steps"][0]) == [("APPROVED", "legal_member", None, "Fine")]
    [event] = await events(org, "APPROVAL_DECIDED")
    assert (event.changes, event.actor_id, event.approval_id) == (
        {"step": 0, "department": "legal", "decision": "APPROVED", "stepStatus": "APPROVED", "status": ["PENDING", "APPROVED"]},
        org.users["legal_member"].id, pk(made["id"]))


async def test_an_approver_who_decided_an_open_all_step_is_told_it_is_decided(gql, org):
    await set_rule(gql, RULE_STAGE, memo_rule(org, mode="ALL", userIds=users(org, "legal_member", "legal_manager")))
    deal = await new_deal(gql, "10", TITLE)
    made = (await run(gql, REQUEST, "requestApproval", "sales_member", opportunityId=deal, kind="memo", departmentKeys=[]))["approval"]
    first = await run(gql, DECIDE, "decideApproval", "legal_member", id=made["id"], approve=True)
    assert steps_of(first["approval"]) == [(0, "PENDING", True, ["legal_member"])]
    again = await run(gql, DECIDE, "decideApproval", "legal_member", id=made["id"], approve=True)
    assert again["userErrors"] == [{"field": None, "code": "INVALID_TRANSITION", "message": "Your department's step is already decided"}]
