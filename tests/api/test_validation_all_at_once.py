"""Every field problem of a mutation comes back in one answer (each naming its field),
and the refused mutation writes nothing and appends no event; on SQLite and PostgreSQL."""
from sqlalchemy import func, select

from db import models as m
from tests.api.workflow_helpers import CREATE, MOVE, REQUEST_APPROVAL, REQUEST_HANDOFF, UPDATE, create, event_count

CREATE_TASK = """mutation($input: CreateTaskInput!) { createTask(input: $input) {
  task { id version } userErrors { field code message } } }"""
UPDATE_TASK = """mutation($input: UpdateTaskInput!) { updateTask(input: $input) {
  task { id version } userErrors { field code message } } }"""
ADD_COMMENT = """mutation($input: AddCommentInput!) { addComment(input: $input) {
  comment { id } userErrors { field code message } } }"""
PIPELINE = "{ pipelines { id stages { id key name position requiredFields staleAfterHours } } }"
CREATE_STAGE = """mutation($input: CreateStageInput!) { createStage(input: $input) {
  stage { key } userErrors { field code message } } }"""
UPDATE_STAGE = """mutation($input: UpdateStageInput!) { updateStage(input: $input) {
  stage { key } userErrors { field code message } } }"""
CREATE_WEBHOOK = """mutation($input: CreateWebhookInput!) { createWebhook(input: $input) {
  webhook { id } userErrors { field code message } } }"""
UPDATE_WEBHOOK = """mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) {
  webhook { id url } userErrors { field code message } } }"""
CREATE_TOKEN = """mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) {
  token userErrors { field code message } } }"""
NOWHERE = "T3Bwb3J0dW5pdHk6OTk5OTk5OQ=="  # Opportunity:9999999
NO_USER = "VXNlcjo5OTk5OTk5"  # User:9999999


async def rows(org, model) -> int:
    async with org.db.read() as s:
        return await s.scalar(select(func.count()).select_from(model).where(model.org_id == org.id))


async def refused(gql, doc: str, name: str, data: dict, as_="sales_member") -> list[tuple[list[str], str]]:
    """(field, code) of each user error of a refused mutation."""
    result = (await gql.ok(doc, {"input": data}, as_=as_))[name]
    assert all(value is None for key, value in result.items() if key != "userErrors"), result
    return [(e["field"], e["code"]) for e in result["userErrors"]]


async def test_create_opportunity_reports_every_problem(gql, org):
    before = (await event_count(org), await rows(org, m.Opportunity))
    errors = await refused(gql, CREATE, "createOpportunity",
                           {"title": " ", "accountName": "Acme", "amount": "-5", "probability": 150})
    assert errors == [(["title"], "VALIDATION"), (["amount"], "VALIDATION"), (["probability"], "VALIDATION")]
    assert (await event_count(org), await rows(org, m.Opportunity)) == before

    everything = await refused(gql, CREATE, "createOpportunity", {
        "title": "", "accountName": "", "amount": "1.234", "currency": "dollars", "probability": -1,
        "expectedCloseDate": "1999-12-31", "tags": [f"t{i}" for i in range(21)], "nextStep": "x" * 501,
        "ownerId": NO_USER, "stageKey": "nowhere", "clientMutationId": "x" * 101,
    })
    assert everything == [
        (["title"], "VALIDATION"), (["accountName"], "VALIDATION"), (["amount"], "VALIDATION"),
        (["currency"], "VALIDATION"), (["probability"], "VALIDATION"), (["expectedCloseDate"], "VALIDATION"),
        (["tags"], "VALIDATION"), (["nextStep"], "VALIDATION"), (["ownerId"], "NOT_FOUND"),
        (["stageKey"], "VALIDATION"), (["clientMutationId"], "VALIDATION"),
    ]
    one = await refused(gql, CREATE, "createOpportunity", {"title": "Fine", "accountName": "Acme", "probability": 101})
    assert one == [(["probability"], "VALIDATION")]
    assert (await event_count(org), await rows(org, m.Opportunity)) == before


async def test_update_opportunity_reports_every_problem(gql, org):
    deal = await create(gql, amount="10")
    before = await event_count(org)
    errors = await refused(gql, UPDATE, "updateOpportunity", {
        "id": deal["id"], "version": deal["version"], "title": " ", "amount": "-1", "probability": 101,
        "tags": ["ok", ""], "ownerId": NO_USER,
    })
    assert errors == [(["title"], "VALIDATION"), (["amount"], "VALIDATION"), (["probability"], "VALIDATION"),
                      (["tags"], "VALIDATION"), (["ownerId"], "NOT_FOUND")]
    assert await event_count(org) == before
    async with org.db.read() as s:
        row = await s.scalar(select(m.Opportunity).where(m.Opportunity.org_id == org.id))
    assert (row.title, str(row.amount), row.version, row.owner_id) == ("Fleet pilot", "10.00", 1, org.users["sales_member"].id)


async def test_move_opportunity_reports_stage_and_reason_together(gql, org):
    deal = await create(gql)
    before = await event_count(org)
    errors = await refused(gql, MOVE, "moveOpportunity",
                           {"id": deal["id"], "version": 1, "stageKey": "nowhere", "lostReason": "x" * 501})
    assert errors == [(["stageKey"], "VALIDATION"), (["lostReason"], "VALIDATION")]
    assert await event_count(org) == before


