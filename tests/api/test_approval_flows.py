"""Approval flows the way Chinese sales teams run them (会签, 或签, 退回, 转交, 加签, 催办)
and approvals that cannot be gamed: locked fields, snapshots, cumulative gates.
One story through the API on both databases, then the rules one by one."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from api.settings import Settings
from db import models as m
from resolvers import alerts
from resolvers.auth import issue_token
from resolvers.setup import create_user
from tests.api.workflow_helpers import CREATE, MOVE, UPDATE, events, inbox, pk

FLOW = """approval { id kind status urgeCount locks snapshotRequested snapshotApproved
  changes { field before after }
  steps { position status mode minApprovals role amountAtLeast openedAt dueAt department { key }
          approvers { handle } approvedBy { handle } decisions { action user { handle } targetUser { handle } comment } } }
  userErrors { field code message }"""
DECIDE = "mutation($input: DecideApprovalInput!) { decideApproval(input: $input) { %s } }" % FLOW
RETURN = "mutation($input: ReturnApprovalInput!) { returnApproval(input: $input) { %s } }" % FLOW
RESUBMIT = "mutation($input: ResubmitApprovalInput!) { resubmitApproval(input: $input) { %s } }" % FLOW
TRANSFER = "mutation($input: TransferApprovalStepInput!) { transferApprovalStep(input: $input) { %s } }" % FLOW
ADD_SIGNER = "mutation($input: AddApprovalSignerInput!) { addApprovalSigner(input: $input) { %s } }" % FLOW
URGE = "mutation($input: UrgeApprovalInput!) { urgeApproval(input: $input) { %s } }" % FLOW
REQUEST = "mutation($input: RequestApprovalInput!) { requestApproval(input: $input) { %s } }" % FLOW
CARD = """query($id: ID!) { node(id: $id) { ... on Opportunity { id version amount stage { key } approvalsNeeded
  approvals { id kind status } } } }"""


@pytest.fixture
async def people(org):
    """The demo's extra people: a second legal member and a finance manager."""
    async with org.db.write() as s:
        org_row = await s.get(m.Organization, org.id)
        for key, dept, role in (("legal2", "legal", "MEMBER"), ("finance_manager", "finance", "MANAGER")):
            user = await create_user(s, org_row, email=f"{key}.{org.id}@example.test", name=key.replace("_", " ").title(),
                                     department_key=dept, role=role, handle=key)
            org.users[key] = user
            org.tokens[key], _ = await issue_token(s, user, kind="session", now=datetime.now(timezone.utc), hours=24)
    return org


async def run(gql, doc, name, as_, **data):
    return (await gql.ok(doc, {"input": data}, as_=as_))[name]


async def card(gql, gid):
    return (await gql.ok(CARD, {"id": gid}))["node"]


async def new_deal(gql, amount: str, title: str) -> str:
    made = (await gql.ok(CREATE, {"input": {
        "title": title, "accountName": "上海星辰科技有限公司", "amount": amount, "currency": "CNY",
        "expectedCloseDate": "2031-03-31"}}))["createOpportunity"]
    assert made["userErrors"] == []
    return made["opportunity"]["id"]


async def move(gql, gid, stage, as_="sales_member"):
    version = (await card(gql, gid))["version"]
    return (await gql.ok(MOVE, {"input": {"id": gid, "version": version, "stageKey": stage}}, as_=as_))["moveOpportunity"]


async def edit(gql, gid, as_="sales_member", **fields):
    version = (await card(gql, gid))["version"]
    return (await gql.ok(UPDATE, {"input": {"id": gid, "version": version, **fields}}, as_=as_))["updateOpportunity"]


async def contract_approval(gql, gid) -> dict:
    refused = await move(gql, gid, "contract")
    assert refused["userErrors"][0]["code"] == "STAGE_GATE" and "requested" in refused["userErrors"][0]["message"]
    [approval] = [a for a in (await card(gql, gid))["approvals"] if a["status"] == "PENDING"]
    return approval


def shape(approval: dict) -> list[tuple]:
    return [(s["department"]["key"], s["role"], s["status"], bool(s["openedAt"]), sorted(a["handle"] for a in s["approvers"]))
            for s in approval["steps"]]


