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
    assert superseded.changes == {"status": ["APPROVED", "SUPERSEDED"], "fields": {"amount": ["1200000.00", "2000000.00"]}}
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
    assert resubmitted.changes == {"status": ["RETURNED", "PENDING"], "fields": {"amount": ["300000.00", "1500000.00"]}}
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
