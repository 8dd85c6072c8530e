"""加签 add a signer (BEFORE, WITH, AFTER) and a step's timeouts (remind its approvers,
escalate to its department's managers, then to the admins, finally return or approve),
outcome by outcome: every step and approver row as stored, the record, the event and
its `changes` and actor, the notification (kind, card, text) and each refusal's code,
field and message. Written against the mutants mutmut left alive in
resolvers/approval_actions.py (issue 23, docs/testing.md); on both databases."""
from datetime import datetime, timedelta

from sqlalchemy import select

from api.settings import Settings
from db import models as m
from resolvers import alerts
from tests.api.test_approval_actions_exact import notes
from tests.api.test_approval_flows import (  # noqa: F401 (people: a fixture)
    ADD_SIGNER, DECIDE, RETURN, TRANSFER, _open, people, run, users)
from tests.api.workflow_helpers import events, pk
from tests.conftest import make_org

SETTINGS = Settings(database_url="sqlite://", broadcast_url="memory://")
DECIDED_AT = """query($id: ID!) { node(id: $id) { ... on Approval { steps { decisions { action at } } } } }"""
DECISIONS = """query($id: ID!) { node(id: $id) { ... on Approval {
  steps { decisions { action user { handle } targetUser { handle } comment } } } } }"""


async def rows(org, approval: dict) -> list[tuple]:
    """The approval's steps as stored, in order: (position, status, sign mode, opened,
    department, [(approver, row status)] in the rows' order)."""
    async with org.db.read() as s:
        steps = list((await s.execute(select(m.ApprovalStep).where(
            m.ApprovalStep.approval_id == pk(approval["id"])).order_by(m.ApprovalStep.position))).scalars())
        seats = list((await s.execute(select(m.ApprovalApprover).where(
            m.ApprovalApprover.step_id.in_([st.id for st in steps])).order_by(m.ApprovalApprover.id))).scalars())
        departments = dict((await s.execute(select(m.Department.id, m.Department.key).where(m.Department.org_id == org.id))).all())
    handle = {u.id: k for k, u in org.users.items()}
    return [(st.position, st.status, st.sign_mode, st.opened_at is not None, departments[st.department_id],
             [(handle[a.user_id], a.status) for a in seats if a.step_id == st.id]) for st in steps]


async def decisions(gql, approval: dict) -> list[list[tuple]]:
    """Per step: (action, who, whom, comment) of what was recorded on it."""
    node = (await gql.ok(DECISIONS, {"id": approval["id"]}))["node"]
    return [[(d["action"], d["user"] and d["user"]["handle"], d["targetUser"] and d["targetUser"]["handle"], d["comment"])
             for d in step["decisions"]] for step in node["steps"]]


def facts(event: m.Event) -> tuple:
    return event.changes, event.actor_id, event.opportunity_id, event.approval_id, sorted(event.department_keys)


async def add(gql, org, a: dict, who: str, signer: str, placement: str, **extra) -> dict:
    return await run(gql, ADD_SIGNER, "addApprovalSigner", who, id=a["id"], userId=users(org, signer)[0],
                     placement=placement, **extra)


async def stale_round(org, monkeypatch, now, meanwhile) -> int:
    """An alerts round whose conditions were found before `meanwhile` ran: the race a
    timeout's re-check of its step is for."""
    async with org.db.read() as s:
        found = await alerts.find_conditions(s, org.id, now, SETTINGS)
    assert [c.kind for c in found] == ["approval_remind"]
    await meanwhile()

    async def same(*args):
        return found

    monkeypatch.setattr(alerts, "find_conditions", same)
    return await alerts.raise_alerts(org.db, now, SETTINGS, org_id=org.id)


TWO_STEPS = {"kind": "memo", "steps": [{"userIds": ["legal_member"]}, {"departmentKey": "finance"}]}


def rule(org, spec: dict) -> dict:
    """`spec` with handles for user ids."""
    return {**spec, "steps": [{**st, "userIds": users(org, *st["userIds"])} if "userIds" in st else st for st in spec["steps"]]}


# ---------------------------------------------------------------- 加签 add a signer