async def test_a_contract_approval_from_request_to_re_approval(gql, people, clock, app):
    org = people
    big = await new_deal(gql, "1200000", "全国门店系统")
    small = await new_deal(gql, "100000", "试点项目")

    # The default rule: legal (或签) → finance → finance managers from 1,000,000.
    a = await contract_approval(gql, big)
    b = await contract_approval(gql, small)
    a = await run(gql, DECIDE, "decideApproval",
                  "legal_manager", id=a["id"], approve=True, comment="法务同意")
    assert a["userErrors"] == []
    a = a["approval"]
    assert shape(a) == [
        ("legal", None, "APPROVED", True, ["legal2", "legal_manager", "legal_member"]),
        ("finance", None, "PENDING", True, ["finance_manager", "finance_member"]),
        ("finance", "MANAGER", "PENDING", False, ["finance_manager"]),
    ]
    assert [s["mode"] for s in a["steps"]] == ["ANY", "ANY", "ANY"]
    assert a["steps"][2]["amountAtLeast"] == "1000000"
    assert a["steps"][1]["dueAt"] is not None  # opened, reminded after 24 hours
    # 或签: one legal approval decided the step; the other legal members cannot decide it again.
    again = await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True)
    assert again["userErrors"][0]["code"] == "INVALID_TRANSITION"
    # ¥100k: the manager step does not apply.
    assert [s["status"] for s in (await run(gql, DECIDE, "decideApproval", "legal_member", id=b["id"], approve=True))["approval"]["steps"]] == [
        "APPROVED", "PENDING", "SKIPPED"]

    # 退回: finance sends it back to legal; the same approval, legal's step reopens, its decision cleared.
    returned = await run(gql, RETURN, "returnApproval", "finance_member", id=a["id"], toStep=0, comment="请法务再核对违约条款")
    assert returned["userErrors"] == []
    r = returned["approval"]
    assert r["id"] == a["id"] and r["status"] == "PENDING"
    assert [(s["status"], bool(s["openedAt"]), s["approvedBy"]) for s in r["steps"]] == [
        ("PENDING", True, []), ("PENDING", False, []), ("PENDING", False, [])]
    assert [(d["action"], d["user"]["handle"]) for d in r["steps"][0]["decisions"]] == [("APPROVED", "legal_manager")]
    assert [(d["action"], d["comment"]) for d in r["steps"][1]["decisions"]] == [("RETURNED", "请法务再核对违约条款")]
    [ret] = await events(org, "APPROVAL_RETURNED")
    assert ret.changes == {"fromStep": 1, "toStep": 0}
    assert "Returned to your step: 请法务再核对违约条款" in (await inbox(gql, "legal_member"))["edges"][0]["node"]["message"]

    # 转交: legal_member hands the decision to legal2, who approves; legal_member may no longer act.
    moved = await run(gql, TRANSFER, "transferApprovalStep", "legal_member", id=a["id"],
                      toUserId=_gid("User", org.users["legal2"].id), comment="我休假,请legal2处理")
    assert moved["userErrors"] == []
    assert shape(moved["approval"])[0][4] == ["legal2", "legal_manager"]
    assert (await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True))["userErrors"][0]["code"] == "FORBIDDEN"
    step0 = (await run(gql, DECIDE, "decideApproval", "legal2", id=a["id"], approve=True))["approval"]["steps"][0]
    assert (step0["status"], [h["handle"] for h in step0["approvedBy"]]) == ("APPROVED", ["legal2"])

    # 加签: on the small deal finance adds the manager as a signer after itself.
    added = await run(gql, ADD_SIGNER, "addApprovalSigner", "finance_member", id=b["id"],
                      userId=_gid("User", org.users["finance_manager"].id), placement="AFTER", comment="折扣较大,请经理把关")
    assert added["userErrors"] == []
    assert [(s["position"], s["status"]) for s in added["approval"]["steps"]] == [
        (0, "APPROVED"), (1, "PENDING"), (2, "PENDING"), (3, "SKIPPED")]
    assert [a_["handle"] for a_ in added["approval"]["steps"][2]["approvers"]] == ["finance_manager"]

    # 催办: the requester urges once; again within the hour is refused with its code; after it, fine.
    urged = await run(gql, URGE, "urgeApproval", "sales_member", id=b["id"], comment="客户周五要签")
    assert (urged["userErrors"], urged["approval"]["urgeCount"]) == ([], 1)
    assert any("is waiting for your contract approval" in e["node"]["message"] for e in (await inbox(gql, "finance_member"))["edges"])
    too_soon = await run(gql, URGE, "urgeApproval", "sales_member", id=b["id"])
    assert [e["code"] for e in too_soon["userErrors"]] == ["TOO_SOON"] and too_soon["approval"] is None
    assert (await run(gql, URGE, "urgeApproval", "marketing_member", id=b["id"]))["userErrors"][0]["code"] == "FORBIDDEN"
    clock.advance(minutes=61)
    assert (await run(gql, URGE, "urgeApproval", "sales_member", id=b["id"]))["approval"]["urgeCount"] == 2

    # Timeouts act: reminded after 24 hours, escalated to finance's managers after 48, once each.
    settings = Settings(database_url="sqlite://", broadcast_url="memory://")
    later = clock() + timedelta(hours=49)  # the job's clock (the signed-in sessions keep theirs)
    await alerts.raise_alerts(org.db, later, settings, org_id=org.id)
    await alerts.raise_alerts(org.db, later, settings, org_id=org.id)
    timeouts = [e.changes["alert"] for e in await events(org, "ALERT_RAISED") if e.approval_id == pk(a["id"])]
    assert sorted(timeouts) == ["approval_escalate", "approval_pending", "approval_remind"]
    manager_box = [e["node"]["message"] for e in (await inbox(gql, "finance_manager"))["edges"]]
    assert sum("please chase your team" in msg and "全国门店系统" in msg for msg in manager_box) == 1

    # 锁定: while pending, the amount is locked.
    locked = await edit(gql, big, amount="2000000")
    assert [(e["code"], e["field"]) for e in locked["userErrors"]] == [("LOCKED", ["amount"])]
    assert a["id"] in locked["userErrors"][0]["message"]
    assert (await card(gql, big))["amount"] == "1200000.00"

    # Finance, then the manager: approved; the card enters Contract.
    await run(gql, DECIDE, "decideApproval", "finance_member", id=a["id"], approve=True)
    done = (await run(gql, DECIDE, "decideApproval", "finance_manager", id=a["id"], approve=True))["approval"]
    assert done["status"] == "APPROVED" and done["snapshotApproved"]["amount"] == "1200000.00"
    assert (await move(gql, big, "contract"))["userErrors"] == []

    # After approval an amount edit supersedes it; in Contract already, a new approval opens.
    assert (await edit(gql, big, amount="2000000"))["userErrors"] == []
    after = await card(gql, big)
    assert [(x["kind"], x["status"]) for x in after["approvals"]] == [("contract", "SUPERSEDED"), ("contract", "PENDING")]
    assert after["approvalsNeeded"] == ["contract"]
    [superseded] = await events(org, "APPROVAL_SUPERSEDED")
    assert superseded.changes == {"status": ["APPROVED", "SUPERSEDED"], "amount": ["1200000.00", "2000000.00"]}
    refused = await move(gql, big, "won")
    assert refused["userErrors"][0]["code"] == "STAGE_GATE" and "approval:contract" in refused["userErrors"][0]["field"]


