"""Sessions over HTTP: logout, signing a user out everywhere, idle expiry.
(Their open websockets closing, on every process: tests/realtime/test_revocation.py.)"""
from sqlalchemy import select

from db import models as m
from resolvers import auth
from resolvers.ids import to_global
from tests.conftest import PASSWORD

LOGIN = 'mutation($email: String!) { login(input: {email: $email, password: "%s"}) { token } }' % PASSWORD
LOGOUT = "mutation { logout { loggedOut userErrors { code } } }"
SIGN_OUT = """mutation($id: ID!) { revokeUserSessions(input: {userId: $id}) {
  revokedCount userErrors { field code } } }"""
VIEWER = "{ viewer { handle } }"
BOARD = "{ board { columns { stage { key } totalCount } } }"


async def login(gql, org) -> str:
    return (await gql.ok(LOGIN, {"email": org.users["sales_member"].email}, as_=None))["login"]["token"]


async def refused(gql, query: str, token: str | None) -> bool:
    body = await gql(query, token=token, as_=None)
    return body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_logout_revokes_the_token_and_no_cached_answer_outlives_it(gql, org, clock):
    token = await login(gql, org)
    board = await gql.ok(BOARD, token=token)  # now cached for the organization
    assert await gql.ok(LOGOUT, token=token) == {"logout": {"loggedOut": True, "userErrors": []}}
    assert await refused(gql, VIEWER, token)
    assert await refused(gql, BOARD, token)
    # The cached board still serves those signed in, the user's other session too.
    assert await gql.ok(BOARD, as_="sales_member") == board
    assert await refused(gql, LOGOUT, None)
    # Signing out needs no right to write: a viewer's session, a read-only API token.
    assert (await gql.ok(LOGOUT, as_="sales_viewer"))["logout"]["loggedOut"]
    async with org.db.write() as session:
        tool, _ = await auth.issue_token(session, org.users["finance_member"], kind="api", now=clock(), name="t", scope="read")
    assert (await gql.ok(LOGOUT, token=tool))["logout"]["loggedOut"]
    assert await refused(gql, VIEWER, tool)


async def test_an_admin_signs_a_user_out_everywhere(gql, org, clock):
    second = await login(gql, org)
    async with org.db.write() as session:
        tool, _ = await auth.issue_token(session, org.users["sales_member"], kind="api", now=clock(), name="tool")
    user_id = to_global("User", org.users["sales_member"].id)
    for who in ("sales_manager", "sales_member", "finance_member"):
        result = (await gql.ok(SIGN_OUT, {"id": user_id}, as_=who))["revokeUserSessions"]
        assert result == {"revokedCount": 0, "userErrors": [{"field": None, "code": "FORBIDDEN"}]}
    assert (await gql.ok(VIEWER, token=second))["viewer"]["handle"] == "sales_member"

    result = (await gql.ok(SIGN_OUT, {"id": user_id}, as_="sales_admin"))["revokeUserSessions"]
    assert result == {"revokedCount": 2, "userErrors": []}
    assert await refused(gql, VIEWER, second)
    assert await refused(gql, VIEWER, org.tokens["sales_member"])
    # API tokens are revoked one by one (revokeApiToken); other users keep their sessions.
    assert (await gql.ok(VIEWER, token=tool))["viewer"]["handle"] == "sales_member"
    assert (await gql.ok(VIEWER, as_="sales_manager"))["viewer"]["handle"] == "sales_manager"
    again = (await gql.ok(SIGN_OUT, {"id": user_id}, as_="sales_admin"))["revokeUserSessions"]
    assert again == {"revokedCount": 0, "userErrors": []}
    unknown = (await gql.ok(SIGN_OUT, {"id": to_global("User", 10**9)}, as_="sales_admin"))["revokeUserSessions"]
    assert unknown == {"revokedCount": 0, "userErrors": [{"field": ["userId"], "code": "NOT_FOUND"}]}


async def test_a_session_unused_for_the_idle_limit_stops_working(gql, org, clock):
    token = await login(gql, org)
    async with org.db.write() as session:
        tool, _ = await auth.issue_token(session, org.users["finance_member"], kind="api", now=clock(), name="t", scope="read")
    clock.advance(hours=71)  # the default limit is 72 hours
    assert (await gql.ok(VIEWER, token=token))["viewer"]["handle"] == "sales_member"
    clock.advance(hours=71)  # 142 hours after sign-in, 71 after its last use
    assert (await gql.ok(VIEWER, token=token))["viewer"]["handle"] == "sales_member"
    clock.advance(hours=72, minutes=1)
    assert await refused(gql, VIEWER, token)
    # API tokens for tools have no idle expiry.
    assert (await gql.ok(VIEWER, token=tool))["viewer"]["handle"] == "finance_member"


async def test_a_sessions_use_is_written_at_most_every_few_minutes(gql, org, clock):
    token = await login(gql, org)

    async def last_used():
        async with org.db.read() as session:
            return (await session.execute(select(m.ApiToken.last_used_at).where(m.ApiToken.token_hash == auth.token_hash(token)))).scalar_one()

    await gql.ok(VIEWER, token=token)
    assert await last_used() is None  # signing in counts as a use
    clock.advance(minutes=6)
    await gql.ok(VIEWER, token=token)
    used = clock()
    assert await last_used() == used
    clock.advance(minutes=4)
    await gql.ok(VIEWER, token=token)
    assert await last_used() == used
