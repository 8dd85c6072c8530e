"""Authorization matrix: every mutation x role x department (own vs other) x
organization (own vs other). Expected: success, FORBIDDEN, or NOT_FOUND for any
object of another organization. The target card is owned by sales_member and held
by sales; the handoff goes sales -> legal; the approval's step is finance's."""
import pytest

from tests.api.workflow_helpers import create
from tests.conftest import make_org
from tests.invariants import check_invariants

ROLES = ["sales_admin", "sales_manager", "sales_member", "sales_viewer", "marketing_member", "product_member",
         "legal_member", "legal_manager", "finance_member"]
WRITERS = set(ROLES) - {"sales_viewer"}
EDITORS = {"sales_admin", "sales_manager", "sales_member"}  # department holding the card, owner, owner's manager, admin
MOVERS = {"sales_admin", "sales_manager", "sales_member"}  # owner, owner's manager, admin
LEGAL = {"sales_admin", "legal_member", "legal_manager"}  # receiving department or admin
FINANCE = {"sales_admin", "finance_member"}  # the step's department or admin
REQUESTER = {"sales_admin", "sales_member"}  # who requested, or admin
ADMINS = {"sales_admin"}

ERRS = "userErrors { code field message }"


def mut(name, input_type, payload):
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {payload} {ERRS} }} }}"


# name -> (document, build input from the targets, roles allowed)
MATRIX = {
    "createOpportunity": (mut("createOpportunity", "CreateOpportunityInput", "opportunity { id }"),
                          lambda t: {"title": "New", "accountName": "Acme", "ownerId": t["owner"]}, WRITERS),
    "updateOpportunity": (mut("updateOpportunity", "UpdateOpportunityInput", "opportunity { id }"),
                          lambda t: {"id": t["opp"], "version": t["version"], "title": "Renamed"}, EDITORS),
    "moveOpportunity": (mut("moveOpportunity", "MoveOpportunityInput", "opportunity { id }"),
                        lambda t: {"id": t["opp"], "version": t["version"], "stageKey": "lost", "lostReason": "price"}, MOVERS),
    "createTask": (mut("createTask", "CreateTaskInput", "task { id }"), lambda t: {"opportunityId": t["opp"], "title": "Call"}, WRITERS),
    "updateTask": (mut("updateTask", "UpdateTaskInput", "task { id }"), lambda t: {"id": t["task"], "version": 1, "title": "Call back"}, WRITERS),
    "addComment": (mut("addComment", "AddCommentInput", "comment { id }"), lambda t: {"opportunityId": t["opp"], "body": "hi"}, WRITERS),
    "requestHandoff": (mut("requestHandoff", "RequestHandoffInput", "handoff { id }"),
                       lambda t: {"opportunityId": t["opp"], "toDepartmentKey": "product"}, EDITORS),
    "respondHandoff": (mut("respondHandoff", "RespondHandoffInput", "handoff { id }"), lambda t: {"id": t["handoff"], "accept": False}, LEGAL),
    "cancelHandoff": (mut("cancelHandoff", "CancelHandoffInput", "handoff { id }"), lambda t: {"id": t["handoff"]}, REQUESTER),
    "requestApproval": (mut("requestApproval", "RequestApprovalInput", "approval { id }"),
                        lambda t: {"opportunityId": t["opp"], "kind": "pricing", "departmentKeys": ["legal"]}, EDITORS),
    "decideApproval": (mut("decideApproval", "DecideApprovalInput", "approval { id }"), lambda t: {"id": t["approval"], "approve": True}, FINANCE),
    "cancelApproval": (mut("cancelApproval", "CancelApprovalInput", "approval { id }"), lambda t: {"id": t["approval"]}, REQUESTER),
    "markNotificationsRead": ("mutation($input: MarkNotificationsReadInput!) { markNotificationsRead(input: $input) { unreadCount " + ERRS + " } }",
                              lambda t: {"ids": t["notifications"]}, set(ROLES)),
}
# Administration: pipelines and gates, API tokens, webhooks.
MATRIX.update({
    "updateStage": (mut("updateStage", "UpdateStageInput", "stage { id }"), lambda t: {"id": t["stage"], "staleAfterHours": 99}, ADMINS),
    "createApiToken": (mut("createApiToken", "CreateApiTokenInput", "token"), lambda t: {"name": "erp", "userId": t["owner"]}, ADMINS),
    "createWebhook": (mut("createWebhook", "CreateWebhookInput", "webhook { id }"),
                      lambda t: {"url": "https://hooks.example.test/baton", "eventTypes": ["APPROVAL_DECIDED"]}, ADMINS),
})
# From another organization: NOT_FOUND for this organization's objects; admin-only
# mutations may refuse a non-admin first, and createWebhook names no object at all.
OTHER_ORG = {
    "markNotificationsRead": {"OK", "NOT_FOUND"},
    "updateStage": {"NOT_FOUND", "FORBIDDEN"},
    "createApiToken": {"NOT_FOUND", "FORBIDDEN"},
    "createWebhook": {"OK", "FORBIDDEN"},
}