async def test_lead_to_won_needs_every_skipped_gate(gql, people):
    deal = await new_deal(gql, "500000", "跳级测试")
    refused = await move(gql, deal, "won")
    assert refused["opportunity"] is None
    assert refused["userErrors"] == [{"field": ["approval:contract"], "code": "STAGE_GATE",
                                      "message": "Won needs an approved contract approval first; a contract approval has been requested"}]
    assert (await card(gql, deal))["stage"]["key"] == "lead"
    # Lost needs only its own gate.
    lost = (await gql.ok(MOVE, {"input": {"id": deal, "version": (await card(gql, deal))["version"], "stageKey": "lost",
                                          "lostReason": "预算取消"}}))["moveOpportunity"]
    assert lost["userErrors"] == []


async def test_returned_to_the_requester_unlocks_and_resubmits_the_same_approval(gql, people):
    deal = await new_deal(gql, "300000", "退回重提")
    a = await contract_approval(gql, deal)
    back = await run(gql, RETURN, "returnApproval", "legal_member", id=a["id"], comment="金额有误")
    assert back["approval"]["status"] == "RETURNED"
    assert "returned to you: 金额有误" in (await inbox(gql, "sales_member"))["edges"][0]["node"]["message"]
    assert (await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True))["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert (await edit(gql, deal, amount="1500000"))["userErrors"] == []  # RETURNED: not locked
    again = await run(gql, RESUBMIT, "resubmitApproval", "sales_member", id=a["id"], comment="已更正")
    r = again["approval"]
    assert (r["id"], r["status"]) == (a["id"], "PENDING")
    # Re-evaluated on the edited card: the manager step now applies; the approver sees what changed.
    assert [s["status"] for s in r["steps"]] == ["PENDING", "PENDING", "PENDING"]
    assert r["changes"] == [{"field": "amount", "before": "300000.00", "after": "1500000.00"}]
    [resubmitted] = await events(people, "APPROVAL_RESUBMITTED")
    assert resubmitted.changes == {"status": ["RETURNED", "PENDING"], "amount": ["300000.00", "1500000.00"]}
    assert (await run(gql, RESUBMIT, "resubmitApproval", "sales_member", id=a["id"]))["userErrors"][0]["code"] == "INVALID_TRANSITION"


async def test_sign_modes_all_and_count(gql, people):
    """会签 needs every approver; 2 of 3 needs two; a rejection rejects."""
    org = people
    legal = [_gid("User", org.users[k].id) for k in ("legal_member", "legal_manager", "legal2")]
    deal = await new_deal(gql, "10", "会签")
    rule = {"kind": "nda", "mode": "SEQUENTIAL", "steps": [
        {"userIds": legal[:2], "mode": "ALL"}, {"departmentKey": "legal", "mode": "COUNT", "minApprovals": 2}]}
    stage = await _stage_id(gql, "qualified")
    set_rule = await gql.ok("""mutation($input: SetStageApprovalRuleInput!) { setStageApprovalRule(input: $input) {
        stage { requiredApprovals approvalRule { kind mode locks steps { mode minApprovals departmentKey approvers { handle } } } }
        userErrors { field code message } } }""", {"input": {"stageId": stage, "rule": rule}}, as_="sales_admin")
    s = set_rule["setStageApprovalRule"]
    assert s["userErrors"] == [] and s["stage"]["requiredApprovals"] == ["nda"]
    assert s["stage"]["approvalRule"]["steps"] == [
        {"mode": "ALL", "minApprovals": None, "departmentKey": None, "approvers": [{"handle": "legal_member"}, {"handle": "legal_manager"}]},
        {"mode": "COUNT", "minApprovals": 2, "departmentKey": "legal", "approvers": []}]
    a = (await run(gql, REQUEST, "requestApproval", "sales_member", opportunityId=deal, kind="nda", departmentKeys=[]))["approval"]
    first = (await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True))["approval"]
    assert [s_["status"] for s_ in first["steps"]] == ["PENDING", "PENDING"]  # 会签: one of two is not enough
    second = (await run(gql, DECIDE, "decideApproval", "legal_manager", id=a["id"], approve=True))["approval"]
    assert [s_["status"] for s_ in second["steps"]] == ["APPROVED", "PENDING"]
    third = (await run(gql, DECIDE, "decideApproval", "legal2", id=a["id"], approve=True))["approval"]
    assert (third["status"], third["steps"][1]["status"]) == ("PENDING", "PENDING")  # 1 of the 2 needed
    fourth = (await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True))["approval"]
    assert (fourth["status"], fourth["steps"][1]["status"]) == ("APPROVED", "APPROVED")


