"""A small GraphQL-over-websocket client for the tests (graphql-transport-ws and the
legacy graphql-ws protocol), on the `websockets` package, plus an HTTP helper."""
import asyncio
import contextlib
import itertools
import json
import socket

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from resolvers.uow import run_in_transaction

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"

BOARD_EVENTS = """
subscription($after: Int, $departmentKeys: [String!], $types: [BoardEventType!], $opportunityId: ID) {
  boardEvents(after: $after, departmentKeys: $departmentKeys, types: $types, opportunityId: $opportunityId) {
    seq type departmentKeys opportunity { id title }
  }
}"""

CREATE = """
mutation($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id title } userErrors { code message } }
}"""


class Socket:
    def __init__(self, ws, protocol: str):
        self.ws = ws
        self.protocol = protocol
        self._ids = itertools.count(1)

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, timeout: float = 10.0) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def subscribe(self, query: str, variables: dict | None = None) -> str:
        op_id = str(next(self._ids))
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send({"id": op_id, "type": kind, "payload": {"query": query, "variables": variables or {}}})
        return op_id

    async def next_data(self, timeout: float = 10.0) -> tuple[str, dict]:
        """The next data message as (operation id, data); fails on errors."""
        while True:
            message = await self.recv(timeout)
            if message["type"] in ("next", "data"):
                payload = message["payload"]
                assert not payload.get("errors"), payload
                return message["id"], payload["data"]
            if message["type"] in ("ka", "ping", "pong"):
                continue
            raise AssertionError(f"unexpected message {message}")

    async def take(self, count: int, timeout: float = 10.0) -> list[dict]:
        return [(await self.next_data(timeout))[1] for _ in range(count)]

    async def seqs(self, count: int, timeout: float = 10.0) -> list[int]:
        return [d["boardEvents"]["seq"] for d in await self.take(count, timeout)]

    @contextlib.asynccontextmanager
    async def collecting(self):
        """`async with sock.collecting() as seqs:` the boardEvents seqs this socket receives
        while the block runs, read in the background."""
        seqs: list[int] = []

        async def read():
            while True:
                seqs.extend(await self.seqs(1, timeout=3600))

        reader = asyncio.create_task(read())
        try:
            yield seqs
        finally:
            reader.cancel()

    async def nothing_within(self, seconds: float) -> None:
        """Assert no data message arrives for `seconds` (used after a marker proves delivery works)."""
        try:
            message = await self.next_data(seconds)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"expected nothing, got {message}")

    async def closed_code(self, timeout: float = 10.0) -> int:
        """Read until the server closes; return its close code."""
        try:
            async with asyncio.timeout(timeout):
                async for _ in self.ws:
                    pass
        except ConnectionClosed:
            pass
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()


async def open_socket(
    url: str, token: str | None, protocol: str = TRANSPORT_WS, *, expect_ack: bool | None = None, **kw
) -> Socket:
    """Connect and send connection_init; waits for the ack (by default when a token is given)."""
    ws = await connect(url, subprotocols=[protocol], open_timeout=10, **kw)
    sock = Socket(ws, protocol)
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await sock.send({"type": "connection_init", "payload": payload})
    if token if expect_ack is None else expect_ack:
        ack = await sock.recv()
        assert ack["type"] == "connection_ack", ack
    return sock


class Http:
    """POST GraphQL to a live server over a real socket."""

    def __init__(self, base_url: str, org):
        self.client = httpx.AsyncClient(base_url=base_url, timeout=10)
        self.org = org

    async def ok(self, query: str, variables: dict | None = None, as_: str = "sales_member") -> dict:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {self.org.tokens[as_]}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def create(self, title: str = "Fleet pilot", as_: str = "sales_member") -> dict:
        # One customer per owner: two owners' open deals on one customer would add 撞单 events.
        account = "Northwind" if as_ == "sales_member" else f"Northwind ({as_})"
        data = await self.ok(CREATE, {"input": {"title": title, "accountName": account}}, as_=as_)
        assert data["createOpportunity"]["userErrors"] == []
        return data["createOpportunity"]["opportunity"]

    async def aclose(self) -> None:
        await self.client.aclose()


async def subscribe_while_writing(live_server, org, http, query: str, afters, total: int = 30):
    """`total` creates commit while one subscriber per `after` joins, each once the log
    has passed its `after` (the replay->live seam under racing writes). Returns the
    log's end and [(after, socket)]."""
    from resolvers.live import log_head
    from tests.conftest import wait_for

    start = await log_head(org.db, org.id)

    async def writer():
        for i in range(total):
            await http.create(f"Racing {i}")

    async def head_reached(seq: int) -> bool:
        return await log_head(org.db, org.id) >= seq

    writing = asyncio.create_task(writer())
    sockets = []
    for after in (start + a for a in afters):
        await wait_for(lambda after=after: head_reached(after + 1))
        sock = await open_socket(live_server.ws, org.tokens["product_member"])
        await sock.subscribe(query, {"after": after})
        sockets.append((after, sock))
    await writing
    return start + total, sockets


BLOB = "x" * 4000  # big events fill the socket buffers quickly


async def burst(org, hub, count: int) -> None:
    """`count` events in one transaction: one broadcast message."""
    ctx = org.ctx("sales_admin")
    ctx.publish = hub.publish

    async def work(uow):
        for _ in range(count):
            await uow.append_event("ALERT_RAISED", department_keys=["sales"], changes={"note": BLOB}, actor_id=None)

    await run_in_transaction(ctx, work)


async def stalled_socket(url: str, token: str, protocol: str = TRANSPORT_WS) -> Socket:
    """A websocket whose client reads nothing once its tiny buffers are full."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect((host, int(port)))
    raw.setblocking(False)
    ws = await connect(url, sock=raw, subprotocols=[protocol], max_queue=1, open_timeout=10)
    sock = Socket(ws, protocol)
    await sock.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    assert (await sock.recv())["type"] == "connection_ack"
    return sock
