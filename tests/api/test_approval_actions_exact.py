"""The approvers' actions of resolvers/approval_actions.py (return, resubmit, transfer,
urge), outcome by outcome: the steps, the event and its `changes` and actor, the
notification (kind, card, event, text in the recipient's language) and each refusal's
code, field and message. Written against the mutants mutmut left alive (issue 23,
docs/testing.md); on both databases."""
from sqlalchemy import select, update

from db import models as m
from tests.api.test_approval_flows import (  # noqa: F401 (people: a fixture)
    ADD_SIGNER, DECIDE, RESUBMIT, RETURN, TRANSFER, URGE, _open, edit, people, run, users)
from tests.api.workflow_helpers import events, pk

INBOX = "{ notifications(first: 20) { edges { node { kind message opportunity { id } } } } }"


async def chinese(org, *keys):
    async with org.db.write() as s:
        await s.execute(update(m.User).where(m.User.id.in_([org.users[k].id for k in keys])).values(locale="zh-CN"))


async def notes(org, event: m.Event) -> list[tuple]:
    """(recipient, kind, card, English text) of the notifications tied to `event`."""
    async with org.db.read() as s:
        rows = (await s.execute(select(m.Notification).where(
            m.Notification.org_id == org.id, m.Notification.event_seq == event.seq).order_by(m.Notification.user_id))).scalars()
        handle = {u.id: k for k, u in org.users.items()}
        return [(handle[n.user_id], n.kind, n.opportunity_id, n.message) for n in rows]


async def read(gql, who: str) -> list[dict]:
    return [e["node"] for e in (await gql.ok(INBOX, as_=who))["notifications"]["edges"]]


def steps_of(approval: dict) -> list[tuple]:
    return [(s["position"], s["status"], bool(s["openedAt"]), [h["handle"] for h in s["approvedBy"]]) for s in approval["steps"]]


def decisions_of(step: dict) -> list[tuple]:
    return [(d["action"], d["user"] and d["user"]["handle"], d["targetUser"] and d["targetUser"]["handle"], d["comment"])
            for d in step["decisions"]]


# ---------------------------------------------------------------- 退回 return


async def test_a_return_to_the_requester_is_exact(gql, people):
    org = people
    await chinese(org, "sales_member")
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [{"userIds": users(org, "legal_member")},
                                                                {"userIds": users(org, "finance_member")}]})
    await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True)
    back = await run(gql, RETURN, "returnApproval", "finance_member", id=a["id"], comment="缺附件")
    assert back["userErrors"] == []
    r = back["approval"]
    assert r["status"] == "RETURNED"
    # Every step back to undecided and unopened; the return recorded on the returning step.
    assert steps_of(r) == [(0, "PENDING", False, []), (1, "PENDING", False, [])]
    assert decisions_of(r["steps"][0]) == [("APPROVED", "legal_member", None, None)]
    assert decisions_of(r["steps"][1]) == [("RETURNED", "finance_member", None, "缺附件")]
    [event] = await events(org, "APPROVAL_RETURNED")
    assert (event.changes, event.actor_id, event.approval_id, event.opportunity_id) == (
        {"status": ["PENDING", "RETURNED"], "fromStep": 1}, org.users["finance_member"].id, pk(a["id"]), pk(deal))
    # Only the requester is told, on the card, tied to the event; read in their language.
    assert await notes(org, event) == [("sales_member", "approval", pk(deal), "The memo approval on 规则 was returned to you: 缺附件")]
    assert (await read(gql, "sales_member"))[0] == {"kind": "approval", "message": "规则 的memo审批已退回给你：缺附件",
                                                    "opportunity": {"id": deal}}


