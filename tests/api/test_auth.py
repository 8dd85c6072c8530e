"""Sign-in, tokens and the HTTP surface."""

from sqlalchemy import select

from db import models as m
from resolvers import auth
from tests.conftest import PASSWORD

LOGIN = """mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password}) {
  token user { handle role department { key } } userErrors { field code message } } }"""


async def test_login_returns_a_working_token(gql, org):
    email = org.users["sales_member"].email
    result = (await gql.ok(LOGIN, {"email": email.upper(), "password": PASSWORD}, as_=None))["login"]
    assert result["userErrors"] == [] and result["user"]["handle"] == "sales_member"
    viewer = await gql.ok("{ viewer { handle role } }", token=result["token"])
    assert viewer["viewer"] == {"handle": "sales_member", "role": "MEMBER"}
    async with org.db.read() as s:
        hashes = (await s.execute(select(m.ApiToken.token_hash).where(m.ApiToken.user_id == org.users["sales_member"].id))).scalars().all()
    assert result["token"] not in hashes and auth.token_hash(result["token"]) in hashes


async def test_wrong_password_and_unknown_email_look_the_same(gql, org):
    wrong = (await gql.ok(LOGIN, {"email": org.users["sales_member"].email, "password": "nope"}, as_=None))["login"]
    unknown = (await gql.ok(LOGIN, {"email": "nobody@example.test", "password": "nope"}, as_=None))["login"]
    assert wrong == unknown == {"token": None, "user": None, "userErrors": [{"field": ["password"], "code": "VALIDATION", "message": "Email or password is wrong"}]}


async def test_revoked_and_expired_tokens_are_refused(gql, org, clock):
    token = org.tokens["legal_member"]
    assert (await gql.ok("{ viewer { handle } }", token=token))["viewer"]["handle"] == "legal_member"
    ctx = org.ctx("legal_member")
    assert await auth.revoke_token(ctx, token)
    body = await gql("{ viewer { handle } }", token=token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    clock.advance(hours=25)  # fixture tokens last 24 hours
    body = await gql("{ viewer { handle } }", as_="sales_member")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_read_only_api_token_cannot_mutate(gql, org, clock):
    async with org.db.write() as session:
        token, _ = await auth.issue_token(session, org.users["finance_member"], kind="api", now=clock(), name="erp", scope="read")
    assert (await gql.ok("{ viewer { handle } }", token=token))["viewer"]["handle"] == "finance_member"
    result = await gql.ok('mutation { createOpportunity(input: {title: "x", accountName: "y"}) { userErrors { code message } } }', token=token)
    assert result["createOpportunity"]["userErrors"][0]["code"] == "FORBIDDEN"
    async with org.db.read() as session:
        row = (await session.execute(select(m.ApiToken).where(m.ApiToken.token_hash == auth.token_hash(token)))).scalar_one()
    assert row.last_used_at == clock()


async def test_health_readiness_graphiql_and_board(client):
    assert (await client.get("/healthz")).text == "ok"
    assert (await client.get("/readyz")).json() == {"ready": True}
    graphiql = await client.get("/graphql", headers={"accept": "text/html"})
    assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()
    index = await client.get("/")
    assert index.status_code == 200 and "Baton" in index.text


async def test_server_faults_are_masked_with_a_request_id(gql, org, monkeypatch, caplog):
    from resolvers import opportunities

    async def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(opportunities, "list_opportunities", boom)
    body = await gql("{ opportunities { totalCount } }")
    error = body["errors"][0]
    assert "secret internals" not in str(body)
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"] in error["message"]
    assert "secret internals" in caplog.text
