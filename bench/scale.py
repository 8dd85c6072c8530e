"""`python -m bench scale [--quick|--full] [--broker redis|postgres|both]`: a soak of
Baton scaled out as docs/operations.md describes it. Several `baton serve` processes
(one per core) behind HAProxy with org-affine routing (examples/haproxy.cfg), reaching
PostgreSQL through PgBouncer in transaction mode (examples/pgbouncer.ini), fanning out
through Redis or PostgreSQL LISTEN/NOTIFY. Many organizations keep boards open (websocket
subscribers that apply each event by reading the changed card and the columns' figures,
as web/js/board.js does); mutations arrive at a steady rate, half of them from a few hot organizations.

Prints, per broker: deliveries expected / received / lost / duplicated, delivery latency
(p50, p99), board reads per mutation (card reads and full-board reloads), server CPU per
event, PostgreSQL connections in use (peak) and the capacity model's prediction for the
same figures."""
import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from bench.common import PY, Proc, cpu_seconds, create_database, db_url, drop_database, free_port, latency_summary, raise_fd_limit, sa_url, wait_http

SIZES = {
    "quick": dict(orgs=40, processes=2, boards=3, rate=15, seconds=30, hot=4),
    "full": dict(orgs=200, processes=2, boards=5, rate=30, seconds=120, hot=10),
}
HOT_SHARE = 0.5  # of all mutations, from the hot organizations
BOUNCER_POOL = 20  # PgBouncer's default_pool_size in the soak
EVENTS = "subscription($after: Int) { boardEvents(after: $after) { seq type opportunity { id title } } }"
# What the board asks per burst of events (web/js/queries.js BOARD_CHANGES, its card fragment shortened).
CARD = """query BoardChanges($changed: OpportunityFilter!) {
  opportunities(filter: $changed, first: 100) { edges { node { id title version stage { key } amount currency owner { name } account { name } openTaskCount } } }
  board { columns { stage { key } totalCount totals { amount currency } baseTotal { amount currency rateDate missingRates } } }
}"""
# What a board that reloads itself on every event asks (the board before it applied events).
WHOLE_BOARD = """query Board {
  board { columns { stage { key } totalCount totals { amount currency } baseTotal { amount currency rateDate missingRates }
    opportunities(first: 200) { edges { node { id title version stage { key } amount currency owner { name } account { name } openTaskCount } } } } }
}"""
CREATE = "mutation($input: CreateOpportunityInput!) { createOpportunity(input: $input) { opportunity { id } userErrors { code } } }"


async def seed(db_url: str, orgs: int) -> list[dict]:
    """Organizations, each with a writer and a reader and their session tokens."""
    from db.engine import Database
    from db.migrate import upgrade
    from resolvers.auth import issue_token
    from resolvers.setup import create_organization, create_user

    await upgrade(db_url)
    db = Database(db_url)
    out = []
    now = datetime.now(timezone.utc)
    try:
        async with db.write() as session:
            for i in range(orgs):
                org = await create_organization(session, f"Soak {i}")
                writer = await create_user(session, org, email=f"w{i}@soak.test", name="Writer", department_key="sales", role="ADMIN", handle="w")
                reader = await create_user(session, org, email=f"r{i}@soak.test", name="Reader", department_key="sales", role="MEMBER", handle="r")
                out.append({
                    "id": org.id,
                    "writer": (await issue_token(session, writer, kind="session", now=now, hours=24))[0],
                    "reader": (await issue_token(session, reader, kind="session", now=now, hours=24))[0],
                })
    finally:
        await db.dispose()
    return out


class Board:
    """An open board: applies each event by reading the changed card and the columns'
    figures (`reload`: by reading the whole board again, as boards did before)."""

    def __init__(self, proxy: str, org: dict, stats: dict, reload: bool = False):
        self.proxy, self.org, self.stats, self.reload = proxy, org, stats, reload
        self.seqs: list[int] = []
        self.arrivals: dict[str, float] = {}  # title -> first arrival
        self.reads: set[asyncio.Task] = set()

    async def open(self, after: int, http: httpx.AsyncClient) -> None:
        self.http = http
        self.ws = await connect(f"ws://{self.proxy}/graphql?org={self.org['id']}", subprotocols=["graphql-transport-ws"], open_timeout=60)
        await self.ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {self.org['reader']}"}}))
        while json.loads(await self.ws.recv())["type"] != "connection_ack":
            pass
        await self.ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS, "variables": {"after": after}}}))
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if msg.get("type") == "ping":
                await self.ws.send('{"type":"pong"}')
            if msg.get("type") != "next":
                continue
            event = msg["payload"]["data"]["boardEvents"]
            self.seqs.append(event["seq"])
            if event["opportunity"]:
                self.arrivals.setdefault(event["opportunity"]["title"], time.perf_counter())
                self.stats["card_reads"] += 1
                task = asyncio.create_task(self.read_card(event["opportunity"]["id"]))
                self.reads.add(task)
                task.add_done_callback(self.reads.discard)

    async def read_card(self, opp_id: str) -> None:
        query, variables = (WHOLE_BOARD, {}) if self.reload else (CARD, {"changed": {"ids": [opp_id]}})
        r = await self.http.post(f"/graphql?org={self.org['id']}", json={"query": query, "variables": variables},
                                 headers={"authorization": f"Bearer {self.org['reader']}"})
        data = r.json().get("data") if r.status_code == 200 else None
        if not data or not (data.get("board") if self.reload else data["opportunities"]["edges"]):
            self.stats["failed_reads"] += 1

    async def close(self) -> None:
        await self.ws.close()
        self.task.cancel()


