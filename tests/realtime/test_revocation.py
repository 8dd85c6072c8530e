"""Revoked tokens close their open websockets (4403), on every process, within
seconds; a lost announcement is caught by the periodic check."""
import asyncio
import sys
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select, update

from api.live.codes import TOKEN_REVOKED
from api.settings import Settings
from db import models as m
from resolvers.auth import issue_token, token_hash
from resolvers.ids import to_global
from tests.conftest import PASSWORD, make_org, start_server, wait_for
from tests.processes import ROOT, two_processes
from tests.realtime.wsclient import (
    BOARD_EVENTS,
    LEGACY_WS,
    TRANSPORT_WS,
    Http,
    open_socket,
)

REVOKE_API_TOKEN = "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { userErrors { code } } }"
SIGN_OUT = "mutation($id: ID!) { revokeUserSessions(input: {userId: $id}) { revokedCount userErrors { code } } }"
LOGOUT = "mutation { logout { loggedOut userErrors { code } } }"
LOGIN = 'mutation($email: String!) { login(input: {email: $email, password: "%s"}) { token } }' % PASSWORD
# The announcement must arrive well before this; the periodic check is off or slower.
WITHIN = 2.0


async def closed_for_revocation(sock) -> bool:
    """The server closes `sock` within WITHIN seconds, saying its token was revoked."""
    code = await sock.closed_code(timeout=WITHIN)
    return (code, sock.ws.close_reason) == tuple(TOKEN_REVOKED)


async def signed_in(base_url: str, token: str) -> bool:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        body = (await client.post("/graphql", json={"query": "{ viewer { id } }"}, headers={"authorization": f"Bearer {token}"})).json()
    if "errors" in body:
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
        return False
    return True


async def api_token(db, org, who: str, **kw) -> tuple[str, m.ApiToken]:
    async with db.write() as session:
        return await issue_token(session, org.users[who], kind="api", now=datetime.now(timezone.utc), name="feed", scope="read", **kw)


@pytest.mark.multiprocess
@pytest.mark.parametrize("broadcast", ["postgres", "redis"])
async def test_revocations_close_sockets_on_every_process(pg_url, tmp_path, broadcast):
    # The periodic check every 60 s: only the announcement can close sockets in time.
    async with two_processes(pg_url, tmp_path, broadcast) as (a, b, db):
        http = {p: f"http://127.0.0.1:{p.port}" for p in (a, b)}
        ws = {p: f"ws://127.0.0.1:{p.port}/graphql" for p in (a, b)}
        org = await make_org(db)
        tool, tool_row = await api_token(db, org, "finance_member")
        tool_on_b = await open_socket(ws[b], tool)
        await tool_on_b.subscribe(BOARD_EVENTS)
        legal = [await open_socket(ws[p], org.tokens["legal_member"]) for p in (a, b)]
        marketing_on_a = await open_socket(ws[a], org.tokens["marketing_member"])
        product_on_b = await open_socket(ws[b], org.tokens["product_member"])
        bystander = await open_socket(ws[b], org.tokens["sales_manager"])
        await bystander.subscribe(BOARD_EVENTS)
        via_a, via_b = Http(http[a], org), Http(http[b], org)

        # revokeApiToken answered by A closes the token's socket on B.
        await via_a.ok(REVOKE_API_TOKEN, {"id": to_global("ApiToken", tool_row.id)}, as_="sales_admin")
        assert await closed_for_revocation(tool_on_b)
        # revokeUserSessions answered by A closes the user's sockets on A and B.
        signed_out = await via_a.ok(SIGN_OUT, {"id": to_global("User", org.users["legal_member"].id)}, as_="sales_admin")
        assert signed_out["revokeUserSessions"]["revokedCount"] == 1
        for sock in legal:
            assert await closed_for_revocation(sock)
        # logout answered by B closes the session's socket on A.
        assert (await via_b.ok(LOGOUT, as_="marketing_member"))["logout"]["loggedOut"]
        assert await closed_for_revocation(marketing_on_a)
        # `baton user sign-out`, another process altogether, closes the user's socket on B.
        async with db.read() as session:
            org_name = (await session.execute(select(m.Organization.name).where(m.Organization.id == org.id))).scalar_one()
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "api.cli", "user", "sign-out", "--email", org.users["product_member"].email,
            "--org", org_name, cwd=ROOT, env=a.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), 60)
        assert cli.returncode == 0 and b"1 session(s) revoked" in out, err
        assert await closed_for_revocation(product_on_b)

        # HTTP refuses each of them at once, on either process.
        for token in (tool, org.tokens["legal_member"], org.tokens["marketing_member"], org.tokens["product_member"]):
            for p in (a, b):
                assert not await signed_in(http[p], token)
        # Everyone else is untouched.
        created = await via_a.create("After the revocations")
        _, data = await bystander.next_data()
        assert data["boardEvents"]["opportunity"]["id"] == created["id"]
        await bystander.close()
        await via_a.aclose()
        await via_b.aclose()


async def test_logout_closes_its_own_sockets_and_releases_them(database_url, org):
    # No periodic check: only logout's own announcement can close the sockets.
    settings = Settings(database_url=database_url, broadcast_url="memory://", catch_up_seconds=0)
    async with start_server(settings) as server:
        async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
            answer = await client.post("/graphql", json={"query": LOGIN, "variables": {"email": org.users["sales_member"].email}})
        session = answer.json()["data"]["login"]["token"]
        mine = [await open_socket(server.ws, session, protocol) for protocol in (TRANSPORT_WS, LEGACY_WS)]
        for sock in mine:
            await sock.subscribe(BOARD_EVENTS)
        other = await open_socket(server.ws, org.tokens["sales_member"])  # the same user's other session
        http = Http(server.http, org)
        org.tokens["signed_in"] = session  # for Http.ok
        assert (await http.ok(LOGOUT, as_="signed_in"))["logout"]["loggedOut"]
        for sock in mine:
            assert await closed_for_revocation(sock)
        assert not await signed_in(server.http, session)
        refused = await open_socket(server.ws, session, expect_ack=False)
        assert await refused.closed_code() == TOKEN_REVOKED.code
        assert await signed_in(server.http, org.tokens["sales_member"])
        # Closed sockets leave the registry.
        await other.close()
        revocations = server.app.state.baton.revocations
        await wait_for(lambda: _true(not revocations.tokens), timeout=5)
        await http.aclose()


async def test_a_lost_announcement_is_caught_by_the_periodic_check(database_url, org):
    settings = Settings(database_url=database_url, broadcast_url="memory://", catch_up_seconds=0.5)
    async with start_server(settings) as server:
        revoked_token, _ = await api_token(org.db, org, "finance_member")
        expiring_token, _ = await api_token(org.db, org, "legal_member", expires_at=datetime.now(timezone.utc) + timedelta(seconds=1))
        revoked, expiring = await open_socket(server.ws, revoked_token), await open_socket(server.ws, expiring_token)
        await revoked.subscribe(BOARD_EVENTS)
        # Revoked without any announcement (as if it were lost).
        async with org.db.write() as session:
            await session.execute(
                update(m.ApiToken).where(m.ApiToken.token_hash == token_hash(revoked_token)).values(revoked_at=datetime.now(timezone.utc))
            )
        assert await closed_for_revocation(revoked)
        # A token that expires closes its sockets the same way.
        assert await closed_for_revocation(expiring)


async def _true(value: bool) -> bool:
    return value