async def test_rules_are_checked_at_the_edge(gql, people):
    stage = await _stage_id(gql, "qualified")
    doc = """mutation($input: SetStageApprovalRuleInput!) { setStageApprovalRule(input: $input) { userErrors { code message } } }"""
    bad = {"kind": "x", "steps": [{"departmentKey": "legal", "mode": "COUNT"}]}
    assert (await gql.ok(doc, {"input": {"stageId": stage, "rule": bad}}, as_="sales_admin"))["setStageApprovalRule"]["userErrors"] == [
        {"code": "VALIDATION", "message": "signMode COUNT needs minApprovals of 1 or more"}]
    forbidden = await gql.ok(doc, {"input": {"stageId": stage, "rule": None}}, as_="sales_member")
    assert forbidden["setStageApprovalRule"]["userErrors"][0]["code"] == "FORBIDDEN"


def _gid(kind, id_):
    from resolvers.ids import to_global

    return to_global(kind, id_)


async def _stage_id(gql, key):
    data = await gql.ok("{ pipelines { stages { id key } } }")
    return next(s["id"] for s in data["pipelines"][0]["stages"] if s["key"] == key)


# ---------------------------------------------------------------- the rules one by one


async def _open(gql, org, rule: dict, amount="10") -> tuple[str, dict]:
    """A card on the qualified stage's rule (set by an admin), its approval requested."""
    stage = await _stage_id(gql, "qualified")
    done = await gql.ok("""mutation($input: SetStageApprovalRuleInput!) { setStageApprovalRule(input: $input) {
        userErrors { code message } } }""", {"input": {"stageId": stage, "rule": rule}}, as_="sales_admin")
    assert done["setStageApprovalRule"]["userErrors"] == []
    deal = await new_deal(gql, amount, "规则")
    made = await run(gql, REQUEST, "requestApproval", "sales_member", opportunityId=deal, kind=rule["kind"], departmentKeys=[])
    assert made["userErrors"] == []
    return deal, made["approval"]


