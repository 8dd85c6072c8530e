"""Sockets that never initialise are closed on both protocols (4408), and sockets are
capped per process and, before they sign in, per client address: the excess is
refused at the handshake (HTTP 503 / 429) while /healthz and `login` keep answering."""
import resource
import subprocess
import sys

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from api.live.codes import NO_INIT
from api.settings import Settings
from tests.conftest import PASSWORD, start_server, wait_for
from tests.realtime.wsclient import LEGACY_WS, TRANSPORT_WS, Socket, open_socket

LOGIN = 'mutation($email: String!) { login(input: {email: $email, password: "%s"}) { token } }' % PASSWORD


@pytest.mark.parametrize("protocol", [LEGACY_WS, TRANSPORT_WS])
async def test_a_socket_without_connection_init_is_closed_on_both_protocols(database_url, org, protocol):
    settings = Settings(database_url=database_url, broadcast_url="memory://", connection_init_timeout_seconds=0.5)
    async with start_server(settings) as server:
        silent = Socket(await connect(server.ws, subprotocols=[protocol], open_timeout=10), protocol)
        signed_in = await open_socket(server.ws, org.tokens["sales_member"], protocol)
        assert await silent.closed_code(timeout=10) == NO_INIT.code
        assert silent.ws.close_reason == NO_INIT.reason
        # One that signed in in time stays open past the timeout.
        await signed_in.subscribe("subscription { boardEvents { seq } }")
        await signed_in.nothing_within(1.0)
        assert signed_in.ws.close_code is None
        await signed_in.close()


async def _refused(url: str, protocol: str = TRANSPORT_WS) -> tuple[int, str | None]:
    """(HTTP status, Retry-After) of a handshake the server refuses."""
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, subprotocols=[protocol], open_timeout=10)
    response = refused.value.response
    return response.status_code, response.headers.get("retry-after")


async def _still_answers(base_url: str, email: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        assert (await client.get("/healthz")).status_code == 200
        body = (await client.post("/graphql", json={"query": LOGIN, "variables": {"email": email}})).json()
        assert body["data"]["login"]["token"], body


async def test_socket_caps_refuse_at_the_handshake_and_http_keeps_answering(database_url, org):
    settings = Settings(database_url=database_url, broadcast_url="memory://", max_unauthenticated_sockets_per_ip=3,
                        max_sockets=5)
    async with start_server(settings) as server:
        sockets = server.app.state.baton.limiter.ws
        email = org.users["sales_member"].email
        # Three sockets that do not sign in: the address's cap.
        silent = [await connect(server.ws, subprotocols=[proto], open_timeout=10)
                  for proto in (TRANSPORT_WS, LEGACY_WS, TRANSPORT_WS)]
        assert await _refused(server.ws) == (429, "10")
        assert await _refused(server.ws, LEGACY_WS) == (429, "10")
        await _still_answers(server.http, email)
        # Signing in frees the address's slot (not the process's).
        first = Socket(silent.pop(0), TRANSPORT_WS)
        await first.send({"type": "connection_init", "payload": {"authorization": f"Bearer {org.tokens['sales_member']}"}})
        assert (await first.recv())["type"] == "connection_ack"
        signed_in = [first]
        signed_in.append(await open_socket(server.ws, org.tokens["legal_member"]))
        signed_in.append(await open_socket(server.ws, org.tokens["product_member"], protocol=LEGACY_WS))
        assert (sockets.total, sum(sockets.unauthenticated.values())) == (5, 2)
        # The process's cap: everyone is refused now, signed in or not.
        assert await _refused(server.ws) == (503, "10")
        await _still_answers(server.http, email)
        # Closing one frees its slot; closing all leaves no count behind.
        await signed_in.pop().close()
        await wait_for(lambda: _true(sockets.total == 4))
        again = await open_socket(server.ws, org.tokens["finance_member"])
        for ws in silent:
            await ws.close()
        for sock in [*signed_in, again]:
            await sock.close()
        await wait_for(lambda: _true(sockets.total == 0 and not sockets.unauthenticated and not sockets.open))


async def _true(value) -> bool:
    return bool(value)


@pytest.mark.parametrize("hard, soft_after, warns", [(20000, 5024, False), (2000, 2000, True)])
def test_baton_serve_fits_its_open_files_limit_to_max_sockets(hard, soft_after, warns):
    """BATON_MAX_SOCKETS must bind before file descriptors run out (then accept() fails for
    /healthz too): `baton serve` raises its soft limit to the sockets plus 1,024, within the hard one."""

    here = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if here != resource.RLIM_INFINITY and here < hard:
        pytest.skip("the hard open-files limit here is lower than the case needs")
    code = (
        "import resource; from api.cli import fit_file_limit\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, (512, {hard}))\n"
        "fit_file_limit(4000)\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert int(done.stdout) == soft_after
    assert ("lower BATON_MAX_SOCKETS" in done.stderr) is warns
