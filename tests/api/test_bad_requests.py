"""Bad input is never a server error: cursors and ids that name no row, bodies that
are not JSON objects, and GraphQL's own errors (parse, validation, coercion), each
answered with an `extensions.code`, on SQLite and PostgreSQL."""
import base64
import json

import pytest

from tests.api.workflow_helpers import create


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


BIG_KEYED = {"notifications", "Opportunity.comments", "Opportunity.history", "Webhook.deliveries"}  # db/types.BigId
BAD_CURSORS = [
    b64("c:99999999999999999999999"),  # OverflowError on SQLite, int32 out of range on asyncpg
    b64("opp:99999999999999999999999"),
    b64("c:-5"),
    b64("c:"),
    b64("c:１２"),  # non-ASCII digits
    b64(b"\xff\xfe"),
    "not a cursor!",
    "",
]

# Every connection argument `after: String`, as `query($c: String)` documents.
CONNECTIONS = {
    "opportunities": "{ opportunities(after: $c) { totalCount edges { node { id } } } }",
    "tasks": "{ tasks(after: $c) { totalCount edges { node { id } } } }",
    "notifications": "{ notifications(after: $c) { totalCount edges { node { id } } } }",
    "Opportunity.tasks": "{ opportunities(first: 1) { edges { node { tasks(after: $c) { edges { node { id } } } } } } }",
    "Opportunity.comments": "{ opportunities(first: 1) { edges { node { comments(after: $c) { edges { node { id } } } } } } }",
    "Opportunity.history": "{ opportunities(first: 1) { edges { node { history(after: $c) { edges { node { seq } } } } } } }",
    "BoardColumn.opportunities": "{ board { columns { opportunities(after: $c) { edges { node { id } } } } } }",
    "Webhook.deliveries": "{ webhooks { deliveries(after: $c) { edges { node { id } } } } }",
}


async def post(client, org, query, variables=None, as_="sales_admin"):
    headers = {"authorization": f"Bearer {org.tokens[as_]}"} if as_ else {}
    r = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def codes(body) -> list:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


@pytest.mark.parametrize("field", CONNECTIONS)
async def test_bad_cursors_are_bad_user_input(client, org, gql, field, database_url):
    opp = await create(gql, as_="sales_admin")
    if field == "Webhook.deliveries":
        from db import models as m

        async with org.db.write() as session:  # a registered endpoint, without the URL checks
            session.add(m.Webhook(org_id=org.id, url="https://example.com/hook", secret="whsec_x", event_types=[],
                                  department_keys=[], enabled=False, cursor_seq=0))
    await gql.ok('mutation($i: AddCommentInput!) { addComment(input: $i) { userErrors { code } } }',
                 {"i": {"opportunityId": opp["id"], "body": "hello"}}, as_="sales_admin")
    query = "query($c: String) " + CONNECTIONS[field]
    good = await post(client, org, query, {"c": None})
    assert "errors" not in good, good
    # One past the keyed column's range: INTEGER, or BIGINT for the tables that grow with activity.
    past_range = b64(f"c:{2**63 if field in BIG_KEYED else 2**31}")
    for cursor in [*BAD_CURSORS, past_range]:
        body = await post(client, org, query, {"c": cursor})
        assert codes(body) and set(codes(body)) == {"BAD_USER_INPUT"}, (field, cursor, body)
        assert "Invalid cursor" in body["errors"][0]["message"]


