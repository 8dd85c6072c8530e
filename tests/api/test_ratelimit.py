"""Rate limits: per token and per IP (429 + Retry-After), sign-in attempts, websocket limits."""
import asyncio
import json
import logging

import httpx
import pytest
import websockets

from api.app import create_app
from api.live.codes import CloseCode
from api.ratelimit import MemoryBuckets, RedisBuckets
from api.settings import Settings
from tests.conftest import PASSWORD, start_server

SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
VIEWER = "{ viewer { id } }"
LOGIN = "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token userErrors { code } } }"


async def serve(database_url, clock, **overrides):
    app = create_app(Settings(database_url=database_url, broadcast_url="memory://", **overrides), migrate=False, clock=clock)
    return app


def client_for(app, ip="10.0.0.1"):
    transport = httpx.ASGITransport(app=app, client=(ip, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://baton.test")


async def test_token_bucket_math():
    now = [0.0]
    buckets = MemoryBuckets(clock=lambda: now[0])
    results = [(await buckets.take("k", rate=2, burst=3))[0] for _ in range(4)]
    assert results == [True, True, True, False]
    allowed, wait = await buckets.take("k", rate=2, burst=3)
    assert not allowed and wait == pytest.approx(0.5)
    now[0] += 0.5
    assert (await buckets.take("k", rate=2, burst=3))[0]


async def test_per_token_limit_answers_429_with_retry_after(database_url, clock, org):
    app = await serve(database_url, clock, rate_limit_per_token=1, rate_limit_token_burst=3)
    async with app.router.lifespan_context(app), client_for(app) as c:
        auth = {"authorization": f"Bearer {org.tokens['sales_member']}"}
        statuses = [(await c.post("/graphql", json={"query": VIEWER}, headers=auth)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        r = await c.post("/graphql", json={"query": VIEWER}, headers=auth)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        # Another user's token from the same IP still passes.
        other = {"authorization": f"Bearer {org.tokens['sales_admin']}"}
        assert (await c.post("/graphql", json={"query": VIEWER}, headers=other)).status_code == 200


@SQLITE_ONLY
async def test_per_ip_limit(database_url, clock, org):
    app = await serve(database_url, clock, rate_limit_per_ip=1, rate_limit_ip_burst=2)
    async with app.router.lifespan_context(app):
        async with client_for(app, "10.0.0.7") as c, client_for(app, "10.0.0.8") as d:
            statuses = [(await c.post("/graphql", json={"query": VIEWER})).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]
            assert (await d.post("/graphql", json={"query": VIEWER})).status_code == 200
            # Health checks are never limited.
            assert (await c.get("/healthz")).status_code == 200


@SQLITE_ONLY
async def test_login_attempts_per_email_and_ip(database_url, clock, org):
    app = await serve(database_url, clock, login_attempts=3)
    email = org.users["sales_member"].email
    async with app.router.lifespan_context(app):
        async with client_for(app, "10.0.0.9") as c, client_for(app, "10.0.0.10") as d:
            for _ in range(3):
                body = (await c.post("/graphql", json={"query": LOGIN, "variables": {"e": email, "p": "wrong"}})).json()
                assert body["data"]["login"]["userErrors"][0]["code"] == "VALIDATION"
            r = await c.post("/graphql", json={"query": LOGIN, "variables": {"e": email, "p": PASSWORD}})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            # The right password from another IP still signs in.
            body = (await d.post("/graphql", json={"query": LOGIN, "variables": {"e": email, "p": PASSWORD}})).json()
            assert body["data"]["login"]["token"]


@pytest.mark.multiprocess
async def test_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path):
    """`baton serve`: a rotating, spoofed X-Forwarded-For from loopback gets no fresh
    sign-in allowance, unless loopback is a configured proxy (BATON_TRUSTED_PROXIES)."""
    from tests.processes import Process

    def serve_process(name, trusted):
        env = {"BATON_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / name}.db", "BATON_BROADCAST_URL": "memory://",
               "BATON_RATE_LIMIT_REDIS_URL": "", "BATON_LOGIN_ATTEMPTS": "3", "BATON_TRUSTED_PROXIES": trusted}
        return Process(env, tmp_path, name)

    async def statuses(process, forwarded_for):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{process.port}") as c:
            return [
                (await c.post("/graphql", json={"query": LOGIN, "variables": {"e": "nobody@example.test", "p": "x"}},
                              headers={"x-forwarded-for": ip})).status_code
                for ip in forwarded_for
            ]

    rotating = [f"203.0.113.{i}" for i in range(1, 6)]
    direct, proxied = serve_process("direct", ""), serve_process("proxied", "127.0.0.1")
    try:
        await asyncio.gather(direct.start(), proxied.start())
        await asyncio.gather(direct.ready(), proxied.ready())
        assert await statuses(direct, rotating) == [200, 200, 200, 429, 429]
        # Behind a trusted proxy each forwarded client has its own allowance ...
        assert await statuses(proxied, rotating) == [200] * 5
        # ... and one client is still limited, whatever proxy hop it came through.
        assert await statuses(proxied, ["198.51.100.7"] * 3 + ["198.51.100.7, 127.0.0.1"]) == [200, 200, 200, 429]
    finally:
        await asyncio.gather(direct.stop(), proxied.stop())


async def test_redis_buckets_are_shared_and_survive_redis_outage():
    pytest.importorskip("redis")
    import redis.asyncio as redis

    url = "redis://127.0.0.1:6379/15"
    try:
        probe = redis.from_url(url)
        await probe.ping()
        await probe.aclose()
    except Exception:  # noqa: BLE001
        pytest.skip("Redis is not reachable")
    one, two = RedisBuckets(url, prefix="baton:test:"), RedisBuckets(url, prefix="baton:test:")
    key = f"k{id(one)}"
    results = [(await b.take(key, rate=0.5, burst=2))[0] for b in (one, two, one)]
    assert results == [True, True, False]  # one bucket seen by two "processes"
    await one.close()
    await two.close()
    down = RedisBuckets("redis://127.0.0.1:1/0")
    assert (await down.take("x", rate=1, burst=1))[0] is True  # falls back per process
    await down.close()


def ws_init(token):
    return json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})


@SQLITE_ONLY
async def test_websocket_connections_per_user(database_url, org):
    settings = Settings(database_url=database_url, broadcast_url="memory://", max_ws_connections_per_user=2)
    async with start_server(settings) as srv:
        open_ = []
        for _ in range(2):
            ws = await websockets.connect(srv.ws, subprotocols=["graphql-transport-ws"])
            await ws.send(ws_init(org.tokens["sales_member"]))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            open_.append(ws)
        third = await websockets.connect(srv.ws, subprotocols=["graphql-transport-ws"])
        await third.send(ws_init(org.tokens["sales_member"]))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(third.recv(), 5)
        assert closed.value.rcvd.code == CloseCode.TOO_MANY
        # Closing one frees a slot.
        await open_.pop().close()
        await asyncio.sleep(0.2)
        again = await websockets.connect(srv.ws, subprotocols=["graphql-transport-ws"])
        await again.send(ws_init(org.tokens["sales_member"]))
        assert json.loads(await asyncio.wait_for(again.recv(), 5))["type"] == "connection_ack"
        for ws in [*open_, again]:
            await ws.close()


@SQLITE_ONLY
async def test_websocket_init_timeout_duplicate_init_and_subscription_cap(database_url, org):
    settings = Settings(database_url=database_url, broadcast_url="memory://", connection_init_timeout_seconds=0.5,
                        max_subscriptions_per_connection=2)
    async with start_server(settings) as srv:
        silent = await websockets.connect(srv.ws, subprotocols=["graphql-transport-ws"])
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(silent.recv(), 5)
        assert closed.value.rcvd.code == CloseCode.INIT_TIMEOUT
        ws = await websockets.connect(srv.ws, subprotocols=["graphql-transport-ws"])
        await ws.send(ws_init(org.tokens["sales_member"]))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(ws_init(org.tokens["sales_member"]))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == CloseCode.TOO_MANY
        # Subscriptions per connection: the third is refused.
        ws = await websockets.connect(srv.ws, subprotocols=["graphql-transport-ws"])
        await ws.send(ws_init(org.tokens["sales_member"]))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for i in range(3):
            await ws.send(json.dumps({"id": str(i), "type": "subscribe", "payload": {"query": "subscription { boardEvents { seq } }"}}))
        reply = None
        try:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 3))
            assert reply["type"] == "error" and reply["id"] == "2"
        except websockets.ConnectionClosed as exc:
            assert exc.rcvd.code in (CloseCode.BAD_REQUEST, CloseCode.TOO_MANY)
        await ws.close()