async def test_a_return_to_an_earlier_step_is_exact(gql, people):
    org = people
    await chinese(org, "legal_member")
    # Legal, then finance's managers from 1,000,000 (skipped for 10), then product.
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [
        {"userIds": users(org, "legal_member")},
        {"departmentKey": "finance", "role": "MANAGER", "amountAtLeast": "1000000"},
        {"userIds": users(org, "product_member")}]})
    first = (await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True))["approval"]
    assert steps_of(first) == [(0, "APPROVED", True, ["legal_member"]), (1, "SKIPPED", False, []), (2, "PENDING", True, [])]
    # Not to a skipped step, not to my own or a later one, not to one that does not exist.
    for to in (1, 2, 3, -1):
        refused = await run(gql, RETURN, "returnApproval", "product_member", id=a["id"], toStep=to, comment="x")
        assert refused["userErrors"] == [{"field": ["toStep"], "code": "VALIDATION",
                                          "message": "toStep must be an earlier step that applies (before step 2)"}], to
    back = await run(gql, RETURN, "returnApproval", "product_member", id=a["id"], toStep=0, comment="请补充条款")
    assert back["userErrors"] == []
    r = back["approval"]
    assert r["status"] == "PENDING"
    # The target reopens (its decision cleared), the skipped step stays skipped, mine waits unopened.
    assert steps_of(r) == [(0, "PENDING", True, []), (1, "SKIPPED", False, []), (2, "PENDING", False, [])]
    assert decisions_of(r["steps"][2]) == [("RETURNED", "product_member", None, "请补充条款")]
    [event] = await events(org, "APPROVAL_RETURNED")
    assert (event.changes, event.actor_id, event.approval_id) == (
        {"fromStep": 2, "toStep": 0}, org.users["product_member"].id, pk(a["id"]))
    assert await notes(org, event) == [
        ("legal_member", "approval", pk(deal), "Returned to your step: 请补充条款: memo on 规则")]
    assert (await read(gql, "legal_member"))[0]["message"] == "已退回到你的步骤：请补充条款：规则 的memo审批"
    # The reopened step decides again and the flow goes on past the skipped one.
    again = (await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True))["approval"]
    assert steps_of(again) == [(0, "APPROVED", True, ["legal_member"]), (1, "SKIPPED", False, []), (2, "PENDING", True, [])]


async def test_an_admin_returns_the_first_open_step_and_may_do_nothing_else_uninvited(gql, people):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "mode": "PARALLEL", "steps": [
        {"userIds": users(org, "legal_member")}, {"userIds": users(org, "finance_member")}]})
    # Transfer and add signer stay the approvers' own, even for an admin.
    transfer = await run(gql, TRANSFER, "transferApprovalStep", "sales_admin", id=a["id"], toUserId=users(org, "legal2")[0])
    assert transfer["userErrors"] == [{"field": None, "code": "FORBIDDEN", "message": "Only an approver of an open step can transfer it"}]
    signer = await run(gql, ADD_SIGNER, "addApprovalSigner", "sales_admin", id=a["id"], userId=users(org, "legal2")[0], placement="WITH")
    assert signer["userErrors"] == [{"field": None, "code": "FORBIDDEN",
                                     "message": "Only an approver of an open step can add a signer to it"}]
    # A member who approves no open step may not return it either.
    member = await run(gql, RETURN, "returnApproval", "marketing_member", id=a["id"], comment="x")
    assert member["userErrors"] == [{"field": None, "code": "FORBIDDEN", "message": "Only an approver of an open step can return it"}]
    # An admin returns it, in the first open step's name (both steps are open: parallel).
    back = await run(gql, RETURN, "returnApproval", "sales_admin", id=a["id"], comment="流程有误")
    assert back["userErrors"] == [] and back["approval"]["status"] == "RETURNED"
    assert [decisions_of(s) for s in back["approval"]["steps"]] == [[("RETURNED", "sales_admin", None, "流程有误")], []]
    [event] = await events(org, "APPROVAL_RETURNED")
    assert (event.changes, event.actor_id) == ({"status": ["PENDING", "RETURNED"], "fromStep": 0}, org.users["sales_admin"].id)


# ---------------------------------------------------------------- 重新提交 resubmit


