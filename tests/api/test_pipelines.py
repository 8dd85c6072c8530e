"""Admins edit stages and gates; everyone else is FORBIDDEN; gates take effect at once."""
from tests.api.workflow_helpers import create, move

PIPELINE = "{ pipelines { id stages { id key position requiredFields requiredApprovals staleAfterHours autoApproval } } }"
UPDATE_STAGE = """mutation($input: UpdateStageInput!) { updateStage(input: $input) {
  stage { key name requiredFields requiredApprovals staleAfterHours autoApproval } userErrors { field code } } }"""
CREATE_STAGE = """mutation($input: CreateStageInput!) { createStage(input: $input) {
  stage { key position kind } userErrors { field code } } }"""


async def stages(gql):
    pipeline = (await gql.ok(PIPELINE))["pipelines"][0]
    return pipeline["id"], {s["key"]: s for s in pipeline["stages"]}


async def test_admin_edits_gates_and_they_apply(gql):
    _, by_key = await stages(gql)
    qualified = by_key["qualified"]["id"]
    denied = (await gql.ok(UPDATE_STAGE, {"input": {"id": qualified, "requiredFields": ["amount"]}}, as_="sales_manager"))["updateStage"]
    assert denied["stage"] is None and denied["userErrors"][0]["code"] == "FORBIDDEN"
    bad = (await gql.ok(UPDATE_STAGE, {"input": {"id": qualified, "requiredFields": ["colour"]}}, as_="sales_admin"))["updateStage"]
    assert bad["userErrors"] == [{"field": ["requiredFields"], "code": "VALIDATION"}]
    bad_rule = (await gql.ok(UPDATE_STAGE, {"input": {"id": qualified, "autoApproval": {"kind": "x", "departmentKeys": ["nope"]}}}, as_="sales_admin"))["updateStage"]
    assert bad_rule["userErrors"][0]["code"] == "VALIDATION"
    done = (await gql.ok(UPDATE_STAGE, {"input": {
        "id": qualified, "name": "Qualified!", "requiredFields": ["amount"], "requiredApprovals": ["Discount"], "staleAfterHours": 10,
        "autoApproval": {"kind": "discount", "departmentKeys": ["finance"], "mode": "PARALLEL"},
    }}, as_="sales_admin"))["updateStage"]
    assert done["userErrors"] == []
    assert done["stage"] == {"key": "qualified", "name": "Qualified!", "requiredFields": ["amount"], "requiredApprovals": ["discount"],
                             "staleAfterHours": 10, "autoApproval": {"kind": "discount", "departmentKeys": ["finance"], "mode": "PARALLEL"}}
    deal = await create(gql)
    refused = await move(gql, deal["id"], "qualified")
    assert refused["userErrors"][0]["code"] == "STAGE_GATE"
    assert set(refused["userErrors"][0]["field"]) == {"amount", "approval:discount"}


async def test_admin_creates_a_stage(gql):
    pipeline_id, by_key = await stages(gql)
    made = (await gql.ok(CREATE_STAGE, {"input": {"pipelineId": pipeline_id, "key": "security", "position": 4, "requiredApprovals": ["security"]}}, as_="sales_admin"))["createStage"]
    assert made["userErrors"] == [] and made["stage"] == {"key": "security", "position": 4, "kind": "OPEN"}
    _, after = await stages(gql)
    assert after["contract"]["position"] == 5 and after["lead"]["position"] == 0
    dup = (await gql.ok(CREATE_STAGE, {"input": {"pipelineId": pipeline_id, "key": "security"}}, as_="sales_admin"))["createStage"]
    assert dup["userErrors"][0]["code"] == "DUPLICATE"
    denied = (await gql.ok(CREATE_STAGE, {"input": {"pipelineId": pipeline_id, "key": "other"}}, as_="sales_member"))["createStage"]
    assert denied["userErrors"][0]["code"] == "FORBIDDEN"


async def test_stage_edits_are_events_and_refusals_are_not(gql):
    _, by_key = await stages(gql)
    events = "{ events(first: 100) { edges { node { seq type changes } } } }"
    before = len((await gql.ok(events))["events"]["edges"])
    await gql.ok(UPDATE_STAGE, {"input": {"id": by_key["lead"]["id"], "staleAfterHours": 5}}, as_="sales_manager")  # FORBIDDEN
    await gql.ok(UPDATE_STAGE, {"input": {"id": by_key["lead"]["id"], "staleAfterHours": 5}}, as_="sales_admin")
    await gql.ok(UPDATE_STAGE, {"input": {"id": by_key["lead"]["id"], "staleAfterHours": 5}}, as_="sales_admin")  # no change
    edges = (await gql.ok(events))["events"]["edges"][before:]
    assert [(e["node"]["type"], e["node"]["changes"]) for e in edges] == [
        ("PIPELINE_UPDATED", {"stage": [None, "lead"], "staleAfterHours": [72, 5]}),
    ]