async def targets(gql, org) -> dict:
    opp = await create(gql, as_="sales_member")
    task = (await gql.ok(mut("createTask", "CreateTaskInput", "task { id }"), {"input": {"opportunityId": opp["id"], "title": "t"}}))["createTask"]["task"]
    handoff = (await gql.ok(mut("requestHandoff", "RequestHandoffInput", "handoff { id }"),
                            {"input": {"opportunityId": opp["id"], "toDepartmentKey": "legal"}}))["requestHandoff"]["handoff"]
    approval = (await gql.ok(mut("requestApproval", "RequestApprovalInput", "approval { id }"),
                             {"input": {"opportunityId": opp["id"], "kind": "discount", "departmentKeys": ["finance"]}}))["requestApproval"]["approval"]
    owner = (await gql.ok("{ viewer { id } }"))["viewer"]["id"]
    notes = (await gql.ok("{ notifications(first: 5) { edges { node { id } } } }", as_="legal_member"))["notifications"]["edges"]
    stage = (await gql.ok("{ pipelines { stages { id } } }"))["pipelines"][0]["stages"][0]["id"]
    return {"stage": stage, "opp": opp["id"], "version": opp["version"], "task": task["id"], "handoff": handoff["id"], "approval": approval["id"],
            "owner": owner, "notifications": [e["node"]["id"] for e in notes]}


def outcome(body, name):
    assert "errors" not in body, body
    errors = body["data"][name]["userErrors"]
    return "OK" if not errors else errors[0]["code"]


@pytest.mark.parametrize("name", sorted(MATRIX))
async def test_authorization_matrix(gql, org, name):
    document, build, allowed = MATRIX[name]
    wrong = []
    t = await targets(gql, org)
    for role in ROLES:
        got = outcome(await gql(document, {"input": build(t)}, as_=role), name)
        if got == "OK":
            t = await targets(gql, org)  # fresh objects: an allowed call changed state (a refusal writes nothing)
        want = "OK" if role in allowed else "FORBIDDEN"
        if got != want:
            wrong.append((role, want, got))
    assert not wrong, wrong
    # Another organization: any role there sees NOT_FOUND for this organization's objects.
    other = await make_org(org.db)
    t = await targets(gql, org)
    for role in ("sales_admin", "sales_member"):
        got = outcome(await gql(document, {"input": build(t)}, token=other.tokens[role]), name)
        expected = OTHER_ORG.get(name, {"NOT_FOUND"})
        assert got in expected, (role, got)
    if name == "markNotificationsRead":
        # Marking another organization's ids read leaves them unread.
        unread = (await gql.ok("{ notifications(unreadOnly: true) { unreadCount } }", as_="legal_member"))["notifications"]["unreadCount"]
        assert unread >= len(t["notifications"]) > 0
    await check_invariants(org.db, [org.id, other.id])
    CASES.append(len(ROLES) + 2)


CASES: list[int] = []
