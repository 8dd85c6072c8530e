"""API tokens managed through GraphQL: admins only, shown once, scopes enforced."""
import pytest
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
    # Made without a user, a department token acts as a member of that department, not as its maker.
    assert api_token["user"]["handle"] == "finance_integration"
    # Only the hash is stored.
    async with org.db.read() as s:
        row = (await s.execute(select(m.ApiToken).where(m.ApiToken.name == "erp", m.ApiToken.org_id == org.id))).scalar_one()
    assert row.token_hash == auth.token_hash(token) and token not in (row.token_hash, row.name)

    # The token works, and its use is recorded.
    viewer = (await gql.ok("{ viewer { handle role department { key } } }", token=token))["viewer"]
    assert viewer == {"handle": "finance_integration", "role": "MEMBER", "department": {"key": "finance"}}
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


WIDER = """
mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { token apiToken { scope department { key } user { handle } expiresAt } userErrors { field code } }
}"""


async def test_a_token_never_mints_a_wider_token(gql, org, clock):
    from datetime import timedelta

    from sqlalchemy import update

    from resolvers.ids import to_global

    admin = to_global("User", org.users["sales_admin"].id)
    parent = await create(gql, name="finance-writer", scope="WRITE", departmentKey="finance", userId=admin)
    # The parent expires: whatever it creates must expire with it at the latest.
    async with org.db.write() as s:
        await s.execute(update(m.ApiToken).where(m.ApiToken.token_hash == auth.token_hash(parent["token"]))
                        .values(expires_at=clock() + timedelta(hours=1)))

    async def mint(**fields):
        data = await gql.ok(WIDER, {"input": {"name": "child", **fields}}, token=parent["token"])
        return data["createApiToken"]

    wider = [
        ("departmentKey", {"scope": "WRITE"}),  # unscoped: the audit's escalation
        ("departmentKey", {"scope": "READ", "departmentKey": "sales"}),
        ("userId", {"scope": "READ", "departmentKey": "finance", "userId": to_global("User", org.users["sales_member"].id)}),
    ]
    for field, fields in wider:
        result = await mint(**fields)
        assert result["token"] is None and result["userErrors"] == [{"field": [field], "code": "FORBIDDEN"}], fields

    for scope in ("WRITE", "READ"):
        child = await mint(scope=scope, departmentKey="finance")
        assert child["userErrors"] == [] and child["apiToken"]["department"] == {"key": "finance"}
        assert child["apiToken"]["scope"] == scope and child["apiToken"]["user"]["handle"] == "sales_admin"
        assert child["apiToken"]["expiresAt"] is not None
        assert (await gql.ok("{ viewer { handle } }", token=child["token"]))["viewer"]["handle"] == "sales_admin"
    # Once the parent has expired, so has the child.
    clock.advance(hours=1)
    body = await gql("{ viewer { handle } }", token=child["token"])
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with org.db.read() as s:
        names = (await s.execute(select(m.ApiToken.name).where(m.ApiToken.org_id == org.id, m.ApiToken.kind == "api"))).scalars()
        assert sorted(names) == ["child", "child", "finance-writer"]


async def test_an_unscoped_api_token_keeps_to_its_user_and_lifetime(gql, org):
    from resolvers.ids import to_global

    parent = (await create(gql, name="ops", scope="WRITE"))["token"]
    other = to_global("User", org.users["sales_member"].id)
    result = (await gql.ok(WIDER, {"input": {"name": "as-member", "scope": "READ", "userId": other}}, token=parent))["createApiToken"]
    assert result["token"] is None and result["userErrors"] == [{"field": ["userId"], "code": "FORBIDDEN"}]
    # Its own user, any department, no expiry (the parent has none).
    result = (await gql.ok(WIDER, {"input": {"name": "ops-2", "scope": "WRITE", "departmentKey": "legal"}}, token=parent))["createApiToken"]
    assert result["userErrors"] == [] and result["apiToken"]["expiresAt"] is None


def test_scope_order_read_below_write():
    from resolvers.context import Viewer
    from resolvers.errors import UserErrors

    user = m.User(id=1, org_id=1, role="ADMIN")
    reader = Viewer(user=user, kind="api", scope="read")
    with pytest.raises(UserErrors) as refused:
        reader.delegate(scope="write", department_id=None, user_id=1)
    assert refused.value.errors[0].code == "FORBIDDEN" and refused.value.errors[0].field == ["scope"]
    assert reader.delegate(scope="read", department_id=None, user_id=1) is None
    # A sign-in session acts with its user's full rights.
    assert Viewer(user=user).delegate(scope="write", department_id=None, user_id=2) is None
