"""Board reads (and a 10:1 read/write mix): Baton vs PostGraphile 5, same database, same run."""
import asyncio
import json
import random
import time

import asyncpg
import httpx

from bench import peer
from bench.common import check, cpu_seconds, latency_summary

CLIENTS = 32

BOARD = """
query Board {
  board {
    pipeline { id name }
    columns {
      stage { id key name }
      totalCount totalAmount
      opportunities(first: 25) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node {
          id title amount priority version lastActivityAt
          account { id name }
          owner { id name }
          department { key name }
          openTaskCount
          handoffs { status }
          approvals { status }
        } }
      }
    }
  }
}"""

UPDATE = """
mutation Update($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { id version } userErrors { code message } }
}"""


def baton_cards(data: dict) -> int:
    return sum(len(c["opportunities"]["edges"]) for c in data["board"]["columns"])


def gid(kind: str, pk: int) -> str:
    import base64

    return base64.b64encode(f"{kind}:{pk}".encode()).decode()


class Target:
    """How to talk to one server: its board request and its update mutation."""

    def __init__(self, name: str, url: str, pid: int, headers: dict, board_body: dict, cards, write_body):
        self.name, self.url, self.pid, self.headers = name, url, pid, headers
        self.board_body = json.dumps(board_body).encode()
        self.cards = cards
        self.write_body = write_body  # (opp id, version, n) -> dict


def baton_target(url: str, pid: int, token: str, name: str = "baton") -> Target:
    def write(opp_id, version, n):
        return {"query": UPDATE, "variables": {"input": {"id": gid("Opportunity", opp_id), "version": version, "nextStep": f"Call back #{n}"}}}

    return Target(name, url, pid, {"authorization": f"Bearer {token}", "content-type": "application/json"},
                  {"query": BOARD}, baton_cards, write)


def peer_target(url: str, pid: int, pipeline_id: int) -> Target:
    def write(opp_id, version, n):
        return {"query": peer.UPDATE, "variables": {"id": opp_id, "nextStep": f"Call back #{n}"}}

    return Target("postgraphile", url, pid, {"content-type": "application/json"},
                  {"query": peer.BOARD, "variables": {"pipelineId": pipeline_id}}, peer.board_cards, write)


async def verify(target: Target) -> int:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(target.url, content=target.board_body, headers=target.headers)
        r.raise_for_status()
        return target.cards(check(r.json()))


async def run_load(target: Target, seconds: float, *, clients: int = CLIENTS, write_every: int = 0,
                   opp_groups: list[list[int]] | None = None, versions: dict[int, int] | None = None,
                   warmup: float = 2.0) -> dict:
    """`clients` loops for `seconds`; with write_every=k, each client's every k-th request is a write.

    The load comes from aiohttp: httpx costs the client several times the CPU per
    request, and on 2 cores a busy client process was what the board run measured
    (61 vs 284 req/s against the same server, with multi-second tails from the client)."""
    import aiohttp  # the `bench` extra; tests import this module for its queries only

    read_lat, write_lat, errors = [], [], [0]
    stop_at = [0.0]
    measuring = [False]

    async def client_loop(k: int, session):
        rnd = random.Random(k)
        n = 0
        mine = (opp_groups or [[]])[k % len(opp_groups)] if opp_groups else []
        while time.monotonic() < stop_at[0]:
            n += 1
            # clients are staggered so writes start in the first round, not after 10 reads each
            is_write = bool(write_every and mine and (n + k) % write_every == 0)
            t0 = time.perf_counter()
            try:
                if is_write:
                    opp = mine[rnd.randrange(len(mine))]
                    body = target.write_body(opp, versions.get(opp, 1) if versions else 1, n)
                    async with session.post(target.url, data=json.dumps(body), headers=target.headers) as r:
                        payload = json.loads(await r.read())
                    data = payload.get("data") or {}
                    res = data.get("updateOpportunity")
                    if res is not None:
                        if res["userErrors"]:
                            errors[0] += 1
                            msg = res["userErrors"][0]["message"]
                            if "now version" in msg and versions is not None:
                                versions[opp] = int(msg.split("now version ")[1].split(")")[0])
                        else:
                            versions[opp] = res["opportunity"]["version"]
                    elif payload.get("errors"):
                        errors[0] += 1
                else:
                    async with session.post(target.url, data=target.board_body, headers=target.headers) as r:
                        content = await r.read()
                    if r.status != 200 or b'"errors"' in content[:200]:
                        errors[0] += 1
            except (aiohttp.ClientError, ValueError):
                errors[0] += 1
                continue
            if measuring[0]:
                (write_lat if is_write else read_lat).append(time.perf_counter() - t0)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        # warm-up (connections, plan caches), then the measured window
        stop_at[0] = time.monotonic() + warmup
        await asyncio.gather(*(client_loop(k, session) for k in range(clients)))
        errors[0] = 0
        measuring[0] = True
        cpu0 = cpu_seconds(target.pid)
        t0 = time.monotonic()
        stop_at[0] = t0 + seconds
        await asyncio.gather(*(client_loop(k, session) for k in range(clients)))
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(target.pid) - cpu0
    total = len(read_lat) + len(write_lat)
    out = {
        "target": target.name, "clients": clients, "seconds": round(elapsed, 2),
        "requests_per_s": round(total / elapsed, 1), "reads_per_s": round(len(read_lat) / elapsed, 1),
        "errors": errors[0], "server_cpu_s": round(cpu, 2),
        "server_cpu_ms_per_request": round(cpu * 1000 / total, 2) if total else None,
        "read": latency_summary(read_lat),
    }
    if write_every:
        out["write"] = latency_summary(write_lat)
        out["writes_per_s"] = round(len(write_lat) / elapsed, 1)
    return out


async def current_versions(url: str, ids: list[int]) -> dict[int, int]:
    conn = await asyncpg.connect(url)
    try:
        return dict(await conn.fetch("SELECT id, version FROM opportunities WHERE id = ANY($1::int[])", ids))
    finally:
        await conn.close()


async def count_board_statements(ds) -> dict:
    """SQL statements one board query costs, counted in-process on Baton's engine (as the test does)."""
    from sqlalchemy import event

    from api.app import create_app
    from api.settings import Settings

    # Result cache off: count what computing the board costs, not a cache hit.
    app = create_app(Settings(database_url=ds.url, broadcast_url="memory://", result_cache_size=0), migrate=False)
    engine = app.state.baton.db.engine.sync_engine
    seen: list[str] = []

    def hit(conn, cursor, statement, *a):
        seen.append(statement.split()[0].upper())

    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers = {"authorization": f"Bearer {ds.reader_token}"}
            r = await client.post("/graphql", json={"query": BOARD}, headers=headers)  # warm
            check(r.json())
            event.listen(engine, "before_cursor_execute", hit)
            try:
                r = await client.post("/graphql", json={"query": BOARD}, headers=headers)
                check(r.json())
            finally:
                event.remove(engine, "before_cursor_execute", hit)
    finally:
        await app.state.baton.db.dispose()
    return {"statements": len(seen), "auth_statements": 1, "board_statements": len(seen) - 1, "kinds": seen}