def users(org, *keys):
    return [_gid("User", org.users[k].id) for k in keys]


async def test_add_signer_before_decides_first_then_my_step_reopens(gql, people):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [{"userIds": users(org, "legal_member")}, {"departmentKey": "finance"}]})
    before = await run(gql, ADD_SIGNER, "addApprovalSigner", "legal_member", id=a["id"], userId=users(org, "legal2")[0],
                       placement="BEFORE", comment="请先看")
    steps = before["approval"]["steps"]
    assert [(s["position"], sorted(x["handle"] for x in s["approvers"]), bool(s["openedAt"])) for s in steps] == [
        (0, ["legal2"], True), (1, ["legal_member"], False), (2, ["finance_manager", "finance_member"], False)]
    assert (await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True))["userErrors"][0]["message"] == \
        "Your step is not open yet: an earlier step must approve first"
    after = (await run(gql, DECIDE, "decideApproval", "legal2", id=a["id"], approve=True))["approval"]
    assert [(s["status"], bool(s["openedAt"])) for s in after["steps"]] == [("APPROVED", True), ("PENDING", True), ("PENDING", False)]
    [added] = await events(org, "APPROVAL_SIGNER_ADDED")
    assert added.changes == {"step": 0, "placement": "BEFORE", "signer": "Legal2"}
    assert "added you as an approver of memo" in (await inbox(gql, "legal2"))["edges"][-1]["node"]["message"]


async def test_add_signer_with_joins_my_step_and_all_then_needs_them(gql, people):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [{"userIds": users(org, "legal_member"), "mode": "ALL"}]})
    joined = await run(gql, ADD_SIGNER, "addApprovalSigner", "legal_member", id=a["id"], userId=users(org, "legal2")[0], placement="WITH")
    assert [x["handle"] for x in joined["approval"]["steps"][0]["approvers"]] == ["legal_member", "legal2"]
    again = await run(gql, ADD_SIGNER, "addApprovalSigner", "legal_member", id=a["id"], userId=users(org, "legal2")[0], placement="WITH")
    assert [e["code"] for e in again["userErrors"]] == ["DUPLICATE"]
    first = (await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True))["approval"]
    assert first["status"] == "PENDING"  # 会签: legal2 must approve too
    assert (await run(gql, DECIDE, "decideApproval", "legal2", id=a["id"], approve=True))["approval"]["status"] == "APPROVED"