async def test_a_signer_after_my_step_gets_an_unopened_step_of_their_own_and_no_message_yet(gql, people):
    org = people
    deal, a = await _open(gql, org, rule(org, TWO_STEPS))
    added = await add(gql, org, a, "legal_member", "legal2", "AFTER", comment="请经理把关")
    assert added["userErrors"] == []
    assert await rows(org, a) == [
        (0, "PENDING", "ANY", True, "legal", [("legal_member", "PENDING")]),
        (1, "PENDING", "ANY", False, "legal", [("legal2", "PENDING")]),
        (2, "PENDING", "ANY", False, "finance", [("finance_member", "PENDING"), ("finance_manager", "PENDING")])]
    # Recorded on my step, with whom and why.
    assert await decisions(gql, a) == [[("SIGNER_ADDED", "legal_member", "legal2", "请经理把关")], [], []]
    [event] = await events(org, "APPROVAL_SIGNER_ADDED")
    assert facts(event) == ({"step": 1, "placement": "AFTER", "signer": "Legal2"}, org.users["legal_member"].id,
                            pk(deal), pk(a["id"]), ["finance", "legal", "sales"])
    assert await notes(org, event) == []  # told when their step opens
    await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True)
    assert [(p, status, opened) for p, status, _, opened, _, _ in await rows(org, a)] == [
        (0, "APPROVED", True), (1, "PENDING", True), (2, "PENDING", False)]


async def test_a_signer_with_me_joins_my_open_step_and_is_told_why(gql, people):
    org = people
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "steps": [{"userIds": ["legal_member"], "mode": "ALL"}]}))
    added = await add(gql, org, a, "legal_member", "legal2", "WITH", comment="一起看")
    assert added["userErrors"] == []
    assert await rows(org, a) == [(0, "PENDING", "ALL", True, "legal", [("legal_member", "PENDING"), ("legal2", "PENDING")])]
    assert await decisions(gql, a) == [[("SIGNER_ADDED", "legal_member", "legal2", "一起看")]]
    [event] = await events(org, "APPROVAL_SIGNER_ADDED")
    assert facts(event) == ({"step": 0, "placement": "WITH", "signer": "Legal2"}, org.users["legal_member"].id,
                            pk(deal), pk(a["id"]), ["legal", "sales"])
    assert await notes(org, event) == [("legal2", "approval", pk(deal), "Legal Member added you as an approver of memo on 规则: 一起看")]


async def test_a_signer_before_me_decides_first_and_is_told_without_a_stray_comment(gql, people):
    org = people
    deal, a = await _open(gql, org, rule(org, TWO_STEPS))
    added = await add(gql, org, a, "legal_member", "legal2", "BEFORE")
    assert added["userErrors"] == []
    # The new step takes my place and opens; mine moves right and waits, unopened.
    assert await rows(org, a) == [
        (0, "PENDING", "ANY", True, "legal", [("legal2", "PENDING")]),
        (1, "PENDING", "ANY", False, "legal", [("legal_member", "PENDING")]),
        (2, "PENDING", "ANY", False, "finance", [("finance_member", "PENDING"), ("finance_manager", "PENDING")])]
    assert await decisions(gql, a) == [[], [("SIGNER_ADDED", "legal_member", "legal2", None)], []]
    [event] = await events(org, "APPROVAL_SIGNER_ADDED")
    assert facts(event) == ({"step": 0, "placement": "BEFORE", "signer": "Legal2"}, org.users["legal_member"].id,
                            pk(deal), pk(a["id"]), ["finance", "legal", "sales"])
    assert await notes(org, event) == [("legal2", "approval", pk(deal), "Legal Member added you as an approver of memo on 规则")]


async def test_a_colleague_who_handed_the_step_on_can_be_added_with_me_again_in_the_same_seat(gql, people):
    org = people
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "steps": [{"userIds": ["legal_member", "legal2"], "mode": "ALL"}]}))
    moved = await run(gql, TRANSFER, "transferApprovalStep", "legal2", id=a["id"], toUserId=users(org, "product_member")[0])
    assert moved["userErrors"] == []
    assert (await rows(org, a))[0][5] == [("legal_member", "PENDING"), ("legal2", "TRANSFERRED"), ("product_member", "PENDING")]
    again = await add(gql, org, a, "legal_member", "legal2", "WITH")
    assert again["userErrors"] == []
    assert await rows(org, a) == [(0, "PENDING", "ALL", True, "legal", [
        ("legal_member", "PENDING"), ("legal2", "PENDING"), ("product_member", "PENDING")])]