async def test_a_resubmission_nothing_applies_to_any_more_is_approved_at_once(gql, people):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [
        {"departmentKey": "finance", "role": "MANAGER", "amountAtLeast": "1000000"}]}, amount="2000000")
    back = await run(gql, RETURN, "returnApproval", "finance_manager", id=a["id"], comment="金额太大")
    assert back["approval"]["status"] == "RETURNED"
    assert (await edit(gql, deal, amount="10"))["userErrors"] == []
    # An admin may resubmit another's approval; its only step no longer applies: approved.
    done = await run(gql, RESUBMIT, "resubmitApproval", "sales_admin", id=a["id"])
    assert done["userErrors"] == []
    assert (done["approval"]["status"], steps_of(done["approval"])) == ("APPROVED", [(0, "SKIPPED", False, [])])
    [event] = await events(org, "APPROVAL_RESUBMITTED")
    assert (event.changes, event.actor_id) == (
        {"status": ["RETURNED", "APPROVED"], "amount": ["2000000.00", "10.00"]}, org.users["sales_admin"].id)
    assert await notes(org, event) == []  # no step to open, nobody to ask


async def test_a_request_no_step_applies_to_is_approved_at_once_and_its_event_says_so(gql, people):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [
        {"departmentKey": "finance", "role": "MANAGER", "amountAtLeast": "1000000"}]}, amount="10")
    assert (a["status"], steps_of(a)) == ("APPROVED", [(0, "SKIPPED", False, [])])
    [event] = await events(org, "APPROVAL_REQUESTED")
    assert event.changes == {"kind": "memo", "mode": "SEQUENTIAL", "departmentKeys": [], "skipped": [0], "status": [None, "APPROVED"]}
    assert await notes(org, event) == []


# ---------------------------------------------------------------- 转交 transfer


async def test_a_transfer_without_a_comment_is_told_in_the_recipients_language(gql, people):
    org = people
    await chinese(org, "legal2")
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [{"userIds": users(org, "legal_member")}]})
    moved = await run(gql, TRANSFER, "transferApprovalStep", "legal_member", id=a["id"], toUserId=users(org, "legal2")[0])
    assert moved["userErrors"] == []
    assert decisions_of(moved["approval"]["steps"][0]) == [("TRANSFERRED", "legal_member", "legal2", None)]
    [event] = await events(org, "APPROVAL_TRANSFERRED")
    assert (event.changes, event.actor_id, event.approval_id, event.opportunity_id) == (
        {"step": 0, "from": "Legal Member", "to": "Legal2"}, org.users["legal_member"].id, pk(a["id"]), pk(deal))
    assert await notes(org, event) == [("legal2", "approval", pk(deal), "Legal Member handed you their decision on memo for 规则")]
    [note] = [n for n in await read(gql, "legal2") if "Legal Member" in n["message"]]
    assert note == {"kind": "approval", "message": "Legal Member 将 规则 的memo审批转交给你", "opportunity": {"id": deal}}


# ---------------------------------------------------------------- 催办 urge


async def test_urging_names_the_steps_due_and_tells_their_approvers_only(gql, people, clock):
    org = people
    await chinese(org, "finance_member")
    deal, a = await _open(gql, org, {"kind": "memo", "mode": "PARALLEL", "steps": [
        {"userIds": users(org, "legal_member")}, {"userIds": users(org, "finance_member")}]})
    # An admin urges both open steps, without a comment; the record goes on the first.
    first = await run(gql, URGE, "urgeApproval", "sales_admin", id=a["id"])
    assert (first["userErrors"], first["approval"]["urgeCount"]) == ([], 1)
    assert [decisions_of(s) for s in first["approval"]["steps"]] == [[("URGED", "sales_admin", None, None)], []]
    [event] = await events(org, "APPROVAL_URGED")
    assert (event.changes, event.actor_id, event.approval_id, event.opportunity_id) == (
        {"steps": [0, 1], "count": 1}, org.users["sales_admin"].id, pk(a["id"]), pk(deal))
    assert await notes(org, event) == [
        ("legal_member", "approval", pk(deal), "Sales Admin is waiting for your memo approval on 规则"),
        ("finance_member", "approval", pk(deal), "Sales Admin is waiting for your memo approval on 规则")]
    [zh] = [n for n in await read(gql, "finance_member") if "Sales Admin" in n["message"]]
    assert zh == {"kind": "approval", "message": "Sales Admin 催办：规则 的memo审批等你处理", "opportunity": {"id": deal}}
    # Legal approves; an hour later the requester urges what is left: finance's step alone.
    await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True)
    clock.advance(minutes=60)
    second = await run(gql, URGE, "urgeApproval", "sales_member", id=a["id"], comment="今天要")
    assert (second["userErrors"], second["approval"]["urgeCount"]) == ([], 2)
    assert decisions_of(second["approval"]["steps"][1]) == [("URGED", "sales_member", None, "今天要")]
    [_, event2] = await events(org, "APPROVAL_URGED")
    assert (event2.changes, event2.actor_id) == ({"steps": [1], "count": 2}, org.users["sales_member"].id)
    assert await notes(org, event2) == [
        ("finance_member", "approval", pk(deal), "Sales Member is waiting for your memo approval on 规则: 今天要")]


