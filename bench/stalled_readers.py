"""Stalled readers: server memory while a dozen websockets that never read each hold
the maximum number of heavy `boardEvents(after: 0)` replays, with no writes at all.

`python -m bench.stalled_readers [--sockets 12] [--seconds 45] [--warm-up 2000] [--keep-db]`
generates the quick data set on a fresh PostgreSQL database, starts `baton serve` (one
worker), lets one reading subscriber take a few heavy events (a warm baseline), opens raw
sockets with a tiny receive buffer that sign in, subscribe 20 times and never call recv,
and prints the server's RSS (VmRSS) before, every few seconds while they stall, and after
they are closed; then how each socket ended (its close code, "eof" or still "open")."""
import argparse
import asyncio
import json
import socket
import struct
import time

from bench.common import free_port, raise_fd_limit, rss_kib, start_baton, wait_http
from bench.fanout import _client_frame, raw_signed_in_socket

HEAVY = """subscription($after: Int) { boardEvents(after: $after) {
  seq type occurredAt departmentKeys changes actor { id name email }
  opportunity { id title amount tags nextStep account { id name } owner { id name email } stage { id name }
    comments(first: 100) { edges { node { id body createdAt author { id name email } } } }
    history(first: 100) { edges { node { seq type occurredAt departmentKeys changes actor { id name } } } }
    tasks(first: 100) { edges { node { id title status dueAt } } } } } }"""
SUBSCRIPTIONS = 20  # BATON_MAX_SUBSCRIPTIONS_PER_CONNECTION's default
SAMPLE_EVERY = 3.0


async def open_stalled(url: str, token: str, subscriptions: int) -> socket.socket:
    """A raw websocket (4 KiB receive buffer) that signs in, subscribes, and is never read again."""
    loop = asyncio.get_running_loop()
    sock = await raw_signed_in_socket(url, token)
    for op in range(1, subscriptions + 1):
        message = {"id": str(op), "type": "subscribe", "payload": {"query": HEAVY, "variables": {"after": 0}}}
        await loop.sock_sendall(sock, _client_frame(json.dumps(message)))
    return sock


def _frames(data: bytes):
    """(opcode, payload) of the complete server frames (unmasked) in `data`."""
    i = 0
    while i + 2 <= len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n, i = struct.unpack("!H", data[i:i + 2])[0], i + 2
        elif n == 127:
            n, i = struct.unpack("!Q", data[i:i + 8])[0], i + 8
        if i + n > len(data):
            return
        yield op, data[i:i + n]
        i += n


async def how_it_ended(sock: socket.socket, seconds: float) -> str:
    """Read what the server sent (for at most `seconds`): its close code, "reset"
    (aborted without a close frame), "eof" or "open" (still sending, or silent)."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    end = "open"
    try:
        async with asyncio.timeout(seconds):
            while chunk := await loop.sock_recv(sock, 1 << 20):
                data += chunk
            end = "eof"
    except (ConnectionResetError, BrokenPipeError):
        end = "reset"
    except TimeoutError:
        pass
    codes = [struct.unpack("!H", p[:2])[0] for op, p in _frames(bytes(data)) if op == 0x8 and len(p) >= 2]
    return str(codes[0]) if codes else end


async def warm_up(url: str, token: str, events: int = 2000) -> None:
    """One reading subscriber takes `events` heavy replayed events (warms the server's
    pool and caches, so "before" is a warm baseline), then leaves."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(url, subprotocols=["graphql-transport-ws"], max_size=None, open_timeout=30) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": HEAVY, "variables": {"after": 0}}}))
        try:
            for _ in range(events):
                await asyncio.wait_for(ws.recv(), 60)
        except ConnectionClosed as closed:
            # After `bench all`'s write runs the channel may still be offering pages
            # faster than a heavy replay takes them: the server drops the subscriber
            # (4429), which is its documented answer. Warm enough for a baseline.
            print(f"[stalled] warm-up subscriber closed early: {closed.rcvd}", flush=True)


async def run(url: str, pid: int, token: str, sockets: int = 12, seconds: float = 45.0, warm: int = 2000) -> dict:
    """Open `sockets` stalled readers against the server at `url` (pid `pid`), sample its RSS."""
    if warm:
        await warm_up(url, token, warm)
        await asyncio.sleep(2)
    out = {"sockets": sockets, "subscriptions_per_socket": SUBSCRIPTIONS, "rss_kib_before": rss_kib(pid), "samples": []}
    print(f"[stalled] RSS before: {out['rss_kib_before'] / 1024:.0f} MiB", flush=True)
    socks = [await open_stalled(url, token, SUBSCRIPTIONS) for _ in range(sockets)]
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        await asyncio.sleep(SAMPLE_EVERY)
        rss = rss_kib(pid)
        out["samples"].append((round(time.monotonic() - started), rss))
        print(f"[stalled] t={time.monotonic() - started:4.0f}s RSS {rss / 1024:.0f} MiB", flush=True)
    out["rss_kib_peak"] = max(r for _, r in out["samples"])
    ended = await asyncio.gather(*(how_it_ended(s, 5.0) for s in socks))
    out["ended"] = {k: ended.count(k) for k in sorted(set(ended))}
    for s in socks:
        s.close()
    await asyncio.sleep(5)
    out["rss_kib_after_close"] = rss_kib(pid)
    print(f"[stalled] sockets ended: {out['ended']}; RSS 5 s after closing: {out['rss_kib_after_close'] / 1024:.0f} MiB", flush=True)
    return out


def summary(r: dict) -> str:
    during = ", ".join(f"{t}s {rss / 1024:.0f}" for t, rss in r["samples"])
    return (f"{r['sockets']} stalled sockets x {r['subscriptions_per_socket']} heavy replays: RSS (MiB) before "
            f"{r['rss_kib_before'] / 1024:.0f}; during {during}; peak {r['rss_kib_peak'] / 1024:.0f}; "
            f"after closing {r['rss_kib_after_close'] / 1024:.0f}; sockets ended {r['ended']}")


async def main(sockets: int, seconds: float, warm: int, keep_db: bool) -> dict:
    from bench import data
    from bench.common import drop_database

    raise_fd_limit(65536)
    db_name = f"baton_bench_stalled_{int(time.time())}"
    print(f"[stalled] generating quick data in {db_name} ...", flush=True)
    ds = await data.generate(db_name, "quick")
    print(f"[stalled] data: {ds.counts}", flush=True)
    port = free_port()
    baton = start_baton(db_name, port)
    try:
        await wait_http(f"http://127.0.0.1:{port}/healthz", baton, 60)
        return await run(f"ws://127.0.0.1:{port}/graphql", baton.server_pid(), ds.reader_token, sockets, seconds, warm)
    finally:
        baton.stop()
        if not keep_db:
            await drop_database(db_name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.stalled_readers", description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--warm-up", type=int, default=2000, help="heavy events one reader takes first (0: a cold server)")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(args.sockets, args.seconds, args.warm_up, args.keep_db))
    print()
    print(summary(result))
