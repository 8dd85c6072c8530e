"""The approvals lists (`approvals`, `approvalsConnection`) and `approvalKinds`, exactly:
only approvals of cards the viewer sees, a department's work queue, statuses, newest
first, pages, and the kinds this organization configures."""
from datetime import datetime

from sqlalchemy import select, update

from db import models as m
from tests.api.test_access_rules import set_rule
from tests.api.test_workflow_approvals import decide, request
from tests.api.test_approval_rules_exact import read_stage, set_raw, set_typed
from tests.api.test_workflow_gates import _set_stage
from tests.api.workflow_helpers import create
from tests.conftest import GQL, make_org

LIST = "query($d: String, $s: [ApprovalStatus!]) { approvals(departmentKey: $d, status: $s) { kind } }"
PAGE = """query($d: String, $s: [ApprovalStatus!], $first: Int, $after: String) {
  approvalsConnection(departmentKey: $d, status: $s, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } edges { node { kind } } } }"""


async def listed(gql, as_="sales_member", **filters) -> list[str]:
    return [a["kind"] for a in (await gql.ok(LIST, filters, as_=as_))["approvals"]]


async def paged(gql, as_="sales_member", first=None, **filters) -> list[list[str]]:
    """Every page's kinds, following endCursor to the end."""
    pages, after = [], None
    while True:
        box = (await gql.ok(PAGE, {**filters, "first": first, "after": after}, as_=as_))["approvalsConnection"]
        pages.append([e["node"]["kind"] for e in box["edges"]])
        if not box["pageInfo"]["hasNextPage"]:
            return pages
        after = box["pageInfo"]["endCursor"]


async def test_a_restricted_viewer_lists_only_approvals_of_cards_they_see(gql):
    mine = await create(gql, title="Mine")
    theirs = await create(gql, title="Theirs", as_="marketing_member")  # held by marketing, not by the viewer's sales
    await request(gql, mine["id"], kind="mine", depts=("legal",))
    await request(gql, theirs["id"], kind="theirs", depts=("legal",), as_="marketing_member")
    await set_rule(gql, role="MEMBER", scope="OWN")
    assert await listed(gql) == ["mine"]
    assert await paged(gql) == [["mine"]]
    assert await listed(gql, as_="sales_manager") == ["theirs", "mine"]  # no rule for managers
    assert await paged(gql, as_="sales_manager") == [["theirs", "mine"]]


async def test_a_departments_queue_and_statuses_page_newest_first(gql):
    deal = await create(gql)
    legal_only = (await request(gql, deal["id"], kind="one", depts=("legal",)))["approval"]
    await request(gql, deal["id"], kind="two", depts=("finance",))
    await request(gql, deal["id"], kind="three", depts=("legal", "finance"))
    await decide(gql, legal_only["id"], "legal_member")
    assert await paged(gql, first=2) == [["three", "two"], ["one"]]
    assert await paged(gql, first=1, d="legal") == [["three"], ["one"]]
    assert await paged(gql, d="finance") == [["three", "two"]]
    assert await paged(gql, s=["PENDING"]) == [["three", "two"]]
    assert await paged(gql, d="legal", s=["APPROVED"]) == [["one"]]
    assert await listed(gql, d="legal", s=["PENDING"]) == ["three"]
    assert await listed(gql, d="product") == []


async def test_another_organizations_approvals_stay_out_of_every_list(gql, client, org):
    other = await make_org(org.db)
    other_gql = GQL(client, other)
    await request(other_gql, (await create(other_gql))["id"], kind="elsewhere", depts=("legal",))
    await request(gql, (await create(gql))["id"], kind="here", depts=("legal",))
    assert await listed(gql, d="legal") == ["here"]
    assert await paged(gql, d="legal") == [["here"]]
    assert await listed(other_gql, d="legal") == ["elsewhere"]


