"""Query limits: each refusal is a clear GraphQL error with a code, never a 500."""
import asyncio
import json
import logging

import httpx
import pytest

from api.app import create_app
from api.settings import Settings
from schema.limits import operation_cost
from schema import schema as plain_schema
from graphql import parse


@pytest.fixture
async def limited(database_url, clock, org):
    """An app with small limits so each is easy to reach."""

    async def make(**overrides):
        settings = Settings(database_url=database_url, broadcast_url="memory://", **overrides)
        app = create_app(settings, migrate=False, clock=clock)
        return app

    return make


async def post(app, query, variables=None, token=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://baton.test") as c:
            return await c.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def codes(body):
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


async def test_depth_limit(limited, org):
    app = await limited(max_query_depth=4)
    deep = "{ board { columns { opportunities { edges { node { owner { department { name } } } } } } } }"
    r = await post(app, deep, token=org.tokens["sales_member"])
    assert r.status_code == 200
    body = r.json()
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    ok = await post(app, "{ viewer { department { name } } }", token=org.tokens["sales_member"])
    assert "errors" not in ok.json()


async def test_alias_limit(limited, org):
    app = await limited(max_aliases=3)
    query = "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(5)) + " }"
    body = (await post(app, query, token=org.tokens["sales_member"])).json()
    assert "aliases" in body["errors"][0]["message"]
    assert body["data"] is None


async def test_token_limit(limited, org):
    app = await limited(max_tokens=50)
    query = "{ viewer { " + " ".join(["id"] * 60) + " } }"
    r = await post(app, query, token=org.tokens["sales_member"])
    assert r.status_code in (200, 400)
    body = r.json()
    assert "token" in body["errors"][0]["message"].lower()


async def test_cost_limit_multiplies_nested_first(limited, org):
    app = await limited(max_query_cost=2000)
    cheap = "{ opportunities(first: 10) { edges { node { id tasks(first: 10) { edges { node { id } } } } } } }"
    costly = "{ opportunities(first: 100) { edges { node { id tasks(first: 100) { edges { node { id title } } } } } } }"
    token = org.tokens["sales_member"]
    assert "errors" not in (await post(app, cheap, token=token)).json()
    body = (await post(app, costly, token=token)).json()
    assert codes(body) == ["COST_LIMIT"]
    assert body["errors"][0]["extensions"]["cost"] > 2000
    # A variable counts with its value; an unset one counts as the page cap.
    var_query = "query($n: Int) { opportunities(first: $n) { edges { node { id tasks(first: $n) { edges { node { id } } } } } } }"
    assert "errors" not in (await post(app, var_query, {"n": 5}, token=token)).json()
    assert codes((await post(app, var_query, {}, token=token)).json()) == ["COST_LIMIT"]


def test_cost_figures():
    schema = plain_schema._schema
    doc = parse("{ opportunities(first: 100) { edges { node { id tasks(first: 100) { edges { node { id } } } } } } }")
    # opportunities once; edges, node, id, tasks once per page item (100); tasks' edges, node, id 100 x 100
    assert operation_cost(schema, doc, None, {}, default_page=25, max_page=100) == 1 + 4 * 100 + 3 * 10_000
    # first above the cap counts as the cap (the server never returns more).
    doc = parse("{ opportunities(first: 100000) { edges { node { id } } } }")
    assert operation_cost(schema, doc, None, {}, default_page=25, max_page=100) == 1 + 3 * 100


async def test_batches_are_refused(client, org):
    r = await client.post(
        "/graphql", json=[{"query": "{ viewer { id } }"}, {"query": "{ viewer { id } }"}],
        headers={"authorization": f"Bearer {org.tokens['sales_member']}"},
    )
    assert r.status_code == 400
    assert "batch" in r.text.lower()


async def test_body_size_limit(limited, org):
    app = await limited(max_body_bytes=2000)
    r = await post(app, "{ viewer { id } }", {"pad": "x" * 5000}, token=org.tokens["sales_member"])
    assert r.status_code == 413
    assert codes(r.json()) == ["PAYLOAD_TOO_LARGE"]