@pytest.mark.parametrize("after", ["-1", "99999999999"])
async def test_bad_event_seqs_are_client_errors(client, org, after):
    literal = await post(client, org, f"{{ events(after: {after}) {{ totalCount }} }}")
    variable = await post(client, org, "query($a: Int) { events(after: $a) { totalCount } }", {"a": int(after)})
    for body in (literal, variable):
        assert codes(body) and set(codes(body)) <= {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, body


HUGE = ["Opportunity:99999999999999999999999", "Opportunity:2147483648", "Opportunity:-1", "Opportunity:1e3"]


async def test_global_ids_with_huge_keys_name_nothing(client, org):
    for raw in HUGE:
        gid = b64(raw)
        node = await post(client, org, "query($id: ID!) { node(id: $id) { id } }", {"id": gid})
        assert node == {"data": {"node": None}}, (raw, node)
        moved = await post(client, org, """mutation($i: MoveOpportunityInput!) { moveOpportunity(input: $i) {
            userErrors { code field } } }""", {"i": {"id": gid, "version": 1, "stageKey": "won"}})
        assert moved["data"]["moveOpportunity"]["userErrors"] == [{"code": "NOT_FOUND", "field": ["id"]}], moved
        listed = await post(client, org, "query($o: [ID!]) { opportunities(filter: {ownerIds: $o}) { totalCount } }", {"o": [gid]})
        assert "errors" not in listed, listed
        task = await post(client, org, "query($a: ID) { tasks(assigneeId: $a) { totalCount } }", {"a": gid})
        assert "INTERNAL_SERVER_ERROR" not in codes(task), task


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("body", [b"null", b'"{ viewer { id } }"', b"1", b"true", b" 12.5 "])
async def test_non_object_bodies_are_400(client, org, body):
    r = await client.post("/graphql", content=body, headers={"content-type": "application/json",
                                                             "authorization": f"Bearer {org.tokens['sales_member']}"})
    assert r.status_code == 400, r.text
    get = await client.get("/graphql", params={"query": "{ viewer { id } }", "variables": body.decode()},
                           headers={"authorization": f"Bearer {org.tokens['sales_member']}"})
    assert get.status_code == 400, get.text
    multipart = await client.post("/graphql", files={"operations": (None, body), "map": (None, b"{}")},
                                  headers={"authorization": f"Bearer {org.tokens['sales_admin']}"})
    assert multipart.status_code == 400, multipart.text


# (document, variables, the code it must carry)
BAD_REQUESTS = [
    ("{ viewer {", {}, "GRAPHQL_PARSE_FAILED"),
    ("{ viewr { id } }", {}, "GRAPHQL_VALIDATION_FAILED"),
    ("{ viewer { id nmae } }", {}, "GRAPHQL_VALIDATION_FAILED"),
    ('mutation { createOpportunity(input: {title: "T", accountName: "A", amount: "abc"}) { userErrors { code } } }', {},
     "GRAPHQL_VALIDATION_FAILED"),
    ('mutation { createOpportunity(input: {title: "T", accountName: "A", bogus: 1}) { userErrors { code } } }', {},
     "GRAPHQL_VALIDATION_FAILED"),
    ("{ opportunities(first: 99999999999) { totalCount } }", {}, "GRAPHQL_VALIDATION_FAILED"),
    ('{ opportunities(filter: {priority: [HUGE]}) { totalCount } }', {}, "GRAPHQL_VALIDATION_FAILED"),
    ("query($f: Int) { opportunities(first: $f) { totalCount } }", {"f": "ten"}, "BAD_USER_INPUT"),
    ("query($p: [Priority!]) { opportunities(filter: {priority: $p}) { totalCount } }", {"p": ["HUGE"]}, "BAD_USER_INPUT"),
    ("mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) { userErrors { code } } }",
     {"i": {"title": "T", "accountName": "A", "amount": "abc"}}, "BAD_USER_INPUT"),
    ("mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) { userErrors { code } } }",
     {"i": {"title": "T", "accountName": "A", "bogus": 1}}, "BAD_USER_INPUT"),
    ("mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) { userErrors { code } } }", {}, "BAD_USER_INPUT"),
    ("query($c: String) { opportunities(after: $c) { totalCount } }", {"c": b64("c:99999999999999999999999")}, "BAD_USER_INPUT"),
    ("{ opportunities(first: -1) { totalCount } }", {}, "BAD_USER_INPUT"),
    ("{ opportunities { totalCount } }", {}, "UNAUTHENTICATED"),
]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_every_graphql_error_carries_a_code(client, org):
    for index, (query, variables, code) in enumerate(BAD_REQUESTS):
        body = await post(client, org, query, variables, as_=None if code == "UNAUTHENTICATED" else "sales_member")
        assert body.get("errors"), (query, body)
        assert codes(body) == [code] * len(body["errors"]), (query, json.dumps(body))
