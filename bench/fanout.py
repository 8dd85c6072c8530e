"""Fan-out (one writer, N subscribers) and memory per idle subscription: Baton vs a raw
Starlette websocket floor (bench/floor_server.py) pushing the same bytes. At 1,000 it
also compares Baton without and with one stalled subscriber among them (a raw socket
that subscribes, replays thousands of events and never reads), alternating."""
import asyncio
import base64
import json
import os
import socket
import struct
import time

import httpx
from websockets.asyncio.client import connect

from bench.board import UPDATE, current_versions, gid
from bench.common import PY, Proc, check, cpu_seconds, percentile, rss_kib

SUBSCRIPTION = "subscription { boardEvents { seq type } }"
CONNECT_CONCURRENCY = 50
STALLED_AT = 1000  # fan-out size that is also measured with one stalled subscriber
WARM = 100  # subscribers open before memory is first read (see measure_side)
PROBE_FROM = 5000  # from this many subscribers, queries are asked during the fan-out too
STALLED_REPLAY = 10_000  # events the stalled subscriber asks to replay (a few MB: fills its buffers)


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


def _client_frame(text: str) -> bytes:
    """A masked text frame (clients must mask)."""
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


class StalledSubscriber:
    """A raw socket that signs in, subscribes to live events like everyone else and
    three times to a replay of stored events (more than every buffer on the way
    takes), then never reads."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def unread_bytes(self) -> int:
        import fcntl
        import termios

        return struct.unpack("I", fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]

    def close(self) -> None:
        self.sock.close()


async def raw_signed_in_socket(url: str, token: str) -> socket.socket:
    """A raw graphql-transport-ws socket with a 4 KiB receive buffer, signed in (acknowledged)."""
    loop = asyncio.get_running_loop()
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, (host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(sock, (
        f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    ).encode())
    buf = b""

    async def read_until(marker: bytes) -> None:
        nonlocal buf
        while marker not in buf:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), 30)
            if not chunk:
                raise RuntimeError(f"stalled subscriber: closed before {marker!r} ({buf[:300]!r})")
            buf += chunk

    await read_until(b"\r\n\r\n")  # 101 Switching Protocols
    await loop.sock_sendall(sock, _client_frame(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})))
    await read_until(b"connection_ack")
    return sock


async def open_stalled_subscriber(url: str, token: str, query: str, replay_after: int) -> StalledSubscriber:
    loop = asyncio.get_running_loop()
    sock = await raw_signed_in_socket(url, token)
    replay = "subscription($after: Int) { boardEvents(after: $after) { seq type occurredAt departmentKeys changes } }"
    await loop.sock_sendall(sock, _client_frame(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}})))
    for op_id in ("2", "3", "4"):  # more than the kernel's socket buffers take (a few MB)
        await loop.sock_sendall(sock, _client_frame(json.dumps(
            {"id": op_id, "type": "subscribe", "payload": {"query": replay, "variables": {"after": replay_after}}})))
    return StalledSubscriber(sock)


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


async def _mutate(subs, trigger, first: int, mutations: int, timeout: float):
    """`mutations` times: trigger -> arrival at every subscriber; (latencies, slowest per event, missing)."""
    lat, last, missing = [], [], 0
    for i in range(first, first + mutations):
        seq, t_resp = await trigger(i)
        missing += await wait_delivered(subs, seq, timeout)
        got = [s.arrivals[seq] - t_resp for s in subs if seq in s.arrivals]
        lat += got
        if got:
            last.append(max(got))
        await asyncio.sleep(0.05)
    return lat, last, missing


def _stats(lat, last) -> dict:
    return {
        "p50_ms": round(percentile(lat, 50) * 1000, 2) if lat else None,
        "p99_ms": round(percentile(lat, 99) * 1000, 2) if lat else None,
        "last_ms": round(max(last) * 1000, 2) if last else None,
    }


async def _probe(query, stop: asyncio.Event, every: float = 0.1) -> dict:
    """Ask `query()` every `every` s until `stop`: are requests answered during fan-out?"""
    times, failed = [], 0
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            await query()
            times.append(time.perf_counter() - t0)
        except Exception:  # noqa: BLE001 - counted
            failed += 1
        await asyncio.sleep(every)
    return {"queries": len(times) + failed, "failed": failed,
            "p99_ms": round(percentile(times, 99) * 1000, 1) if times else None,
            "max_ms": round(max(times) * 1000, 1) if times else None}


async def measure_side(name: str, pid: int, n: int, opener, trigger, mutations: int, timeout: float,
                       query=None) -> dict:
    """Connect n subscribers, read RSS growth, then `mutations` times: trigger -> arrival at every subscriber.
    With `query`, a GraphQL query is also asked every 100 ms during the mutations."""
    # Memory per subscription is the growth over n subscribers opened after WARM others
    # (kept open meanwhile, so none of their memory is reused): one-off costs of a
    # first burst of sign-ins (connection pool, caches, allocator arenas) stay out.
    warm = await open_many(WARM, opener)
    rss0 = await asyncio.to_thread(settle_rss, pid)
    t0 = time.monotonic()
    subs = await open_many(n, opener)
    connect_s = time.monotonic() - t0
    try:
        # subscriptions are live once a first event reaches everyone (also warms up)
        seq = await trigger(0)
        missing_warm = await wait_delivered(subs, seq[0], timeout)
        rss1 = await asyncio.to_thread(settle_rss, pid)
        await close_all(warm)  # the fan-out is measured to exactly n
        warm = []
        stop = asyncio.Event()
        probing = asyncio.create_task(_probe(query, stop)) if query is not None else None
        cpu0 = cpu_seconds(pid)
        lat, last, missing = await _mutate(subs, trigger, 1, mutations, timeout)
        cpu = cpu_seconds(pid) - cpu0
        stop.set()
        deliveries = max(1, mutations * n - missing)
        return {
            **({"queries_during_fanout": await probing} if probing is not None else {}),
            "side": name, "subscribers": n, "connect_s": round(connect_s, 2), "mutations": mutations,
            "missing": missing, "missing_warmup": missing_warm, **_stats(lat, last),
            "server_cpu_s": round(cpu, 3),
            "cpu_us_per_delivery": round(cpu * 1e6 / deliveries, 1),
            "rss_kib_before": rss0, "rss_kib_after": rss1,
            "rss_kib_per_1000": round((rss1 - rss0) * 1000 / n, 0),
        }
    finally:
        await close_all(subs + warm)


async def measure_stalled(pid: int, n: int, opener, trigger, mutations: int, timeout: float, stall, rounds: int = 2) -> dict:
    """n healthy subscribers; `rounds` times: `mutations` events without, then with one
    stalled subscriber (`stall()` opens it; it replays enough to fill every buffer and
    never reads). Alternating on the same server and sockets keeps the comparison fair
    on a busy machine. RSS is read before and after each stalled phase."""
    subs = await open_many(n, opener)
    out = {"subscribers": n, "mutations_per_phase": mutations, "rounds": rounds}
    try:
        seq = await trigger(0)
        await wait_delivered(subs, seq[0], timeout)
        phases = {"without": ([], [], 0, 0.0), "with": ([], [], 0, 0.0)}
        growth, unread, k = [], [], 1
        for _ in range(rounds):
            for phase in ("without", "with"):
                stalled = None
                if phase == "with":
                    stalled = await stall()
                    await asyncio.sleep(3)  # its replays fill the socket's buffers
                    rss_a = await asyncio.to_thread(settle_rss, pid)
                cpu0 = cpu_seconds(pid)
                lat, last, missing = await _mutate(subs, trigger, k, mutations, timeout)
                cpu = cpu_seconds(pid) - cpu0
                k += mutations
                acc = phases[phase]
                phases[phase] = (acc[0] + lat, acc[1] + last, acc[2] + missing, acc[3] + cpu)
                if stalled is not None:
                    growth.append(await asyncio.to_thread(settle_rss, pid) - rss_a)
                    unread.append(stalled.unread_bytes())
                    stalled.close()
                    await asyncio.sleep(1)
        for phase, (lat, last, missing, cpu) in phases.items():
            out[phase] = {**_stats(lat, last), "missing": missing,
                          "cpu_us_per_delivery": round(cpu * 1e6 / max(1, rounds * mutations * n - missing), 1)}
        out["rss_kib_growth_while_stalled"] = max(growth)
        out["stalled_unread_bytes"] = min(unread)
        return out
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

        async def baton_query():
            r = await client.post(baton_url, json={"query": "{ viewer { id } }"}, headers={"authorization": f"Bearer {tokens[0]}"})
            check(r.json())

        for n in sizes:
            tokens = ds.subscriber_tokens
            b = await measure_side("baton", baton_pid, n, lambda i: open_baton_subscriber(ws_baton, tokens[i % len(tokens)]),
                                   baton_trigger, mutations, timeout, query=baton_query if n >= PROBE_FROM else None)
            f = await measure_side("floor", floor_pid, n, lambda i: open_floor_subscriber(ws_floor), floor_trigger, mutations, timeout)
            results.append({"subscribers": n, "baton": b, "floor": f})
            if "queries_during_fanout" in b:
                print(f"  queries during fan-out to {n}: {b['queries_during_fanout']}", flush=True)
            print(f"  fan-out {n}: baton p50 {b['p50_ms']} p99 {b['p99_ms']} last {b['last_ms']} ms, "
                  f"{b['cpu_us_per_delivery']} us/delivery, {b['rss_kib_per_1000']} KiB/1000 | floor p50 {f['p50_ms']} "
                  f"p99 {f['p99_ms']} last {f['last_ms']} ms, {f['cpu_us_per_delivery']} us/delivery, {f['rss_kib_per_1000']} KiB/1000",
                  flush=True)
            if n == STALLED_AT and mutations:
                head = await _head(ds)

                async def stall():
                    return await open_stalled_subscriber(ws_baton, tokens[0], SUBSCRIPTION, max(0, head - STALLED_REPLAY))

                # at least 10 events per phase: CPU time is read in 10 ms ticks
                st = await measure_stalled(baton_pid, n, lambda i: open_baton_subscriber(ws_baton, tokens[i % len(tokens)]),
                                           baton_trigger, max(mutations, 10), timeout, stall)
                results[-1]["baton_stalled"] = st
                w, s_ = st["without"], st["with"]
                print(f"  fan-out {n}, alternating without / with 1 stalled subscriber: p50 {w['p50_ms']} / {s_['p50_ms']}, "
                      f"p99 {w['p99_ms']} / {s_['p99_ms']}, last {w['last_ms']} / {s_['last_ms']} ms, "
                      f"{w['cpu_us_per_delivery']} / {s_['cpu_us_per_delivery']} us/delivery, undelivered {w['missing']} / "
                      f"{s_['missing']}; stalled socket unread {st['stalled_unread_bytes']} B, RSS growth while stalled "
                      f"{st['rss_kib_growth_while_stalled']} KiB", flush=True)
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


async def at_count(count: int, mutations: int = 5, keep_db: bool = False) -> dict:
    """Fan-out and memory at one size only (e.g. 10,000: `python -m bench.fanout --count
    10000`), Baton vs the floor, on the quick data set. `python -m bench fanout` stops at
    5,000 (--full)."""
    from bench import data
    from bench.common import drop_database, free_port, raise_fd_limit, start_baton, wait_http

    # Both servers inherit this process's limit; it holds the client end of every socket.
    limit = raise_fd_limit(65536)
    if limit < count + WARM + 1024:
        raise SystemExit(f"open files are limited to {limit} (ulimit -n): too few for {count} sockets")
    db_name = f"baton_bench_fanout{count}_{int(time.time())}"
    ds = await data.generate(db_name, "quick")
    procs = []
    try:
        port = free_port()
        baton = start_baton(db_name, port)
        procs.append(baton)
        await wait_http(f"http://127.0.0.1:{port}/healthz", baton, 60)
        fport = free_port()
        floor = start_floor(fport)
        procs.append(floor)
        furl = f"http://127.0.0.1:{fport}/healthz"
        await wait_http(furl, floor, 30)
        # A generous wait per event: thousands of sockets on a small machine.
        results = await run(ds, f"http://127.0.0.1:{port}/graphql", baton.pid, furl, floor.pid, [count], mutations,
                            timeout=60.0)
    finally:
        for p in procs:
            p.stop()
        await close_head_conns()
        if not keep_db:
            await drop_database(db_name)
    return results[0]


def _cli() -> int:
    import argparse
    import sys

    from bench.common import BENCH

    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=at_count.__doc__.split(".")[0])
    parser.add_argument("--count", type=int, required=True, help="subscribers (e.g. 10000)")
    parser.add_argument("--mutations", type=int, default=5)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    r = asyncio.run(at_count(args.count, args.mutations, args.keep_db))
    b, f = r["baton"], r["floor"]
    ratio = (b["p99_ms"] / f["p99_ms"]) if b["p99_ms"] and f["p99_ms"] and f["p99_ms"] > 0 else None
    mem = b["rss_kib_per_1000"] / f["rss_kib_per_1000"] if f["rss_kib_per_1000"] else None
    print(f"\n{args.count} subscribers: undelivered {b['missing']} (warm-up {b['missing_warmup']}); p99 {b['p99_ms']} vs floor "
          f"{f['p99_ms']} ms ({ratio and round(ratio, 2)}x); CPU per delivery {b['cpu_us_per_delivery']} vs "
          f"{f['cpu_us_per_delivery']} us; memory per 1,000 {b['rss_kib_per_1000']} vs {f['rss_kib_per_1000']} KiB "
          f"({mem and round(mem, 2)}x); connect {b['connect_s']} vs {f['connect_s']} s", flush=True)
    out = BENCH / "results" / f"fanout-count{args.count}-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": "python -m bench.fanout " + " ".join(sys.argv[1:]), "result": r}, indent=2,
                              default=str))
    print(f"wrote {out.relative_to(BENCH.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli())
