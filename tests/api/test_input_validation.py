"""Hostile and oversized input: every case is a VALIDATION user error (or, outside a
mutation payload, a GraphQL error with code VALIDATION) and never a server error,
on SQLite and PostgreSQL. Bodies are sent as raw JSON so lone surrogates ("\\ud800")
travel exactly as an attacker would send them."""
import json


from tests.api.workflow_helpers import create
from tests.invariants import check_invariants

NUL, SURROGATE = "bad\x00value", "bad\ud800value"


async def raw(client, org, query, variables, as_="sales_member"):
    body = json.dumps({"query": query, "variables": variables}).encode()  # ensure_ascii: \ud800 escaped
    headers = {"content-type": "application/json"}
    if as_:
        headers["authorization"] = f"Bearer {org.tokens[as_]}"
    r = await client.post("/graphql", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def m(name, input_type, payload="userErrors { field code message }"):
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {payload} }} }}"


async def fixtures(gql, org):
    opp = await create(gql)
    task = (await gql.ok(m("createTask", "CreateTaskInput", "task { id version } userErrors { code }"),
                         {"input": {"opportunityId": opp["id"], "title": "t"}}))["createTask"]["task"]
    handoff = (await gql.ok(m("requestHandoff", "RequestHandoffInput", "handoff { id } userErrors { code message }"),
                            {"input": {"opportunityId": opp["id"], "toDepartmentKey": "legal"}}))["requestHandoff"]
    approval = (await gql.ok(m("requestApproval", "RequestApprovalInput", "approval { id } userErrors { code message }"),
                             {"input": {"opportunityId": opp["id"], "kind": "discount", "departmentKeys": ["finance"]}}))["requestApproval"]
    return opp, task, (handoff["handoff"] or {}).get("id"), (approval["approval"] or {}).get("id")