@SQLITE_ONLY
async def test_websocket_message_size(database_url, org):
    """uvicorn's ws_max_size (settings.ws_max_message_bytes via `baton serve`) closes with 1009."""
    import uvicorn

    from tests.conftest import free_port

    app = create_app(Settings(database_url=database_url, broadcast_url="memory://"), migrate=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws_max_size=4096,
                                           ws_per_message_deflate=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"])
        await ws.send(json.dumps({"type": "connection_init", "payload": {"pad": "x" * 10_000}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == 1009
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@SQLITE_ONLY
async def test_no_token_or_password_in_logs(database_url, clock, org, caplog):
    app = await serve(database_url, clock)
    email = org.users["sales_member"].email
    with caplog.at_level(logging.DEBUG):
        async with app.router.lifespan_context(app), client_for(app) as c:
            body = (await c.post("/graphql", json={"query": LOGIN, "variables": {"e": email, "p": PASSWORD}})).json()
            token = body["data"]["login"]["token"]
            await c.post("/graphql", json={"query": LOGIN, "variables": {"e": email, "p": "wrong-" + PASSWORD}})
            await c.post("/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {token}"})
            await c.post("/graphql", json={"query": "{ nope }"}, headers={"authorization": f"Bearer {token}"})
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert token and token not in text
    assert PASSWORD not in text
    assert org.tokens["sales_member"] not in text


@SQLITE_ONLY
async def test_websocket_attempts_over_the_ip_bucket_are_refused_at_the_handshake(database_url):
    settings = Settings(database_url=database_url, broadcast_url="memory://", rate_limit_per_ip=0.01, rate_limit_ip_burst=2)
    async with start_server(settings) as srv:
        admitted = [await websockets.connect(srv.ws, subprotocols=["graphql-transport-ws"]) for _ in range(2)]
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            await websockets.connect(srv.ws, subprotocols=["graphql-transport-ws"])
        response = refused.value.response
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
        assert json.loads(response.body)["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        for ws in admitted:
            await ws.close()