async def test_a_comment_is_at_most_5000_characters(gql, people):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [{"departmentKey": "legal"}]})
    too_long = await run(gql, URGE, "urgeApproval", "sales_member", id=a["id"], comment="长" * 5001)
    assert too_long["userErrors"] == [{"field": ["comment"], "code": "VALIDATION", "message": "comment is longer than 5000 characters"}]
    assert (await run(gql, URGE, "urgeApproval", "sales_member", id=a["id"], comment="长" * 5000))["userErrors"] == []


async def test_an_actions_event_names_the_departments_of_the_approvals_steps(gql, people):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [{"departmentKey": "legal"}, {"departmentKey": "finance"}]})
    assert (await run(gql, URGE, "urgeApproval", "sales_member", id=a["id"]))["userErrors"] == []
    [urged] = await events(org, "APPROVAL_URGED")
    assert (sorted(urged.department_keys), urged.actor_id) == (["finance", "legal", "sales"], org.users["sales_member"].id)


async def test_an_approval_of_another_organization_is_not_found(gql, people):
    from resolvers.ids import to_global

    other = to_global("Approval", 10**9)
    answer = await run(gql, URGE, "urgeApproval", "sales_member", id=other)
    assert answer["userErrors"] == [{"field": ["id"], "code": "NOT_FOUND", "message": f"No approval with id {other!r}"}]


async def test_a_returned_approval_is_still_open_to_a_second_request_of_its_kind(gql, people):
    """Sent back to the requester, it waits for a resubmission: no second one of the kind."""
    from tests.api.test_approval_flows import REQUEST

    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [{"departmentKey": "legal"}]})
    assert (await run(gql, RETURN, "returnApproval", "legal_member", id=a["id"], comment="补充材料"))["userErrors"] == []
    again = await run(gql, REQUEST, "requestApproval", "sales_member", opportunityId=deal, kind="memo", departmentKeys=[])
    assert again["userErrors"] == [{"field": ["kind"], "code": "DUPLICATE", "message": "A memo approval is already open for this opportunity"}]


async def test_a_decision_waiting_on_a_concurrent_cancel_sees_it(gql, people, backend):
    """The approval is read before the card's lock is taken: once the lock is had, the
    approval is read again, so a cancel committed meanwhile refuses the decision."""
    from tests.api.test_records_exact import behind_a_transaction, postgres_only
    from tests.api.test_workflow_approvals import decide

    postgres_only(backend)
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [{"departmentKey": "legal"}]})

    async def racer(held):  # what a cancel does first: lock the card, then end the approval
        await held.execute(select(m.Opportunity.id).where(m.Opportunity.id == pk(deal)).with_for_update())
        await held.execute(update(m.Approval).where(m.Approval.id == pk(a["id"])).values(status="CANCELLED"))

    answer = await behind_a_transaction(org, racer, decide(gql, a["id"], "legal_member"))
    assert answer["userErrors"] == [{"field": ["id"], "code": "INVALID_TRANSITION", "message": "This approval is already cancelled"}]