async def test_adding_a_signer_refuses_exactly_and_changes_nothing(gql, people):
    org = people
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "steps": [{"userIds": ["legal_member", "legal2"]}]}))
    before = await rows(org, a)
    assert (await add(gql, org, a, "legal_member", "legal_member", "AFTER"))["userErrors"] == [
        {"field": ["userId"], "code": "DUPLICATE", "message": "Legal Member already approves this step"}]
    assert (await add(gql, org, a, "legal_member", "legal2", "WITH"))["userErrors"] == [
        {"field": ["userId"], "code": "DUPLICATE", "message": "Legal2 already approves this step"}]
    assert (await add(gql, org, a, "legal_member", "sales_viewer", "WITH", comment="x"))["userErrors"] == [
        {"field": ["userId"], "code": "VALIDATION", "message": "Sales Viewer is read-only and cannot approve"}]
    assert await rows(org, a) == before
    assert await events(org, "APPROVAL_SIGNER_ADDED") == []


async def test_a_transfer_to_a_read_only_colleague_names_them_and_the_field(gql, people):
    org = people
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "steps": [{"userIds": ["legal_member"]}]}))
    refused = await run(gql, TRANSFER, "transferApprovalStep", "legal_member", id=a["id"], toUserId=users(org, "sales_viewer")[0])
    assert refused["userErrors"] == [{"field": ["toUserId"], "code": "VALIDATION", "message": "Sales Viewer is read-only and cannot approve"}]


async def test_a_parallel_approval_takes_signers_with_a_step_only(gql, people):
    org = people
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "mode": "PARALLEL", "steps": [
        {"userIds": ["legal_member"]}, {"userIds": ["finance_member"]}]}))
    for placement in ("AFTER", "BEFORE"):
        assert (await add(gql, org, a, "legal_member", "legal2", placement))["userErrors"] == [
            {"field": ["placement"], "code": "VALIDATION", "message": "In a parallel approval, add signers WITH your step"}], placement
    assert (await add(gql, org, a, "legal_member", "legal2", "WITH"))["userErrors"] == []
    assert await rows(org, a) == [
        (0, "PENDING", "ANY", True, "legal", [("legal_member", "PENDING"), ("legal2", "PENDING")]),
        (1, "PENDING", "ANY", True, "finance", [("finance_member", "PENDING")])]


async def test_a_full_approval_takes_no_new_step_but_a_signer_with_a_step(gql, people):
    org = people
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "steps": [{"userIds": ["legal_member"]}] + [
        {"userIds": ["finance_member"]}] * 9}))
    for placement in ("AFTER", "BEFORE"):
        assert (await add(gql, org, a, "legal_member", "legal2", placement))["userErrors"] == [
            {"field": ["placement"], "code": "VALIDATION", "message": "An approval has at most 10 steps"}], placement
    assert len(await rows(org, a)) == 10
    assert (await add(gql, org, a, "legal_member", "legal2", "WITH"))["userErrors"] == []
    stored = await rows(org, a)
    assert (len(stored), stored[0]) == (10, (0, "PENDING", "ANY", True, "legal", [("legal_member", "PENDING"), ("legal2", "PENDING")]))


# ---------------------------------------------------------------- timeouts


async def test_a_waiting_step_reminds_then_escalates_to_its_managers_then_to_the_admins(gql, people, clock):
    org = people
    await make_org(org.db)  # another organization's managers and admins hear nothing of it
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "steps": [
        {"userIds": ["legal_member", "legal2"], "remindAfterHours": 2, "escalateAfterHours": 3}]}))
    said = "The memo approval on 规则 has waited {} hours"
    expected = [("approval_remind", 2, said.format(2) + " for your decision", ["legal_member", "legal2"]),
                ("approval_escalate", 3, said.format(3) + ": please chase your team", ["legal_manager"]),
                ("approval_escalate", 6, said.format(6) + ": it needs an admin's attention", ["sales_admin"])]
    for n, (kind, hours, text, told) in enumerate(expected):
        assert await alerts.raise_alerts(org.db, clock() + timedelta(hours=hours), SETTINGS, org_id=org.id) == 1
        event = (await events(org, "ALERT_RAISED"))[n]
        kind = "approval_escalate_admins" if n == 2 else kind
        assert facts(event) == ({"alert": kind, "message": text, "step": 0}, None, pk(deal), pk(a["id"]), ["legal", "sales"])
        assert await notes(org, event) == [(who, "alert", pk(deal), text) for who in told]
    assert len(await events(org, "ALERT_RAISED")) == 3
    # Recorded on the step, by nobody, with the English text.
    assert await decisions(gql, a) == [[("REMINDED", None, None, expected[0][2]), ("ESCALATED", None, None, expected[1][2]),
                                         ("ESCALATED", None, None, expected[2][2])]]
    assert await rows(org, a) == [(0, "PENDING", "ANY", True, "legal", [("legal_member", "PENDING"), ("legal2", "PENDING")])]


