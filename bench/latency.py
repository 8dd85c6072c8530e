"""Live latency: from a mutation's HTTP response to its event reaching a subscriber.

Runs one `baton serve` process per configuration, subscribes over graphql-transport-ws,
makes N sequential createOpportunity mutations over HTTP and prints median / p95 of
(event arrival - HTTP response) and of (event arrival - request sent). Negative
values mean the event beat the HTTP response (publishing happens before the reply).

    .venv/bin/python bench/latency.py [--n 100] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
        [--redis redis://127.0.0.1:6379/0]
"""
import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from db.engine import Database  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from resolvers.auth import issue_token  # noqa: E402
from resolvers.setup import create_organization, create_user  # noqa: E402

CREATE = """mutation($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id } userErrors { message } } }"""
SUBSCRIBE = "subscription { boardEvents(types: [OPPORTUNITY_CREATED]) { seq opportunity { id } } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def seed(database_url: str) -> tuple[str, str]:
    """A fresh organization with one member; returns (sales token, viewer token)."""
    await upgrade(database_url)
    db = Database(database_url)
    tag = uuid.uuid4().hex[:8]
    try:
        async with db.write() as session:
            org = await create_organization(session, f"Bench {tag}")
            tokens = []
            for key in ("sales", "marketing"):
                user = await create_user(session, org, email=f"{key}.{tag}@bench.test", name=key, department_key=key,
                                         role="MEMBER", handle=f"{key}{tag}", password=None)
                tokens.append((await issue_token(session, user, kind="session", now=datetime.now(timezone.utc), hours=1))[0])
        return tokens[0], tokens[1]
    finally:
        await db.dispose()


async def wait_ready(port: int, proc) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if proc.returncode is not None:
                raise SystemExit(f"baton serve exited with {proc.returncode}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("baton serve did not become ready")


async def measure(database_url: str, broadcast_url: str, n: int) -> dict:
    writer, reader = await seed(database_url)
    port = free_port()
    env = {**os.environ, "BATON_DATABASE_URL": database_url, "BATON_BROADCAST_URL": broadcast_url,
           "BATON_CATCH_UP_SECONDS": "60"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--log-level", "warning",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_ready(port, proc)
        arrived: dict[str, float] = {}
        async with connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {reader}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))

            async def read():
                async for raw in ws:
                    message = json.loads(raw)
                    if message["type"] == "next":
                        arrived[message["payload"]["data"]["boardEvents"]["opportunity"]["id"]] = time.perf_counter()

            reading = asyncio.create_task(read())
            headers = {"authorization": f"Bearer {writer}"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
                # Warm up (connections, caches) and make sure the subscription is live.
                for _ in range(100):
                    await http.post("/graphql", json={"query": CREATE, "variables": {"input": {"title": "warm", "accountName": "A"}}})
                    if arrived:
                        break
                    await asyncio.sleep(0.02)
                sent, replied = {}, {}
                for i in range(n):
                    t0 = time.perf_counter()
                    body = (await http.post("/graphql", json={"query": CREATE, "variables": {"input": {"title": f"b{i}", "accountName": "A"}}})).json()
                    opp_id = body["data"]["createOpportunity"]["opportunity"]["id"]
                    sent[opp_id], replied[opp_id] = t0, time.perf_counter()
                deadline = time.perf_counter() + 10
                while not all(k in arrived for k in replied) and time.perf_counter() < deadline:
                    await asyncio.sleep(0.01)
            reading.cancel()
        missing = [k for k in replied if k not in arrived]
        after_reply = [(arrived[k] - replied[k]) * 1000 for k in replied if k in arrived]
        after_send = [(arrived[k] - sent[k]) * 1000 for k in replied if k in arrived]
        return {
            "n": len(after_reply), "missing": len(missing),
            "median_ms": statistics.median(after_reply), "p95_ms": statistics.quantiles(after_reply, n=20)[18],
            "median_from_request_ms": statistics.median(after_send),
        }
    finally:
        proc.terminate()
        await proc.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--pg", default=os.environ.get("BATON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    name = f"baton_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.pg)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = args.pg.rsplit("/", 1)[0]
    pg_storage = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)
    pg_broadcast = f"{base}/{name}".replace("postgresql://", "postgres://", 1)
    sqlite = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    configs = [
        ("memory://", "SQLite", sqlite, "memory://"),
        ("memory://", "PostgreSQL", pg_storage, "memory://"),
        ("postgres://", "PostgreSQL", pg_storage, pg_broadcast),
        ("redis://", "PostgreSQL", pg_storage, args.redis),
    ]
    print(f"{args.n} sequential createOpportunity mutations per row; latency = event arrival at a websocket subscriber")
    print(f"{'broadcast':<12} {'storage':<11} {'median after reply':>19} {'p95 after reply':>16} {'median after request':>21} {'missing':>8}")
    try:
        for label, storage, database_url, broadcast_url in configs:
            r = await measure(database_url, broadcast_url, args.n)
            print(f"{label:<12} {storage:<11} {r['median_ms']:>16.2f} ms {r['p95_ms']:>13.2f} ms "
                  f"{r['median_from_request_ms']:>18.2f} ms {r['missing']:>8}", flush=True)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
