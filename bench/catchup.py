"""Catch-up: a client resuming 10,000 events behind (boardEvents with `after`), and
the same range paged through the `events` query, in events per second."""
import json
import time

import httpx
from websockets.asyncio.client import connect

from bench.common import check
from bench.fanout import _head

RESUME = "subscription($after: Int) { boardEvents(after: $after) { seq type } }"
EVENTS = "query($after: Int, $first: Int) { events(after: $after, first: $first) { pageInfo { hasNextPage } edges { node { seq type } } } }"


async def run(ds, url: str, behind: int = 10_000, timeout: float = 120) -> dict:
    head = await _head(ds)
    behind = min(behind, head)
    after = head - behind
    ws_url = url.replace("http://", "ws://")
    out = {"behind": behind}
    async with connect(ws_url, subprotocols=["graphql-transport-ws"], max_size=None, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {ds.reader_token}"}}))
        while json.loads(await ws.recv())["type"] != "connection_ack":
            pass
        t0 = time.perf_counter()
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": RESUME, "variables": {"after": after}}}))
        got, last, first_at = 0, after, None
        deadline = time.monotonic() + timeout
        while last < head and time.monotonic() < deadline:
            msg = json.loads(await ws.recv())
            if msg["type"] == "next":
                if first_at is None:
                    first_at = time.perf_counter() - t0
                seq = msg["payload"]["data"]["boardEvents"]["seq"]
                if seq <= last:
                    raise RuntimeError(f"duplicate or out-of-order seq {seq} after {last}")
                got, last = got + 1, seq
            elif msg["type"] == "error":
                raise RuntimeError(msg)
        elapsed = time.perf_counter() - t0
    out["subscription"] = {"events": got, "seconds": round(elapsed, 3), "events_per_s": round(got / elapsed, 0),
                           "first_event_ms": round((first_at or 0) * 1000, 1), "complete": last >= head}
    # the polling path: `events` pages of 100 (the page cap)
    async with httpx.AsyncClient(timeout=60) as client:
        headers = {"authorization": f"Bearer {ds.reader_token}"}
        t0 = time.perf_counter()
        cursor, got, pages = after, 0, 0
        while cursor < head and time.perf_counter() - t0 < timeout:
            r = await client.post(url, json={"query": EVENTS, "variables": {"after": cursor, "first": 100}}, headers=headers)
            edges = check(r.json())["events"]["edges"]
            if not edges:
                break
            got += len(edges)
            pages += 1
            cursor = edges[-1]["node"]["seq"]
        elapsed = time.perf_counter() - t0
    out["events_query"] = {"events": got, "pages": pages, "seconds": round(elapsed, 3), "events_per_s": round(got / elapsed, 0)}
    return out