async def test_operation_timeout(limited, org, monkeypatch):
    app = await limited(operation_timeout_seconds=0.2)
    import resolvers.opportunities as rules

    original = rules.list_opportunities

    async def slow(*args, **kw):
        await asyncio.sleep(2)
        return await original(*args, **kw)

    monkeypatch.setattr(rules, "list_opportunities", slow)
    loop = asyncio.get_running_loop()
    started = loop.time()
    r = await post(app, "{ opportunities { totalCount } }", token=org.tokens["sales_member"])
    assert loop.time() - started < 1.5
    assert r.status_code == 200
    assert codes(r.json()) == ["TIMEOUT"]


async def test_introspection_can_be_switched_off(limited, org):
    token = org.tokens["sales_member"]
    on = await limited()
    assert "errors" not in (await post(on, "{ __schema { queryType { name } } }", token=token)).json()
    off = await limited(introspection=False)
    body = (await post(off, "{ __schema { queryType { name } } }", token=token)).json()
    assert "introspection" in body["errors"][0]["message"].lower()
    assert "errors" not in (await post(off, "{ viewer { id } }", token=token)).json()


async def test_schema_is_disclosed_to_signed_in_viewers_only(limited, org):
    """Anonymous clients get neither introspection nor "Did you mean ...?" suggestions."""
    from graphql import get_introspection_query

    token = org.tokens["sales_member"]
    typo = "{ viewr { id } }"
    enum_typo = ("query($p: [Priority!]) { opportunities(filter: {priority: $p}) { totalCount } }", {"p": ["HIG"]})
    literal_typo = '{ opportunities(filter: {prority: [HIGH]}) { totalCount } }'
    app = await limited()
    for who in (None, token):
        intro = (await post(app, "{ __schema { queryType { name } } }", token=who)).json()
        if who:
            assert intro["data"]["__schema"]["queryType"]["name"] == "Query"
        else:
            assert "introspection" in intro["errors"][0]["message"].lower()
            assert set(codes(intro)) == {"GRAPHQL_VALIDATION_FAILED"}
        for query, variables in ((typo, None), enum_typo, (literal_typo, None)):
            body = (await post(app, query, variables, token=who)).json()
            messages = " ".join(e["message"] for e in body["errors"])
            assert ("Did you mean" in messages) == bool(who), (who, body)
            assert all(codes(body)), body
    assert "__schema" not in json.dumps((await post(app, "{ __typename }")).json().get("errors", []))
    # GraphiQL signs in through its headers editor; its introspection query then works.
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://baton.test") as c:
            page = await c.get("/graphql", headers={"accept": "text/html"})
            script = await c.get("/static/js/graphiql.js")  # the vendored page's start-up script
    assert page.status_code == 200 and "/static/js/graphiql.js" in page.text
    assert "isHeadersEditorEnabled: true" in script.text
    schema = (await post(app, get_introspection_query(), token=token)).json()
    assert "errors" not in schema and schema["data"]["__schema"]["types"]
    # Switched off: nobody, signed in or not.
    off = await limited(introspection=False)
    body = (await post(off, typo, token=token)).json()
    assert "Did you mean" not in body["errors"][0]["message"]


async def test_masked_error_request_id_is_logged(gql, caplog, monkeypatch):
    import resolvers.opportunities as rules

    async def boom(*args, **kw):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(rules, "list_opportunities", boom)
    with caplog.at_level(logging.ERROR):
        body = await gql("{ opportunities { totalCount } }")
    error = body["errors"][0]
    assert "secret internals" not in error["message"]
    request_id = error["extensions"]["requestId"]
    assert any(request_id in r.getMessage() for r in caplog.records)
    # Logged once, with the id (Strawberry's own line without the id is suppressed).
    assert not [r for r in caplog.records if "secret internals" in r.getMessage() and request_id not in r.getMessage()]