async def test_approval_kinds_are_this_organizations_stage_kinds_sorted(gql, client, org):
    kinds = "{ approvalKinds }"
    before = (await gql.ok(kinds))["approvalKinds"]
    assert before == sorted(before) and "contract" in before
    await _set_stage(gql, "qualified", requiredApprovals=["Pricing", "legal"])
    after = (await gql.ok(kinds))["approvalKinds"]
    assert after == sorted({*before, "pricing", "legal"})
    other = GQL(client, await make_org(org.db))
    assert (await other.ok(kinds))["approvalKinds"] == before  # the change stays in this organization


async def test_a_near_miss_of_a_configured_kind_is_refused_and_another_kind_is_ad_hoc(gql, org):
    """requestApproval refuses a kind within a typo of one this organization configures,
    naming it; a kind further off opens an ad-hoc approval; the configured one opens."""
    deal = await create(gql)
    refused = await request(gql, deal["id"], kind="contrct")
    assert (refused["approval"], refused["userErrors"]) == (None, [
        {"field": ["kind"], "code": "VALIDATION", "message": "Unknown approval kind 'contrct': did you mean 'contract'?"}])
    for kind in ("contract-review", "contract"):  # 0.70 alike: a kind of its own
        made = await request(gql, deal["id"], kind=kind)
        assert made["userErrors"] == [] and made["approval"]["kind"] == kind, kind
    async with org.db.read() as s:
        kinds = (await s.execute(select(m.Approval.kind).where(m.Approval.org_id == org.id).order_by(m.Approval.id))).scalars().all()
    assert kinds == ["contract-review", "contract"]


async def test_the_owners_manager_requests_an_approval_on_a_card_another_department_holds(gql, org):
    deal = await create(gql)  # sales_member owns it
    async with org.db.write() as s:
        legal = await s.scalar(select(m.Department.id).where(m.Department.org_id == org.id, m.Department.key == "legal"))
        await s.execute(update(m.Opportunity).where(m.Opportunity.org_id == org.id).values(department_id=legal))
    # Legal holds it: a marketing member is no one to it, the owner's manager still is.
    refused = await request(gql, deal["id"], as_="marketing_member")
    assert refused["approval"] is None and [e["code"] for e in refused["userErrors"]] == ["FORBIDDEN"]
    made = await request(gql, deal["id"], as_="sales_manager")
    assert made["userErrors"] == [] and made["approval"]["kind"] == "discount"


async def test_a_stage_approval_rules_kind_is_a_configured_kind(gql, org):
    """A kind a stage's approval rule defines, lowercased, is offered like the kinds stages require."""
    before = (await gql.ok("{ approvalKinds }"))["approvalKinds"]
    assert (await set_typed(gql, {"kind": "Audit", "steps": [{"departmentKey": "legal"}]}))["userErrors"] == []
    assert (await gql.ok("{ approvalKinds }"))["approvalKinds"] == sorted({*before, "audit"})


async def test_a_rule_whose_stage_does_not_require_its_kind_still_names_a_configured_kind(gql, org):
    """updateStage's autoApproval stores the rule without making the stage require its kind
    (setStageApprovalRule does both): the rule alone makes the kind one requestApproval knows."""
    before = (await gql.ok("{ approvalKinds }"))["approvalKinds"]
    assert (await set_raw(gql, {"kind": "Audit", "steps": [{"departmentKey": "legal"}]}))["userErrors"] == []
    assert "audit" not in (await read_stage(gql, "requiredApprovals", "after"))["requiredApprovals"]
    assert (await gql.ok("{ approvalKinds }"))["approvalKinds"] == sorted({*before, "audit"})


async def test_an_approval_is_requested_at_the_requests_time(gql, org, clock):
    deal = await create(gql)
    clock.advance(hours=3)
    made = (await request(gql, deal["id"], depts=("legal",)))["approval"]
    query = "query($id: ID!) { node(id: $id) { ... on Approval { createdAt } } }"
    assert datetime.fromisoformat((await gql.ok(query, {"id": made["id"]}))["node"]["createdAt"]) == clock.now
