"""API tokens managed through GraphQL: admins only, shown once, scopes enforced."""
from sqlalchemy import select

from db import models as m
from resolvers import auth

CREATE = """
mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) {
    token
    apiToken { id name scope department { key } lastUsedAt createdAt revokedAt user { handle } }
    userErrors { field code message }
  }
}"""
REVOKE = """
mutation($id: ID!) { revokeApiToken(input: {id: $id}) { apiToken { id revokedAt } userErrors { code field } } }"""
LIST = "{ apiTokens { id name scope department { key } lastUsedAt revokedAt } }"


async def create(gql, as_="sales_admin", **fields):
    return (await gql.ok(CREATE, {"input": {"name": "erp", "scope": "READ", **fields}}, as_=as_))["createApiToken"]


async def test_admin_creates_lists_and_revokes_a_department_token(gql, org, clock):
    result = await create(gql, departmentKey="finance")
    assert result["userErrors"] == []
    token, api_token = result["token"], result["apiToken"]
    assert token.startswith("bt_")
    assert api_token["scope"] == "READ" and api_token["department"] == {"key": "finance"}
    assert api_token["lastUsedAt"] is None and api_token["revokedAt"] is None
    assert api_token["user"]["handle"] == "sales_admin"
    # Only the hash is stored.
    async with org.db.read() as s:
        row = (await s.execute(select(m.ApiToken).where(m.ApiToken.name == "erp", m.ApiToken.org_id == org.id))).scalar_one()
    assert row.token_hash == auth.token_hash(token) and token not in (row.token_hash, row.name)

    # The token works, and its use is recorded.
    assert (await gql.ok("{ viewer { handle } }", token=token))["viewer"]["handle"] == "sales_admin"
    listed = (await gql.ok(LIST, as_="sales_admin"))["apiTokens"]
    assert [(t["name"], t["scope"], t["department"]["key"]) for t in listed] == [("erp", "READ", "finance")]
    assert listed[0]["lastUsedAt"] is not None
    # The token itself is never listed.
    assert token not in str(listed)

    revoked = (await gql.ok(REVOKE, {"id": api_token["id"]}, as_="sales_admin"))["revokeApiToken"]
    assert revoked["userErrors"] == [] and revoked["apiToken"]["revokedAt"] is not None
    body = await gql("{ viewer { handle } }", token=token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await gql.ok(LIST, as_="sales_admin"))["apiTokens"] == []


async def test_token_acting_as_another_user_with_write_scope(gql, org):
    from resolvers.ids import to_global

    result = await create(gql, name="crm-sync", scope="WRITE", userId=to_global("User", org.users["sales_member"].id))
    assert result["userErrors"] == [] and result["apiToken"]["user"]["handle"] == "sales_member"
    created = await gql.ok(
        'mutation { createOpportunity(input: {title: "Sync", accountName: "Acme"}) { opportunity { owner { handle } } userErrors { code } } }',
        token=result["token"],
    )
    assert created["createOpportunity"]["opportunity"]["owner"]["handle"] == "sales_member"


async def test_non_admins_are_forbidden(gql, org):
    for who in ("sales_member", "sales_manager", "finance_member"):
        result = await create(gql, as_=who)
        assert result["token"] is None and result["userErrors"][0]["code"] == "FORBIDDEN"
        body = await gql(LIST, as_=who)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        body = await gql("{ webhooks { id } }", as_=who)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with org.db.read() as s:
        assert (await s.execute(select(m.ApiToken).where(m.ApiToken.org_id == org.id, m.ApiToken.kind == "api"))).first() is None


async def test_validation_and_unknown_references(gql, org):
    result = await create(gql, name="  ")
    assert result["userErrors"][0]["code"] == "VALIDATION"
    result = await create(gql, departmentKey="hr")
    assert result["userErrors"][0] == {"field": ["departmentKey"], "code": "NOT_FOUND", "message": "No department 'hr'"}
    result = (await gql.ok(REVOKE, {"id": "nope"}, as_="sales_admin"))["revokeApiToken"]
    assert result["userErrors"][0]["code"] == "NOT_FOUND"


async def test_read_only_token_cannot_mutate_anything(gql, org):
    admin_read = (await create(gql, name="reader", scope="READ"))["token"]
    # Reading works ...
    assert (await gql.ok("{ opportunities { totalCount } }", token=admin_read))["opportunities"]["totalCount"] == 0
    # ... every kind of write is refused, even for an admin's token.
    opp = (
        await gql.ok('mutation { createOpportunity(input: {title: "T", accountName: "A"}) { opportunity { id } } }')
    )["createOpportunity"]["opportunity"]
    mutations = [
        'mutation { createOpportunity(input: {title: "x", accountName: "y"}) { userErrors { code } } }',
        'mutation { updateOpportunity(input: {id: "%s", version: 1, title: "z"}) { userErrors { code } } }' % opp["id"],
        'mutation { moveOpportunity(input: {id: "%s", version: 1, stageKey: "qualified"}) { userErrors { code } } }' % opp["id"],
        'mutation { addComment(input: {opportunityId: "%s", body: "hi"}) { userErrors { code } } }' % opp["id"],
        'mutation { createTask(input: {opportunityId: "%s", title: "call"}) { userErrors { code } } }' % opp["id"],
        'mutation { createApiToken(input: {name: "escalate", scope: WRITE}) { token userErrors { code } } }',
        'mutation { createWebhook(input: {url: "https://example.com/hook"}) { secret userErrors { code } } }',
    ]
    for mutation in mutations:
        data = await gql.ok(mutation, token=admin_read)
        payload = next(iter(data.values()))
        assert payload["userErrors"][0]["code"] == "FORBIDDEN", (mutation, payload)
        assert payload.get("token") is None and payload.get("secret") is None
    count = (await gql.ok("{ opportunities { totalCount edges { node { version title } } } }"))["opportunities"]
    assert count["totalCount"] == 1 and count["edges"][0]["node"] == {"version": 1, "title": "T"}