async def server_connections(admin, db_name: str) -> int:
    return await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db_name)


async def soak(broker: str, size: dict, reload: bool = False) -> dict:
    import asyncpg

    from bench.common import PG_ADMIN
    from tests.proxies import HAProxy, PgBouncer

    db_name = f"baton_scale_{broker}_{int(time.time())}"
    await create_database(db_name)
    workdir = Path(tempfile.mkdtemp(prefix="baton-scale-"))
    procs, boards, proxy, bouncer = [], [], None, None
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        orgs = await seed(sa_url(db_name), size["orgs"])
        bouncer = await PgBouncer(pool_size=BOUNCER_POOL).start()
        broadcast = "redis://127.0.0.1:6379/0" if broker == "redis" else sa_url(db_name).replace("postgresql+asyncpg://", "postgres://")
        for _ in range(size["processes"]):
            port = free_port()
            procs.append(Proc(f"scale-{port}", [PY, "-m", "api.cli", "serve", "--port", str(port), "--log-level", "warning"], env={
                "BATON_DATABASE_URL": bouncer.dsn(db_name), "BATON_DB_PGBOUNCER": "1", "BATON_BROADCAST_URL": broadcast,
                "BATON_RATE_LIMIT_ENABLED": "false", "BATON_MAX_WS_CONNECTIONS_PER_USER": "100000",
                "BATON_MAX_UNAUTHENTICATED_SOCKETS_PER_IP": "100000",
            }, log=workdir / f"baton-{port}.log"))
            procs[-1].port = port
        for p in procs:
            await wait_http(f"http://127.0.0.1:{p.port}/readyz", p, 60)
        proxy = HAProxy(workdir, [p.port for p in procs], check_every="2s")
        address = f"127.0.0.1:{proxy.port}"
        await asyncio.sleep(5)  # HAProxy's first health checks (rise 2 x 2 s)

        conn = await asyncpg.connect(db_url(db_name))
        heads = {r["id"]: r["event_seq"] for r in await conn.fetch("SELECT id, event_seq FROM organizations")}
        await conn.close()
        stats = {"card_reads": 0, "failed_reads": 0}
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=f"http://{address}", timeout=30, limits=limits) as http:
            for org in orgs:
                for _ in range(size["boards"]):
                    board = Board(address, org, stats, reload)
                    await board.open(heads[org['id']], http)
                    boards.append(board)
            print(f"[scale:{broker}] {len(orgs)} organizations, {len(boards)} open boards, {size['processes']} processes", flush=True)

            hot = orgs[: size["hot"]]
            sent: dict[str, float] = {}
            made: dict[int, int] = {org["id"]: 0 for org in orgs}
            cpu0 = sum(cpu_seconds(p.pid) for p in procs)
            peak = 0
            started = time.perf_counter()
            pending = set()
            failed: list[str] = []

            async def mutate(org: dict, title: str) -> None:
                sent[title] = time.perf_counter()
                r = await http.post(f"/graphql?org={org['id']}", json={"query": CREATE, "variables": {"input": {"title": title, "accountName": "星辰"}}},
                                    headers={"authorization": f"Bearer {org['writer']}"})
                data = r.json().get("data") if r.status_code == 200 else None
                if not data or data["createOpportunity"]["userErrors"]:
                    failed.append(r.text[:300])
                    return
                made[org["id"]] += 1

            n = 0
            while time.perf_counter() - started < size["seconds"]:
                org = random.choice(hot) if random.random() < HOT_SHARE else random.choice(orgs)
                n += 1
                task = asyncio.create_task(mutate(org, f"soak {org['id']}-{n}"))
                pending.add(task)
                task.add_done_callback(pending.discard)
                if n % size["rate"] == 0:
                    peak = max(peak, await server_connections(admin, db_name))
                await asyncio.sleep(1 / size["rate"])
            await asyncio.gather(*pending)
            elapsed = time.perf_counter() - started

            # Drain: every board should reach its organization's count of events.
            deadline = time.perf_counter() + 20
            while time.perf_counter() < deadline and any(len(b.seqs) < made[b.org["id"]] for b in boards):
                await asyncio.sleep(0.2)
            await asyncio.gather(*(t for b in boards for t in list(b.reads)))
            cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
            peak = max(peak, await server_connections(admin, db_name))
        conn = await asyncpg.connect(db_url(db_name))
        # Log growth: the event log's table and indexes per event (docs/operations.md, capacity model).
        bytes_per_event = await conn.fetchval("SELECT pg_total_relation_size('events') / greatest(count(*), 1) FROM events")
        await conn.close()

        if failed:
            print(f"[scale:{broker}] {len(failed)} mutations failed, e.g. {failed[0]}", flush=True)
        mutations = sum(made.values())
        expected = sum(made[b.org["id"]] for b in boards)
        received = sum(len(set(b.seqs)) for b in boards)
        duplicated = sum(len(b.seqs) - len(set(b.seqs)) for b in boards)
        latencies = [t - sent[title] for b in boards for title, t in b.arrivals.items() if title in sent]
        processes = size["processes"]
        return {
            "broker": broker + (", boards reload" if reload else ""), "organizations": len(orgs), "open_boards": len(boards), "processes": processes,
            "seconds": round(elapsed, 1), "mutations": mutations, "failed_mutations": len(failed), "mutations_per_s": round(mutations / elapsed, 1),
            "deliveries_expected": expected, "deliveries_received": received, "lost": expected - received, "duplicated": duplicated,
            "latency": latency_summary(latencies),
            "card_reads_per_mutation": 0.0 if reload else round(stats["card_reads"] / mutations, 2),
            "whole_board_reads_per_mutation": round(stats["card_reads"] / mutations, 2) if reload else 0.0, "failed_card_reads": stats["failed_reads"],
            "open_boards_per_org": size["boards"],
            "cpu_ms_per_event": round(cpu * 1000 / mutations, 2),
            "pg_connections_peak": peak,
            "event_log_bytes_per_event": bytes_per_event,
            # The capacity model (docs/operations.md): behind PgBouncer, PostgreSQL sees its
            # pool plus, per process with a postgres:// broker, 1 LISTEN + 4 publish connections.
            "pg_connections_model": BOUNCER_POOL + (5 * processes if broker == "postgres" else 0),
        }
    finally:
        for b in boards:
            try:
                await b.close()
            except Exception:  # noqa: BLE001 - already closed
                pass
        if proxy is not None:
            proxy.stop()
        for p in procs:
            p.stop()
        if bouncer is not None:
            bouncer.stop()
        await admin.close()
        await drop_database(db_name)