async def test_a_final_timeout_returns_to_the_requester_saying_why(gql, people, clock):
    org = people
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "steps": [
        {"userIds": ["legal_member"], "finalAfterHours": 5, "finalAction": "RETURN"}]}))
    assert await alerts.raise_alerts(org.db, clock() + timedelta(hours=5), SETTINGS, org_id=org.id) == 1
    why = "The memo approval on 规则 has waited 5 hours; it was returned to the requester automatically"
    assert await decisions(gql, a) == [[("RETURNED", None, None, why)]]
    assert await rows(org, a) == [(0, "PENDING", "ANY", False, "legal", [("legal_member", "PENDING")])]
    [event] = await events(org, "APPROVAL_RETURNED")
    assert facts(event) == ({"status": ["PENDING", "RETURNED"], "fromStep": 0}, None, pk(deal), pk(a["id"]), ["legal", "sales"])
    assert await notes(org, event) == [("sales_member", "approval", pk(deal), f"The memo approval on 规则 was returned to you: {why}")]
    assert await events(org, "ALERT_RAISED") == []


async def test_a_final_timeout_approves_saying_why(gql, people, clock):
    org = people
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "steps": [
        {"userIds": ["legal_member"], "finalAfterHours": 5, "finalAction": "APPROVE"}]}))
    assert await alerts.raise_alerts(org.db, clock() + timedelta(hours=5), SETTINGS, org_id=org.id) == 1
    why = "The memo approval on 规则 has waited 5 hours; it was approved automatically"
    assert await decisions(gql, a) == [[("APPROVED", None, None, why)]]
    assert await rows(org, a) == [(0, "APPROVED", "ANY", True, "legal", [("legal_member", "PENDING")])]
    [event] = await events(org, "APPROVAL_DECIDED")
    assert (event.changes, event.actor_id) == (
        {"step": 0, "department": "legal", "decision": "APPROVED", "stepStatus": "APPROVED", "status": ["PENDING", "APPROVED"]}, None)


async def test_a_timeout_found_before_its_step_was_decided_does_nothing(gql, people, clock, monkeypatch):
    org = people
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "steps": [
        {"userIds": ["legal_member"], "remindAfterHours": 2}, {"userIds": ["finance_member"]}]}))

    async def approve():
        await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True)

    assert await stale_round(org, monkeypatch, clock() + timedelta(hours=2), approve) == 1
    assert await events(org, "ALERT_RAISED") == []
    assert await decisions(gql, a) == [[("APPROVED", "legal_member", None, None)], []]


async def test_a_timeout_found_before_its_step_was_returned_from_does_nothing(gql, people, clock, monkeypatch):
    org = people
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "steps": [
        {"userIds": ["legal_member"]}, {"userIds": ["finance_member"], "remindAfterHours": 2}]}))
    await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True)

    async def send_back():  # finance's step waits again, unopened, until legal decides
        await run(gql, RETURN, "returnApproval", "finance_member", id=a["id"], toStep=0, comment="再看看")

    assert await stale_round(org, monkeypatch, clock() + timedelta(hours=2), send_back) == 1
    assert await events(org, "ALERT_RAISED") == []
    assert [d for step in await decisions(gql, a) for d in step if d[0] == "REMINDED"] == []
    assert [(p, status, opened) for p, status, _, opened, _, _ in await rows(org, a)] == [(0, "PENDING", True), (1, "PENDING", False)]


async def test_a_timeout_found_before_its_approval_was_approved_does_nothing(gql, people, clock, monkeypatch):
    org = people
    deal, a = await _open(gql, org, rule(org, {"kind": "memo", "steps": [{"userIds": ["legal_member"], "remindAfterHours": 2}]}))

    async def approve():
        await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True)

    assert await stale_round(org, monkeypatch, clock() + timedelta(hours=2), approve) == 1
    assert await events(org, "ALERT_RAISED") == []


async def test_a_decision_is_recorded_at_the_requests_time(gql, people, clock):
    org = people
    _, a = await _open(gql, org, {"kind": "memo", "steps": [{"userIds": users(org, "legal_member")}]})
    clock.advance(hours=2)  # the request's clock, not the database's or the machine's
    assert (await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True))["userErrors"] == []
    node = (await gql.ok(DECIDED_AT, {"id": a["id"]}))["node"]
    assert [(d["action"], datetime.fromisoformat(d["at"])) for st in node["steps"] for d in st["decisions"]] == [
        ("APPROVED", clock.now)]