async def test_who_may_act_is_exact(gql, people):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "mode": "PARALLEL", "steps": [
        {"userIds": users(org, "legal_member")}, {"departmentKey": "finance", "role": "MANAGER"}]})
    for doc, name, extra in ((DECIDE, "decideApproval", {"approve": True}), (RETURN, "returnApproval", {"comment": "x"}),
                             (TRANSFER, "transferApprovalStep", {"toUserId": users(org, "legal2")[0]}),
                             (ADD_SIGNER, "addApprovalSigner", {"userId": users(org, "legal2")[0], "placement": "WITH"})):
        refused = await run(gql, doc, name, "finance_member", id=a["id"], **extra)
        assert [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"], name
    # Parallel: returning to a step is refused, adding a step before/after is refused.
    assert (await run(gql, RETURN, "returnApproval", "legal_member", id=a["id"], toStep=1, comment="x"))["userErrors"] == [
        {"field": ["toStep"], "code": "VALIDATION", "message": "A parallel approval returns to the requester only: leave toStep empty"}]
    assert (await run(gql, ADD_SIGNER, "addApprovalSigner", "legal_member", id=a["id"], userId=users(org, "legal2")[0],
                      placement="AFTER"))["userErrors"][0]["message"] == "In a parallel approval, add signers WITH your step"
    # The viewer's abilities as the board reads them.
    q = "query($id: ID!) { node(id: $id) { ... on Approval { viewerCanDecide viewerCanUrge viewerIsRequester } } }"
    assert (await gql.ok(q, {"id": a["id"]}, as_="legal_member"))["node"] == {"viewerCanDecide": True, "viewerCanUrge": False, "viewerIsRequester": False}
    assert (await gql.ok(q, {"id": a["id"]}, as_="finance_member"))["node"] == {"viewerCanDecide": False, "viewerCanUrge": False, "viewerIsRequester": False}
    assert (await gql.ok(q, {"id": a["id"]}, as_="sales_member"))["node"] == {"viewerCanDecide": False, "viewerCanUrge": True, "viewerIsRequester": True}
    # A return needs its reason; a transfer to oneself is refused.
    assert (await run(gql, RETURN, "returnApproval", "legal_member", id=a["id"], comment="  "))["userErrors"][0]["field"] == ["comment"]
    assert (await run(gql, TRANSFER, "transferApprovalStep", "legal_member", id=a["id"],
                      toUserId=users(org, "legal_member")[0]))["userErrors"][0]["code"] == "DUPLICATE"
    assert (await run(gql, TRANSFER, "transferApprovalStep", "legal_member", id=a["id"],
                      toUserId=users(org, "sales_viewer")[0]))["userErrors"][0]["code"] == "VALIDATION"


async def test_a_returned_step_can_only_go_back(gql, people):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [
        {"userIds": users(org, "legal_member")}, {"userIds": users(org, "finance_member")}]})
    assert (await run(gql, RETURN, "returnApproval", "legal_member", id=a["id"], toStep=0, comment="x"))["userErrors"][0]["field"] == ["toStep"]
    await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=True)
    assert (await run(gql, RETURN, "returnApproval", "finance_member", id=a["id"], toStep=5, comment="x"))["userErrors"][0]["field"] == ["toStep"]


@pytest.mark.parametrize("action, status, step_status", [("APPROVE", "APPROVED", "APPROVED"), ("RETURN", "RETURNED", "PENDING")])
async def test_a_final_timeout_acts_once(gql, people, clock, action, status, step_status):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [
        {"userIds": users(org, "legal_member"), "remindAfterHours": 2, "finalAfterHours": 5, "finalAction": action}]})
    settings = Settings(database_url="sqlite://", broadcast_url="memory://")
    assert await alerts.raise_alerts(org.db, clock() + timedelta(hours=1), settings, org_id=org.id) == 0
    assert await alerts.raise_alerts(org.db, clock() + timedelta(hours=3), settings, org_id=org.id) == 1  # the reminder
    assert "has waited 2 hours for your decision" in (await inbox(gql, "legal_member"))["edges"][0]["node"]["message"]
    assert await alerts.raise_alerts(org.db, clock() + timedelta(hours=6), settings, org_id=org.id) == 1
    assert await alerts.raise_alerts(org.db, clock() + timedelta(hours=7), settings, org_id=org.id) == 0
    q = "query($id: ID!) { node(id: $id) { ... on Approval { status steps { status decisions { action user { handle } } } } } }"
    after = (await gql.ok(q, {"id": a["id"]}))["node"]
    assert (after["status"], after["steps"][0]["status"]) == (status, step_status)
    assert [(d["action"], d["user"]) for d in after["steps"][0]["decisions"]] == [("REMINDED", None), (action + "D" if action == "APPROVE" else "RETURNED", None)]


async def test_locks_name_the_fields_and_lift_when_decided(gql, people):
    deal = await new_deal(gql, "50000", "锁定")
    a = await contract_approval(gql, deal)
    locked = await edit(gql, deal, expectedCloseDate="2032-01-01", currency="USD", title="改名可以吗")
    assert [(e["code"], e["field"]) for e in locked["userErrors"]] == [("LOCKED", ["currency", "expectedCloseDate"])]
    assert (await edit(gql, deal, title="改名可以"))["userErrors"] == []  # title is not locked by default
    await run(gql, DECIDE, "decideApproval", "legal_member", id=a["id"], approve=False, comment="不行")
    assert (await edit(gql, deal, currency="USD"))["userErrors"] == []  # rejected: nothing locked