def table(results: list[dict]) -> str:
    rows = [
        ("Organizations / open boards / processes", lambda r: f"{r['organizations']} / {r['open_boards']} / {r['processes']}"),
        ("Mutations (per s), failed", lambda r: f"{r['mutations']} ({r['mutations_per_s']}), {r['failed_mutations']}"),
        ("Deliveries expected / received", lambda r: f"{r['deliveries_expected']} / {r['deliveries_received']}"),
        ("Lost / duplicated", lambda r: f"{r['lost']} / {r['duplicated']}"),
        ("Delivery p50 / p99 (ms)", lambda r: f"{r['latency']['p50_ms']} / {r['latency']['p99_ms']}"),
        ("Card reads per mutation (open boards per org)", lambda r: f"{r['card_reads_per_mutation']} ({r['open_boards_per_org']})"),
        ("Card reads failed", lambda r: str(r["failed_card_reads"])),
        ("Whole-board reads per mutation", lambda r: str(r["whole_board_reads_per_mutation"])),
        ("Server CPU per event (ms)", lambda r: str(r["cpu_ms_per_event"])),
        ("Event log bytes per event (table + indexes)", lambda r: str(r["event_log_bytes_per_event"])),
        ("PostgreSQL connections, peak (model)", lambda r: f"{r['pg_connections_peak']} ({r['pg_connections_model']})"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{'':{width}}  " + "  ".join(f"{r['broker']:>18}" for r in results)]
    lines += [f"{label:{width}}  " + "  ".join(f"{fn(r):>18}" for r in results) for label, fn in rows]
    return "\n".join(lines)


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__.splitlines()[0])
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_const", dest="mode", const="quick")
    g.add_argument("--full", action="store_const", dest="mode", const="full")
    parser.add_argument("--broker", choices=("redis", "postgres", "both"), default="both")
    parser.add_argument("--compare-reload", action="store_true",
                        help="also run (on the first broker) with boards that reload themselves on every event, as boards did before")
    args = parser.parse_args(argv)
    size = SIZES[args.mode or "quick"]
    raise_fd_limit(65536)
    brokers = ("redis", "postgres") if args.broker == "both" else (args.broker,)
    results = [asyncio.run(soak(broker, size)) for broker in brokers]
    if args.compare_reload:
        results.append(asyncio.run(soak(brokers[0], size, reload=True)))
    print()
    print(f"Baton scale soak ({args.mode or 'quick'}), {datetime.now(timezone.utc).isoformat(timespec='seconds')}")
    print(table(results))
    out = Path(__file__).resolve().parent / "results" / f"scale-{args.mode or 'quick'}-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out.relative_to(out.parents[2])}")
    return 0 if all(r["lost"] == 0 and r["duplicated"] == 0 and r["failed_mutations"] == 0 and r["failed_card_reads"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
