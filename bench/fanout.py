"""Fan-out (one writer, N subscribers) and memory per idle subscription: Baton vs a raw
Starlette websocket floor (bench/floor_server.py) pushing the same bytes."""
import asyncio
import json
import time

import httpx
from websockets.asyncio.client import connect

from bench.board import UPDATE, current_versions, gid
from bench.common import PY, Proc, check, cpu_seconds, percentile, rss_kib

SUBSCRIPTION = "subscription { boardEvents { seq type } }"
CONNECT_CONCURRENCY = 50


class Subscriber:
    def __init__(self):
        self.ws = None
        self.arrivals: dict[int, float] = {}
        self.task = None
        self.ready = asyncio.Event()

    async def reader(self, on_first=None):
        try:
            async for raw in self.ws:
                t = time.perf_counter()
                msg = json.loads(raw)
                typ = msg.get("type")
                if typ == "next":
                    seq = msg["payload"]["data"]["boardEvents"]["seq"]
                    self.arrivals[seq] = t
                elif typ == "ping":
                    await self.ws.send('{"type":"pong"}')
        except Exception:  # noqa: BLE001 - closed sockets end the reader
            pass


async def open_baton_subscriber(url: str, token: str, query: str = SUBSCRIPTION, variables: dict | None = None) -> Subscriber:
    sub = Subscriber()
    sub.ws = await connect(url, subprotocols=["graphql-transport-ws"], max_size=None, ping_interval=None, open_timeout=60)
    await sub.ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    while True:
        msg = json.loads(await asyncio.wait_for(sub.ws.recv(), 60))
        if msg["type"] == "connection_ack":
            break
    await sub.ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}))
    sub.task = asyncio.create_task(sub.reader())
    return sub


async def open_floor_subscriber(url: str) -> Subscriber:
    sub = Subscriber()
    sub.ws = await connect(url, max_size=None, ping_interval=None, open_timeout=60)
    sub.task = asyncio.create_task(sub.reader())
    return sub


async def open_many(n: int, opener) -> list[Subscriber]:
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(i):
        async with sem:
            return await opener(i)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def close_all(subs: list[Subscriber]) -> None:
    async def one(s):
        try:
            await asyncio.wait_for(s.ws.close(), 5)
        except Exception:  # noqa: BLE001
            pass
        if s.task:
            s.task.cancel()

    for i in range(0, len(subs), 200):
        await asyncio.gather(*(one(s) for s in subs[i:i + 200]))