def cases(opp, task, handoff_id, approval_id):
    """(mutation, input type, input, as user, field expected in userErrors)."""
    o, t = opp["id"], task["id"]
    long = lambda n: "x" * (n + 1)  # noqa: E731
    out = []
    for bad in (NUL, SURROGATE):
        out += [
            ("createOpportunity", "CreateOpportunityInput", {"title": bad, "accountName": "A"}, "sales_member", "title"),
            ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": bad}, "sales_member", "accountName"),
            ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "stageKey": bad}, "sales_member", "stageKey"),
            ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "currency": bad}, "sales_member", "currency"),
            ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "tags": ["ok", bad]}, "sales_member", "tags"),
            ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "clientMutationId": bad}, "sales_member", "clientMutationId"),
            ("updateOpportunity", "UpdateOpportunityInput", {"id": o, "version": 1, "nextStep": bad}, "sales_member", "nextStep"),
            ("moveOpportunity", "MoveOpportunityInput", {"id": o, "version": 1, "stageKey": "lost", "lostReason": bad}, "sales_member", "lostReason"),
            ("createTask", "CreateTaskInput", {"opportunityId": o, "title": "t", "departmentKey": bad}, "sales_member", "departmentKey"),
            ("createTask", "CreateTaskInput", {"opportunityId": o, "title": "t", "description": bad}, "sales_member", "description"),
            ("updateTask", "UpdateTaskInput", {"id": t, "version": 1, "title": bad}, "sales_member", "title"),
            ("addComment", "AddCommentInput", {"opportunityId": o, "body": bad}, "sales_member", "body"),
            ("requestHandoff", "RequestHandoffInput", {"opportunityId": o, "toDepartmentKey": bad}, "sales_member", "toDepartmentKey"),
            ("requestHandoff", "RequestHandoffInput", {"opportunityId": o, "toDepartmentKey": "product", "note": bad}, "sales_member", "note"),
            ("requestApproval", "RequestApprovalInput", {"opportunityId": o, "kind": bad, "departmentKeys": ["legal"]}, "sales_member", "kind"),
            ("requestApproval", "RequestApprovalInput", {"opportunityId": o, "kind": "k", "departmentKeys": [bad]}, "sales_member", "departmentKeys"),
            ("login", "LoginInput", {"email": bad, "password": "x"}, None, "email"),
            ("login", "LoginInput", {"email": "a@b.c", "password": bad}, None, "password"),
        ]
        if handoff_id:
            out.append(("respondHandoff", "RespondHandoffInput", {"id": handoff_id, "accept": True, "note": bad}, "legal_member", "note"))
        if approval_id:
            out.append(("decideApproval", "DecideApprovalInput", {"id": approval_id, "approve": True, "comment": bad}, "finance_member", "comment"))
    out += [
        ("createOpportunity", "CreateOpportunityInput", {"title": long(200), "accountName": "A"}, "sales_member", "title"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": long(200)}, "sales_member", "accountName"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "nextStep": long(500)}, "sales_member", "nextStep"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "clientMutationId": long(100)}, "sales_member", "clientMutationId"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "tags": [f"t{i}" for i in range(21)]}, "sales_member", "tags"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "tags": [long(40)]}, "sales_member", "tags"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "amount": "1.234"}, "sales_member", "amount"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "amount": "1e17"}, "sales_member", "amount"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "amount": "-0.01"}, "sales_member", "amount"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "amount": "NaN"}, "sales_member", "amount"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "expectedCloseDate": "1999-12-31"}, "sales_member", "expectedCloseDate"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "expectedCloseDate": "9999-01-01"}, "sales_member", "expectedCloseDate"),
        ("createOpportunity", "CreateOpportunityInput", {"title": "T", "accountName": "A", "probability": 101}, "sales_member", "probability"),
        ("updateOpportunity", "UpdateOpportunityInput", {"id": o, "version": 1, "title": long(200)}, "sales_member", "title"),
        ("moveOpportunity", "MoveOpportunityInput", {"id": o, "version": 1, "stageKey": "lost", "lostReason": long(500)}, "sales_member", "lostReason"),
        ("createTask", "CreateTaskInput", {"opportunityId": o, "title": long(200)}, "sales_member", "title"),
        ("createTask", "CreateTaskInput", {"opportunityId": o, "title": "t", "description": long(5000)}, "sales_member", "description"),
        ("createTask", "CreateTaskInput", {"opportunityId": o, "title": "t", "dueAt": "2030-01-01T00:00:00"}, "sales_member", "dueAt"),
        ("createTask", "CreateTaskInput", {"opportunityId": o, "title": "t", "dueAt": "0001-01-01T00:00:00Z"}, "sales_member", "dueAt"),
        ("updateTask", "UpdateTaskInput", {"id": t, "version": 1, "dueAt": "9999-12-31T00:00:00Z"}, "sales_member", "dueAt"),
        ("updateTask", "UpdateTaskInput", {"id": t, "version": 1, "description": long(5000)}, "sales_member", "description"),
        ("addComment", "AddCommentInput", {"opportunityId": o, "body": long(10000)}, "sales_member", "body"),
        ("requestHandoff", "RequestHandoffInput", {"opportunityId": o, "toDepartmentKey": "product", "note": long(5000)}, "sales_member", "note"),
        ("requestApproval", "RequestApprovalInput", {"opportunityId": o, "kind": long(40), "departmentKeys": ["legal"]}, "sales_member", "kind"),
        ("requestApproval", "RequestApprovalInput", {"opportunityId": o, "kind": "k", "departmentKeys": ["legal"], "comment": long(5000)}, "sales_member", "comment"),
    ]
    if handoff_id:
        out.append(("respondHandoff", "RespondHandoffInput", {"id": handoff_id, "accept": True, "note": long(5000)}, "legal_member", "note"))
    if approval_id:
        out.append(("decideApproval", "DecideApprovalInput", {"id": approval_id, "approve": True, "comment": long(5000)}, "finance_member", "comment"))
    return out


CASES_RUN = []


async def test_every_text_field_refuses_hostile_and_oversized_input(gql, client, org):
    opp, task, handoff_id, approval_id = await fixtures(gql, org)
    table = cases(opp, task, handoff_id, approval_id)
    failures = []
    for name, input_type, data, who, field in table:
        body = await raw(client, org, m(name, input_type), {"input": data}, as_=who)
        assert "errors" not in body, (name, data, body)
        errors = body["data"][name]["userErrors"]
        if not errors or errors[0]["code"] != "VALIDATION" or field not in (errors[0]["field"] or []):
            failures.append((name, field, repr(data)[:80], errors))
    assert not failures, failures
    CASES_RUN.append(len(table))
    await check_invariants(org.db, [org.id])


QUERY_CASES = [
    ("query($k: String) { users(departmentKey: $k) { id } }", {"k": NUL}),
    ("query($k: String) { users(departmentKey: $k) { id } }", {"k": SURROGATE}),
    ("query($s: String) { opportunities(filter: {search: $s}) { totalCount } }", {"s": SURROGATE}),
    ("query($s: String) { opportunities(filter: {search: $s}) { totalCount } }", {"s": NUL}),
    ("query($t: String!) { opportunities(filter: {tags: [$t]}) { totalCount } }", {"t": NUL}),
    ("query($k: String!) { board(filter: {departmentKeys: [$k]}) { columns { totalCount } } }", {"k": SURROGATE}),
    ("query($k: String) { tasks(departmentKey: $k) { totalCount } }", {"k": NUL}),
    ("query($k: String) { approvals(departmentKey: $k) { id } }", {"k": SURROGATE}),
    ("query($id: ID!) { node(id: $id) { id } }", {"id": NUL}),
    ('{ users(departmentKey: "a\\u0000b") { id } }', {}),
]


async def test_queries_refuse_hostile_strings(client, org):
    for query, variables in QUERY_CASES:
        body = await raw(client, org, query, variables)
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION", (query, body)
        assert "INTERNAL" not in json.dumps(body)


async def test_malformed_scalars_are_client_errors(client, org):
    for amount in ("abc", "1e999999999999"):
        body = await raw(client, org, m("createOpportunity", "CreateOpportunityInput"),
                         {"input": {"title": "T", "accountName": "A", "amount": amount}})
        text = json.dumps(body)
        assert "INTERNAL_SERVER_ERROR" not in text, body