async def test_superseded_before_the_gate_is_not_reopened(gql, people):
    """A card still short of Contract needs a fresh approval only when it asks to enter."""
    org = people
    deal = await new_deal(gql, "200000", "未进合同")
    a = (await run(gql, REQUEST, "requestApproval", "sales_member", opportunityId=deal, kind="contract", departmentKeys=[]))["approval"]
    for who in ("legal_member", "finance_member"):
        await run(gql, DECIDE, "decideApproval", who, id=a["id"], approve=True)
    assert (await edit(gql, deal, amount="210000"))["userErrors"] == []
    c = await card(gql, deal)
    assert [(x["status"]) for x in c["approvals"]] == ["SUPERSEDED"] and c["approvalsNeeded"] == []
    refused = await move(gql, deal, "contract")
    assert refused["userErrors"][0]["code"] == "STAGE_GATE"
    assert [x["status"] for x in (await card(gql, deal))["approvals"]] == ["SUPERSEDED", "PENDING"]
    q = "query($id: ID!) { node(id: $id) { ... on Approval { changes { field before after } snapshotApproved } } }"
    assert (await gql.ok(q, {"id": a["id"]}))["node"]["changes"] == [{"field": "amount", "before": "200000.00", "after": "210000.00"}]


async def test_the_old_auto_approval_shape_still_reads_and_writes(gql, people):
    stage = await _stage_id(gql, "contract")
    q = "query { pipelines { stages { key autoApproval approvalRule { kind mode locks steps { departmentKey role mode amountAtLeast remindAfterHours escalateAfterHours } } } } }"
    contract = next(s for s in (await gql.ok(q))["pipelines"][0]["stages"] if s["key"] == "contract")
    assert contract["autoApproval"] == {"kind": "contract", "departmentKeys": ["legal", "finance"], "mode": "SEQUENTIAL"}
    assert contract["approvalRule"] == {"kind": "contract", "mode": "SEQUENTIAL", "locks": ["amount", "currency", "account", "expectedCloseDate"], "steps": [
        {"departmentKey": "legal", "role": None, "mode": "ANY", "amountAtLeast": None, "remindAfterHours": 24, "escalateAfterHours": 48},
        {"departmentKey": "finance", "role": None, "mode": "ANY", "amountAtLeast": None, "remindAfterHours": 24, "escalateAfterHours": 48},
        {"departmentKey": "finance", "role": "MANAGER", "mode": "ANY", "amountAtLeast": "1000000", "remindAfterHours": 24, "escalateAfterHours": 48}]}
    doc = """mutation($input: UpdateStageInput!) { updateStage(input: $input) { stage { autoApproval approvalRule { steps { departmentKey mode } } } userErrors { code } } }"""
    done = (await gql.ok(doc, {"input": {"id": stage, "autoApproval": {"kind": "contract", "departmentKeys": ["finance"], "mode": "PARALLEL"}}}, as_="sales_admin"))["updateStage"]
    assert done["stage"] == {"autoApproval": {"kind": "contract", "departmentKeys": ["finance"], "mode": "PARALLEL"},
                             "approvalRule": {"steps": [{"departmentKey": "finance", "mode": "ANY"}]}}


async def test_resubmission_is_the_requesters_and_reopens_the_first_step(gql, people):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [{"userIds": users(org, "legal_member")}, {"departmentKey": "finance"}]})
    await run(gql, RETURN, "returnApproval", "legal_member", id=a["id"], comment="缺附件")
    other = await run(gql, RESUBMIT, "resubmitApproval", "marketing_member", id=a["id"])
    assert other["userErrors"] == [{"field": None, "code": "FORBIDDEN", "message": "Only the requester (or an admin) can resubmit this approval"}]
    again = (await run(gql, RESUBMIT, "resubmitApproval", "sales_member", id=a["id"], comment="已补"))["approval"]
    assert [(bool(s["openedAt"]), s["status"]) for s in again["steps"]] == [(True, "PENDING"), (False, "PENDING")]
    q = "query($id: ID!) { node(id: $id) { ... on Approval { decisions { action comment user { handle } } } } }"
    decisions = (await gql.ok(q, {"id": a["id"]}))["node"]["decisions"]
    assert decisions[-1] == {"action": "RESUBMITTED", "comment": "已补", "user": {"handle": "sales_member"}}
    box = [e["node"]["message"] for e in (await inbox(gql, "legal_member"))["edges"]]
    assert "Resubmitted for your approval: memo on 规则" in box