async def wait_delivered(subs: list[Subscriber], seq: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        missing = sum(1 for s in subs if seq not in s.arrivals)
        if not missing:
            return 0
        await asyncio.sleep(0.01)
    return sum(1 for s in subs if seq not in s.arrivals)


def settle_rss(pid: int, seconds: float = 1.5) -> int:
    time.sleep(seconds)
    return rss_kib(pid)


async def measure_side(name: str, pid: int, n: int, opener, trigger, mutations: int, timeout: float) -> dict:
    """Connect n subscribers, read RSS growth, then `mutations` times: trigger -> arrival at every subscriber."""
    rss0 = await asyncio.to_thread(settle_rss, pid)
    t0 = time.monotonic()
    subs = await open_many(n, opener)
    connect_s = time.monotonic() - t0
    try:
        # subscriptions are live once a first event reaches everyone (also warms up)
        seq = await trigger(0)
        missing_warm = await wait_delivered(subs, seq[0], timeout)
        rss1 = await asyncio.to_thread(settle_rss, pid)
        lat, last, missing = [], [], 0
        cpu0 = cpu_seconds(pid)
        for i in range(1, mutations + 1):
            seq, t_resp = await trigger(i)
            missing += await wait_delivered(subs, seq, timeout)
            got = [s.arrivals[seq] - t_resp for s in subs if seq in s.arrivals]
            lat += got
            if got:
                last.append(max(got))
            await asyncio.sleep(0.05)
        cpu = cpu_seconds(pid) - cpu0
        deliveries = max(1, mutations * n - missing)
        return {
            "side": name, "subscribers": n, "connect_s": round(connect_s, 2), "mutations": mutations,
            "missing": missing, "missing_warmup": missing_warm,
            "p50_ms": round(percentile(lat, 50) * 1000, 2) if lat else None,
            "p99_ms": round(percentile(lat, 99) * 1000, 2) if lat else None,
            "last_ms": round(max(last) * 1000, 2) if last else None,
            "server_cpu_s": round(cpu, 3),
            "cpu_us_per_delivery": round(cpu * 1e6 / deliveries, 1),
            "rss_kib_before": rss0, "rss_kib_after": rss1,
            "rss_kib_per_1000": round((rss1 - rss0) * 1000 / n, 0),
        }
    finally:
        await close_all(subs)


def start_floor(port: int) -> Proc:
    return Proc(f"floor-{port}", [PY, "-m", "bench.floor_server", str(port)])


async def run(ds, baton_url: str, baton_pid: int, floor_url: str, floor_pid: int, sizes: list[int], mutations: int,
              timeout: float = 15.0) -> list[dict]:
    ws_baton = baton_url.replace("http://", "ws://")
    ws_floor = floor_url.replace("http://", "ws://").replace("/healthz", "/ws")
    opp = ds.writer_opps[0][0]
    versions = await current_versions(ds.url, [opp])
    headers = {"authorization": f"Bearer {ds.writer_tokens[0]}"}
    results = []
    async with httpx.AsyncClient(timeout=60) as client:
        async def baton_trigger(i):
            body = {"query": UPDATE, "variables": {"input": {"id": gid("Opportunity", opp), "version": versions[opp], "nextStep": f"Fan-out {time.time()}"}}}
            r = await client.post(baton_url, json=body, headers=headers)
            t = time.perf_counter()
            res = check(r.json())["updateOpportunity"]
            if res["userErrors"]:
                raise RuntimeError(res["userErrors"])
            versions[opp] = res["opportunity"]["version"]
            # the event's seq: the log head right after this commit (one writer)
            seq = await _head(ds)
            return (seq, t) if i else (seq,)

        floor_seq = [0]

        async def floor_trigger(i):
            floor_seq[0] += 1
            r = await client.post(floor_url.replace("/healthz", "/push"), json={"seq": floor_seq[0]})
            t = time.perf_counter()
            r.raise_for_status()
            return (floor_seq[0], t) if i else (floor_seq[0],)

        for n in sizes:
            tokens = ds.subscriber_tokens
            b = await measure_side("baton", baton_pid, n, lambda i: open_baton_subscriber(ws_baton, tokens[i % len(tokens)]),
                                   baton_trigger, mutations, timeout)
            f = await measure_side("floor", floor_pid, n, lambda i: open_floor_subscriber(ws_floor), floor_trigger, mutations, timeout)
            results.append({"subscribers": n, "baton": b, "floor": f})
            print(f"  fan-out {n}: baton p50 {b['p50_ms']} p99 {b['p99_ms']} last {b['last_ms']} ms, "
                  f"{b['cpu_us_per_delivery']} us/delivery, {b['rss_kib_per_1000']} KiB/1000 | floor p50 {f['p50_ms']} "
                  f"p99 {f['p99_ms']} last {f['last_ms']} ms, {f['cpu_us_per_delivery']} us/delivery, {f['rss_kib_per_1000']} KiB/1000",
                  flush=True)
    return results


_conn = {}


async def _head(ds) -> int:
    import asyncpg

    conn = _conn.get(ds.url)
    if conn is None or conn.is_closed():
        conn = _conn[ds.url] = await asyncpg.connect(ds.url)
    return await conn.fetchval("SELECT event_seq FROM organizations WHERE id = $1", ds.org_id)


async def close_head_conns():
    for conn in _conn.values():
        await conn.close()
    _conn.clear()