async def test_tasks_report_every_problem(gql, org):
    deal = await create(gql)
    task = (await gql.ok(CREATE_TASK, {"input": {"opportunityId": deal["id"], "title": "Call"}}))["createTask"]["task"]
    before = (await event_count(org), await rows(org, m.Task))
    errors = await refused(gql, CREATE_TASK, "createTask", {
        "opportunityId": deal["id"], "title": " ", "description": "x" * 5001, "assigneeId": NO_USER, "departmentKey": "hr",
    })
    assert errors == [(["title"], "VALIDATION"), (["description"], "VALIDATION"), (["assigneeId"], "NOT_FOUND"),
                      (["departmentKey"], "VALIDATION")]
    errors = await refused(gql, UPDATE_TASK, "updateTask",
                           {"id": task["id"], "version": 1, "title": "", "description": "x" * 5001, "status": "DONE"})
    assert errors == [(["title"], "VALIDATION"), (["description"], "VALIDATION")]
    assert (await event_count(org), await rows(org, m.Task)) == before
    async with org.db.read() as s:
        row = await s.scalar(select(m.Task).where(m.Task.org_id == org.id))
    assert (row.title, row.status, row.version) == ("Call", "OPEN", 1)


async def test_comment_reports_body_and_task_together(gql, org):
    deal = await create(gql)
    before = await event_count(org)
    errors = await refused(gql, ADD_COMMENT, "addComment", {"opportunityId": deal["id"], "body": " ", "taskId": "bm9wZQ=="})
    assert errors == [(["body"], "VALIDATION"), (["taskId"], "NOT_FOUND")]
    assert await event_count(org) == before


async def test_handoff_and_approval_requests_report_every_problem(gql, org):
    deal = await create(gql)
    before = (await event_count(org), await rows(org, m.Handoff), await rows(org, m.Approval))
    errors = await refused(gql, REQUEST_HANDOFF, "requestHandoff",
                           {"opportunityId": deal["id"], "toDepartmentKey": "hr", "assigneeId": NO_USER, "note": "x" * 5001})
    assert errors == [(["toDepartmentKey"], "VALIDATION"), (["assigneeId"], "NOT_FOUND"), (["note"], "VALIDATION")]
    errors = await refused(gql, REQUEST_APPROVAL, "requestApproval",
                           {"opportunityId": deal["id"], "kind": " ", "departmentKeys": ["legal", "hr"], "comment": "x" * 5001})
    assert errors == [(["kind"], "VALIDATION"), (["departmentKeys"], "VALIDATION"), (["comment"], "VALIDATION")]
    assert (await event_count(org), await rows(org, m.Handoff), await rows(org, m.Approval)) == before


async def test_stage_create_and_update_report_every_problem(gql, org):
    pipeline = (await gql.ok(PIPELINE))["pipelines"][0]
    before = (await event_count(org), pipeline)
    errors = await refused(gql, CREATE_STAGE, "createStage", {
        "pipelineId": pipeline["id"], "key": "bad key!", "name": " ", "position": 99, "requiredFields": ["colour"],
        "requiredApprovals": [""], "staleAfterHours": 0, "autoApproval": {"kind": "x", "departmentKeys": ["hr"]},
    }, as_="sales_admin")
    assert errors == [(["key"], "VALIDATION"), (["position"], "VALIDATION"), (["name"], "VALIDATION"),
                      (["requiredFields"], "VALIDATION"), (["requiredApprovals"], "VALIDATION"),
                      (["staleAfterHours"], "VALIDATION"), (["autoApproval"], "VALIDATION")]
    lead = pipeline["stages"][0]["id"]
    errors = await refused(gql, UPDATE_STAGE, "updateStage",
                           {"id": lead, "name": "", "requiredFields": ["colour"], "staleAfterHours": 0}, as_="sales_admin")
    assert errors == [(["name"], "VALIDATION"), (["requiredFields"], "VALIDATION"), (["staleAfterHours"], "VALIDATION")]
    assert (await event_count(org), (await gql.ok(PIPELINE))["pipelines"][0]) == before


async def test_webhook_and_token_creation_report_every_problem(gql, org):
    before = (await rows(org, m.Webhook), await rows(org, m.ApiToken))
    errors = await refused(gql, CREATE_WEBHOOK, "createWebhook",
                           {"url": "ftp://hooks.example.com/x", "eventTypes": ["NOPE"], "departmentKeys": ["hr"]}, as_="sales_admin")
    assert errors == [(["url"], "VALIDATION"), (["eventTypes"], "VALIDATION"), (["departmentKeys"], "NOT_FOUND")]
    errors = await refused(gql, CREATE_TOKEN, "createApiToken",
                           {"name": " ", "departmentKey": "hr", "userId": NO_USER}, as_="sales_admin")
    assert errors == [(["name"], "VALIDATION"), (["departmentKey"], "NOT_FOUND"), (["userId"], "NOT_FOUND")]
    assert (await rows(org, m.Webhook), await rows(org, m.ApiToken)) == before

    made = (await gql.ok(CREATE_WEBHOOK, {"input": {"url": "https://hooks.example.com/x"}}, as_="sales_admin"))["createWebhook"]
    hook = made["webhook"]["id"]
    errors = await refused(gql, UPDATE_WEBHOOK, "updateWebhook",
                           {"id": hook, "url": "http://localhost/x", "eventTypes": ["NOPE"]}, as_="sales_admin")
    assert errors == [(["url"], "VALIDATION"), (["eventTypes"], "VALIDATION")]
    async with org.db.read() as s:
        assert await s.scalar(select(m.Webhook.url).where(m.Webhook.org_id == org.id)) == "https://hooks.example.com/x"