async def test_urging_is_recorded_on_the_step_and_timed_to_the_minute(gql, people, clock):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [{"userIds": users(org, "legal_member")}]})
    refused = await run(gql, URGE, "urgeApproval", "marketing_member", id=a["id"])
    assert refused["userErrors"] == [{"field": None, "code": "FORBIDDEN",
                                      "message": "Only the requester, the card's owner or an admin can urge this approval"}]
    first = (await run(gql, URGE, "urgeApproval", "sales_member", id=a["id"], comment="今天要"))["approval"]
    assert [(d["action"], d["comment"]) for d in first["steps"][0]["decisions"]] == [("URGED", "今天要")]
    clock.advance(minutes=59)
    soon = await run(gql, URGE, "urgeApproval", "sales_member", id=a["id"])
    again_at = (clock() + timedelta(minutes=1)).strftime("%H:%M")
    assert soon["userErrors"] == [{"field": ["id"], "code": "TOO_SOON",
                                   "message": f"This step was urged less than an hour ago; urge again after {again_at} UTC"}]
    clock.advance(minutes=1)  # exactly an hour: allowed
    assert (await run(gql, URGE, "urgeApproval", "sales_member", id=a["id"]))["approval"]["urgeCount"] == 2


async def test_a_transfer_is_exact(gql, people):
    org = people
    deal, a = await _open(gql, org, {"kind": "memo", "steps": [{"departmentKey": "legal"}]})
    not_mine = await run(gql, TRANSFER, "transferApprovalStep", "finance_member", id=a["id"], toUserId=users(org, "legal2")[0])
    assert not_mine["userErrors"] == [{"field": None, "code": "FORBIDDEN", "message": "Only an approver of an open step can transfer it"}]
    self_ = await run(gql, TRANSFER, "transferApprovalStep", "legal_member", id=a["id"], toUserId=users(org, "legal_member")[0])
    assert self_["userErrors"] == [{"field": ["toUserId"], "code": "DUPLICATE", "message": "You already approve this step: name a colleague"}]
    unknown = await run(gql, TRANSFER, "transferApprovalStep", "legal_member", id=a["id"], toUserId=_gid("User", 987654))
    assert [(e["field"], e["code"]) for e in unknown["userErrors"]] == [(["toUserId"], "NOT_FOUND")]
    # To someone outside the step: they are seated in my place, and told why.
    moved = (await run(gql, TRANSFER, "transferApprovalStep", "legal_member", id=a["id"],
                       toUserId=users(org, "product_member")[0], comment="产品更懂这个"))["approval"]
    step = moved["steps"][0]
    assert sorted(x["handle"] for x in step["approvers"]) == ["legal2", "legal_manager", "product_member"]
    assert [(d["action"], d["user"]["handle"], d["targetUser"]["handle"], d["comment"]) for d in step["decisions"]] == [
        ("TRANSFERRED", "legal_member", "product_member", "产品更懂这个")]
    [event] = await events(org, "APPROVAL_TRANSFERRED")
    assert event.changes == {"step": 0, "from": "Legal Member", "to": "Product Member"}
    assert (await inbox(gql, "product_member"))["edges"][0]["node"]["message"] == \
        "Legal Member handed you their decision on memo for 规则: 产品更懂这个"
    # To someone already deciding the step: no second seat.
    again = (await run(gql, TRANSFER, "transferApprovalStep", "legal_manager", id=a["id"], toUserId=users(org, "legal2")[0]))["approval"]
    assert sorted(x["handle"] for x in again["steps"][0]["approvers"]) == ["legal2", "product_member"]
    # Back to someone who handed it on earlier: seated again.
    back = (await run(gql, TRANSFER, "transferApprovalStep", "legal2", id=a["id"], toUserId=users(org, "legal_manager")[0]))["approval"]
    assert sorted(x["handle"] for x in back["steps"][0]["approvers"]) == ["legal_manager", "product_member"]
    assert (await run(gql, DECIDE, "decideApproval", "product_member", id=a["id"], approve=True))["approval"]["status"] == "APPROVED"
