"""Cost against history: `python -m bench.history [--keep-db]`.

Loads two organizations on fresh databases with `bench/data.py` — the quick set (1,000
opportunities, ~11,000 events) and the large one (100,000 opportunities, ~1,000,000
events, 1,000 users; a few minutes of COPY) — and measures on each, in this process
through the ASGI app with the result cache off, one request at a time:

- the uncached board (bench.board.BOARD as a sales member): wall time per request, p50;
- `analytics` (the board's Analytics view query): wall time per request, p50 of 3 (past the
  15 s operation limit on the large set, which is lifted here to get a figure);
- `events(after:)` pages of 100 over the newest 10,000 events: events per second.

Prints each figure for both sets, the ratio large/quick and the targets' verdicts
(docs/performance.md): board p50 within 1.5x, analytics within 3x, events(after:)
throughput at least 0.8x. Both databases are dropped at the end unless --keep-db."""
import argparse
import asyncio
import json
import statistics
import time

import httpx

from bench.board import BOARD
from bench.common import drop_database, sa_url
from bench.data import generate

ANALYTICS = """query Analytics { analytics {
  funnel { stage { key } entered current conversionToNext medianHoursInStage totals { amount currency } }
  winRate medianCycleDays lossReasonCounts { reason count } medianHandoffResponseHours medianApprovalHours
  totals { amount currency } openTotals { amount currency } wonTotals { amount currency } } }"""
EVENTS = "query($after: Int) { events(after: $after, first: 100) { edges { node { seq type } } pageInfo { hasNextPage } } }"
TARGETS = {"board": 1.5, "analytics": 3.0}  # large/quick at most
EVENTS_TARGET = 0.8  # large/quick throughput at least


async def measure(ds, repeats: int) -> dict:
    from api.app import create_app
    from api.settings import Settings

    app = create_app(Settings(database_url=sa_url(ds.db_name), broadcast_url="memory://", result_cache_size=0,
                              rate_limit_enabled=False, max_query_cost=10**9,
                              operation_timeout_seconds=3600, alerts_interval_seconds=86400), migrate=False)  # a figure even past the 15 s limit; requests only, no alerts round
    headers = {"authorization": f"Bearer {ds.reader_token}", "content-type": "application/json"}
    out = {}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=600
    ) as client:

        async def ask(query: str, variables: dict | None = None) -> dict:
            r = await client.post("/graphql", content=json.dumps({"query": query, "variables": variables or {}}), headers=headers)
            body = r.json()
            if r.status_code != 200 or body.get("errors"):
                raise SystemExit(f"request failed: {r.status_code} {r.text[:300]}")
            return body["data"]

        for name, query, times_asked in (("board", BOARD, repeats), ("analytics", ANALYTICS, 3)):
            await ask(query)  # warm up
            times = []
            for _ in range(times_asked):
                t0 = time.perf_counter()
                await ask(query)
                times.append((time.perf_counter() - t0) * 1000)
            out[name] = statistics.median(times)
            print(f"  {name}: p50 {out[name]:.1f} ms", flush=True)
        after, read, t0 = max(0, ds.event_head - 10_000), 0, time.perf_counter()
        while True:
            page = (await ask(EVENTS, {"after": after}))["events"]
            read += len(page["edges"])
            if page["edges"]:
                after = page["edges"][-1]["node"]["seq"]
            if not page["pageInfo"]["hasNextPage"]:
                break
        out["events_per_s"] = read / (time.perf_counter() - t0)
    return out


async def main(keep: bool, repeats: int) -> None:
    results, names = {}, []
    try:
        for scale in ("quick", "large"):
            name = f"baton_bench_history_{scale}_{int(time.time())}"
            names.append(name)
            print(f"loading the {scale} set into {name} ...", flush=True)
            ds = await generate(name, scale)
            print(f"  {ds.counts['opportunities']:,} opportunities, {ds.counts['events']:,} events in {ds.seconds:.0f} s", flush=True)
            results[scale] = {**await measure(ds, repeats), "events": ds.counts["events"], "opportunities": ds.counts["opportunities"]}
    finally:
        if not keep:
            for name in names:
                await drop_database(name)
    quick, large = results["quick"], results["large"]
    print(f"\n| Measure | quick ({quick['events']:,} events) | large ({large['events']:,} events) | large/quick | target | verdict |")
    print("|---|---|---|---|---|---|")
    for key, label in (("board", "Uncached board p50 (ms)"), ("analytics", "analytics p50 (ms)")):
        ratio = large[key] / quick[key]
        ok = "met" if ratio <= TARGETS[key] else "not met"
        print(f"| {label} | {quick[key]:.1f} | {large[key]:.1f} | {ratio:.2f}x | <= {TARGETS[key]}x | {ok} |")
    ratio = large["events_per_s"] / quick["events_per_s"]
    ok = "met" if ratio >= EVENTS_TARGET else "not met"
    print(f"| events(after:) pages of 100 (ev/s) | {quick['events_per_s']:,.0f} | {large['events_per_s']:,.0f} | {ratio:.2f}x | >= {EVENTS_TARGET}x | {ok} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--repeats", type=int, default=15, help="requests per measure")
    args = parser.parse_args()
    asyncio.run(main(args.keep_db, args.repeats))
