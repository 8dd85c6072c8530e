"""`python -m bench all|data|board|fanout|memory|write|catchup|stalled --quick|--full [--keep-db]`
(and `python -m bench scale`: bench/scale.py)

Generates an organization on a fresh PostgreSQL database (baton_bench_<time>), starts
`baton serve` (one worker), PostGraphile 5 and the raw websocket floor as needed,
measures, prints a table, writes bench/results/<name>-<time>.json, and cleans up."""
import argparse
import asyncio
import datetime
import json
import os
import platform
import sys
import time

from bench import board, catchup, data, fanout, peer, profile, stalled_readers, writes
from bench.common import BENCH, free_port, raise_fd_limit, start_baton, wait_http, drop_database

MODES = {
    "quick": dict(scale="quick", seconds=10, fanout_sizes=[100, 1000], fanout_mutations=5, write_seconds=10, profile_seconds=8),
    "full": dict(scale="full", seconds=30, fanout_sizes=[100, 1000, 5000], fanout_mutations=10, write_seconds=30, profile_seconds=20),
}
BENCHMARKS = ("board", "fanout", "memory", "write", "catchup", "stalled")  # stalled last: it leaves the heap grown


def machine() -> dict:
    mem = ""
    try:
        mem = next(line.split(":")[1].strip() for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        pass
    cpu = ""
    try:
        cpu = next(line.split(":")[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version(), "platform": platform.platform()}


async def main(which: str, mode: str, keep_db: bool) -> dict:
    cfg = MODES[mode]
    selected = BENCHMARKS if which == "all" else (which,)
    stamp = datetime.datetime.now(datetime.timezone.utc)
    report = {"command": "python -m bench " + " ".join(sys.argv[1:]), "date": stamp.isoformat(timespec="seconds"),
              "mode": mode, "machine": machine(), "results": {}}
    raise_fd_limit(65536)
    db_name = f"baton_bench_{which}_{int(time.time())}"
    print(f"[bench] generating {cfg['scale']} data in {db_name} ...", flush=True)
    ds = await data.generate(db_name, cfg["scale"])
    report["data"] = ds.summary()
    print(f"[bench] data: {ds.counts} in {ds.seconds:.1f}s", flush=True)
    if which == "data":
        if not keep_db:
            await drop_database(db_name)
        return report
    procs = []
    try:
        port = free_port()
        baton = start_baton(db_name, port)
        procs.append(baton)
        url = f"http://127.0.0.1:{port}/graphql"
        await wait_http(f"http://127.0.0.1:{port}/healthz", baton, 60)
        R = report["results"]

        if "board" in selected:
            R["statements"] = await board.count_board_statements(ds)
            print(f"[bench] board query: {R['statements']['statements']} SQL statements", flush=True)
            report["peer_version"] = await asyncio.to_thread(peer.ensure_installed)
            pport = free_port()
            pg = peer.start_peer(db_name, pport)
            procs.append(pg)
            purl = f"http://127.0.0.1:{pport}/graphql"
            await wait_http(purl, pg, 90)
            bt = board.baton_target(url, baton.pid, ds.reader_token)
            pt = board.peer_target(purl, pg.pid, ds.pipeline_id)
            # The same server code with its result cache switched off, side by side.
            nport = free_port()
            uncached = start_baton(db_name, nport, extra_env={"BATON_RESULT_CACHE_SIZE": "0"})
            procs.append(uncached)
            await wait_http(f"http://127.0.0.1:{nport}/healthz", uncached, 60)
            nt = board.baton_target(f"http://127.0.0.1:{nport}/graphql", uncached.pid, ds.reader_token, name="baton_nocache")
            R["board_cards"] = {"baton": await board.verify(bt), "postgraphile": await board.verify(pt)}
            print(f"[bench] cards per board: {R['board_cards']}", flush=True)
            for t in (bt, nt, pt):
                R[f"read_{t.name}"] = await board.run_load(t, cfg["seconds"])
                print(f"[bench] read {t.name}: {R[f'read_{t.name}']}", flush=True)
            # profile Baton during a separate read run (py-spy costs a little CPU)
            raw = BENCH / "results" / f"profile-board-{int(time.time())}.txt"
            spy = profile.record(baton.pid, cfg["profile_seconds"], raw)
            if spy is not None:
                R["read_baton_profiled"] = await board.run_load(bt, cfg["profile_seconds"] - 1, warmup=0.5)
                spy.wait(60)
                if raw.exists():
                    R["profile"] = profile.summarise(raw)
                    R["profile"]["raw"] = str(raw.relative_to(BENCH.parent))
            groups = [g for g in ds.writer_opps if g]
            flat = [o for g in groups for o in g]
            client_groups = [flat[i::board.CLIENTS] for i in range(board.CLIENTS)]
            # Mixed: an admin's token, so every update is allowed and really writes
            # (the reader, a sales member, may not edit other departments' cards).
            wt = board.baton_target(url, baton.pid, ds.writer_tokens[0])
            for t in (wt, pt):
                versions = await board.current_versions(ds.url, flat)
                R[f"mixed_{t.name}"] = await board.run_load(t, cfg["seconds"], write_every=11, opp_groups=client_groups, versions=versions)
                print(f"[bench] mixed {t.name}: {R[f'mixed_{t.name}']}", flush=True)
            pg.stop()
            procs.remove(pg)
            uncached.stop()
            procs.remove(uncached)
            if len(selected) > 1:
                # The live benchmarks get a fresh server: what the read runs left in
                # this one (cached results, a grown heap) is not theirs to measure.
                baton.stop()
                procs.remove(baton)
                port = free_port()
                baton = start_baton(db_name, port)
                procs.append(baton)
                url = f"http://127.0.0.1:{port}/graphql"
                await wait_http(f"http://127.0.0.1:{port}/healthz", baton, 60)

        if "fanout" in selected or "memory" in selected:
            fport = free_port()
            floor = fanout.start_floor(fport)
            procs.append(floor)
            furl = f"http://127.0.0.1:{fport}/healthz"
            await wait_http(furl, floor, 30)
            sizes = cfg["fanout_sizes"] if "fanout" in selected else [1000]
            muts = cfg["fanout_mutations"] if "fanout" in selected else 0
            R["fanout"] = await fanout.run(ds, url, baton.pid, furl, floor.pid, sizes, muts)
            floor.stop()
            procs.remove(floor)

        if "write" in selected:
            R["write_baton"] = await writes.baton_writes(ds, url, baton.pid, cfg["write_seconds"])
            print(f"[bench] writes baton: {R['write_baton']}", flush=True)
            R["write_pgbench"] = await asyncio.to_thread(writes.pgbench_floor, ds, cfg["write_seconds"])
            print(f"[bench] writes pgbench: {R['write_pgbench']}", flush=True)

        if "catchup" in selected:
            R["catchup"] = await catchup.run(ds, url)
            print(f"[bench] catch-up: {R['catchup']}", flush=True)

        if "stalled" in selected:
            R["stalled"] = await stalled_readers.run(url.replace("http://", "ws://"), baton.pid, ds.reader_token)
            print(f"[bench] stalled readers: {stalled_readers.summary(R['stalled'])}", flush=True)
    finally:
        for p in procs:
            p.stop()
        await fanout.close_head_conns()
        if not keep_db:
            await drop_database(db_name)
    return report


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, float):
        v = round(v, 2)
    return f"{v}{unit}"


def verdict(ok) -> str:
    return "-" if ok is None else ("met" if ok else "NOT met")


def table(report: dict) -> tuple[str, list[dict]]:
    R = report["results"]
    rows, targets = [], []
    rb, rp = R.get("read_baton"), R.get("read_postgraphile")
    if rb and rp:
        ratio = rb["requests_per_s"] / rp["requests_per_s"] if rp["requests_per_s"] else None
        rows.append(("Board reads, 32 clients (req/s)", rb["requests_per_s"], rp["requests_per_s"], "", fmt(ratio, "x")))
        rows.append(("  read p50 / p99 (ms)", f"{rb['read']['p50_ms']} / {rb['read']['p99_ms']}", f"{rp['read']['p50_ms']} / {rp['read']['p99_ms']}", "", ""))
        rows.append(("  server CPU per request (ms)", rb["server_cpu_ms_per_request"], rp["server_cpu_ms_per_request"], "", ""))
        targets.append(("reads >= 1.5x PostGraphile, p99 <= peer's", f"{ratio:.2f}x, p99 {rb['read']['p99_ms']} vs {rp['read']['p99_ms']} ms",
                        verdict(ratio >= 1.5 and rb["read"]["p99_ms"] <= rp["read"]["p99_ms"])))
    rn = R.get("read_baton_nocache")
    if rn and rp:
        ratio = rn["requests_per_s"] / rp["requests_per_s"] if rp["requests_per_s"] else None
        rows.append(("Board reads, result cache off (req/s)", rn["requests_per_s"], rp["requests_per_s"], "", fmt(ratio, "x")))
        rows.append(("  read p50 / p99 (ms), cache off", f"{rn['read']['p50_ms']} / {rn['read']['p99_ms']}", "", "", ""))
        rows.append(("  server CPU per request (ms), cache off", rn["server_cpu_ms_per_request"], "", "", ""))
        targets.append(("reads >= 0.6x with the result cache off", f"{ratio:.2f}x", verdict(ratio >= 0.6)))
    mb, mp = R.get("mixed_baton"), R.get("mixed_postgraphile")
    if mb and mp:
        ratio = mb["requests_per_s"] / mp["requests_per_s"] if mp["requests_per_s"] else None
        rows.append(("Mixed 10 reads : 1 write (req/s)", mb["requests_per_s"], mp["requests_per_s"], "", fmt(ratio, "x")))
        rows.append(("  read p99 / write p99 (ms)", f"{mb['read']['p99_ms']} / {mb['write']['p99_ms']}", f"{mp['read']['p99_ms']} / {mp['write']['p99_ms']}", "", ""))
        targets.append(("mixed >= 1.0x PostGraphile", f"{ratio:.2f}x", verdict(ratio >= 1.0)))
    st = R.get("statements")
    if st:
        rows.append(("SQL statements per board query (incl. auth)", st["statements"], "", "", ""))
        targets.append(("SQL statements per board query <= 6", f"{st['statements']} ({st['board_statements']} + 1 auth)", verdict(st["statements"] <= 6)))
    for fo in R.get("fanout", []):
        b, f = fo["baton"], fo["floor"]
        n = fo["subscribers"]
        if b["mutations"]:
            rows.append((f"Fan-out to {n}: p50 / p99 / last (ms)", f"{b['p50_ms']} / {b['p99_ms']} / {b['last_ms']}", "",
                         f"{f['p50_ms']} / {f['p99_ms']} / {f['last_ms']}", fmt(b["p99_ms"] / f["p99_ms"], "x p99") if f["p99_ms"] else ""))
            rows.append((f"  CPU per delivery at {n} (us)", b["cpu_us_per_delivery"], "", f["cpu_us_per_delivery"],
                         fmt(b["cpu_us_per_delivery"] / f["cpu_us_per_delivery"], "x") if f["cpu_us_per_delivery"] else ""))
            if b["missing"]:
                rows.append((f"  undelivered at {n}", b["missing"], "", f["missing"], ""))
            q = b.get("queries_during_fanout")
            if q:
                rows.append((f"  queries during fan-out to {n}: answered / failed, p99 / max (ms)",
                             f"{q['queries'] - q['failed']} / {q['failed']}, {q['p99_ms']} / {q['max_ms']}", "", "", ""))
                targets.append((f"fan-out at {n}: none lost, queries answered", f"undelivered {b['missing']}, queries failed {q['failed']} "
                                f"of {q['queries']} (max {q['max_ms']} ms)", verdict(not b["missing"] and not q["failed"])))
        rows.append((f"Memory per 1,000 idle subs at {n} (KiB)", b["rss_kib_per_1000"], "", f["rss_kib_per_1000"],
                     fmt(b["rss_kib_per_1000"] / f["rss_kib_per_1000"], "x") if f["rss_kib_per_1000"] else ""))
        st = fo.get("baton_stalled")
        if st:
            w, s_ = st["without"], st["with"]
            p99_r = s_["p99_ms"] / w["p99_ms"] if w["p99_ms"] and s_["p99_ms"] is not None else None
            rows.append(("  alternating without / with 1 stalled subscriber: p99 (ms)", f"{w['p99_ms']} / {s_['p99_ms']}",
                         "", "", fmt(p99_r, "x")))
            rows.append(("  without / with: last (ms), CPU per delivery (us)",
                         f"{w['last_ms']} / {s_['last_ms']}, {w['cpu_us_per_delivery']} / {s_['cpu_us_per_delivery']}", "", "", ""))
            rows.append(("  RSS growth while stalled (KiB) / its unread bytes",
                         f"{st['rss_kib_growth_while_stalled']} / {st['stalled_unread_bytes']}", "", "", ""))
            targets.append((f"one stalled subscriber among {n}: healthy p99 <= 1.2x without it, memory bounded",
                            f"p99 {s_['p99_ms']} vs {w['p99_ms']} ms ({fmt(p99_r, 'x')}), undelivered {s_['missing']}, "
                            f"RSS +{st['rss_kib_growth_while_stalled']} KiB",
                            verdict(p99_r is not None and p99_r <= 1.2 and not s_["missing"])))
        if n == 1000 and b["mutations"]:
            cpu_r = b["cpu_us_per_delivery"] / f["cpu_us_per_delivery"] if f["cpu_us_per_delivery"] else None
            p99_r = b["p99_ms"] / f["p99_ms"] if f["p99_ms"] else None
            targets.append(("fan-out @1000: CPU/delivery and p99 <= 3x floor, all within 250 ms",
                            f"CPU {fmt(cpu_r, 'x')}, p99 {fmt(p99_r, 'x')}, last {b['last_ms']} ms",
                            verdict(cpu_r is not None and p99_r is not None and cpu_r <= 3 and p99_r <= 3 and (b["last_ms"] or 1e9) <= 250 and not b["missing"])))
        if n == 1000:
            mr = b["rss_kib_per_1000"] / f["rss_kib_per_1000"] if f["rss_kib_per_1000"] > 0 else None
            targets.append(("memory per idle subscription <= 1.5x raw websocket", f"{b['rss_kib_per_1000']} vs {f['rss_kib_per_1000']} KiB/1000 ({fmt(mr, 'x')})",
                            verdict(mr is not None and mr <= 1.5)))
    wb, wp = R.get("write_baton"), R.get("write_pgbench")
    if wb and wp:
        share = wb["requests_per_s"] / wp["tps"] if wp.get("tps") else None
        rows.append(("Writes, 20 writers + 100 subs (mut/s)", wb["requests_per_s"], "", fmt(wp.get("tps")), fmt(share, "x")))
        rows.append(("  write p50 / p99 (ms)", f"{wb['read']['p50_ms'] if not wb.get('write') else wb['write']['p50_ms']} / {wb['write']['p99_ms']}", "", fmt(wp.get("latency_avg_ms"), " avg"), ""))
        targets.append(("writes >= 400/s and >= 30% of pgbench", f"{wb['requests_per_s']}/s, {fmt(share * 100 if share else None, '%')}",
                        verdict(share is not None and wb["requests_per_s"] >= 400 and share >= 0.3)))
    cu = R.get("catchup")
    if cu:
        rows.append((f"Catch-up {cu['behind']} events, subscription (ev/s)", cu["subscription"]["events_per_s"], "", "", ""))
        rows.append(("  same range via `events` query pages (ev/s)", cu["events_query"]["events_per_s"], "", "", ""))
        targets.append(("catch-up >= 20,000 events/s", f"{cu['subscription']['events_per_s']}/s", verdict(cu["subscription"]["events_per_s"] >= 20000)))
    sr = R.get("stalled")
    if sr:
        grown = (sr["rss_kib_peak"] - sr["rss_kib_before"]) / 1024
        per = grown / sr["sockets"]
        rows.append((f"{sr['sockets']} stalled sockets x {sr['subscriptions_per_socket']} heavy replays: RSS before / peak / "
                     "after closing (MiB)", f"{sr['rss_kib_before'] // 1024} / {sr['rss_kib_peak'] // 1024} / "
                     f"{sr['rss_kib_after_close'] // 1024}", "", "", ""))
        targets.append(("memory per stalled socket <= its buffer budget (4 MiB) + 4 MiB", f"{per:.1f} MiB ({sr['ended']})",
                        verdict(per <= 8)))
    lines = ["| Measure | Baton | PostGraphile 5 | Floor | Ratio |", "|---|---|---|---|---|"]
    lines += [f"| {a} | {fmt(b)} | {fmt(c)} | {fmt(d)} | {e} |" for a, b, c, d, e in rows]
    lines += ["", "| Target | Measured | Verdict |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in targets]
    return "\n".join(lines), [{"target": a, "measured": b, "verdict": c} for a, b, c in targets]


def cli(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["scale"]:  # several processes behind HAProxy and PgBouncer: bench/scale.py
        from bench import scale

        return scale.cli(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=("all", "data") + BENCHMARKS)
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_const", dest="mode", const="quick")
    g.add_argument("--full", action="store_const", dest="mode", const="full")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the generated database")
    args = parser.parse_args(argv)
    mode = args.mode or "quick"
    report = asyncio.run(main(args.benchmark, mode, args.keep_db))
    text, targets = table(report)
    report["table"] = text
    report["targets"] = targets
    print()
    print(f"Baton benchmarks ({mode}), {report['date']}, {report['machine']['cpus']} CPUs: {report['machine']['cpu']}")
    print(text)
    if "profile" in report["results"]:
        p = report["results"]["profile"]
        print("\nProfile of the Baton server during board reads (self time by layer, % of samples):")
        for k, v in p["by_layer_self_pct"].items():
            print(f"  {v:5.1f}%  {k}")
    out = BENCH / "results" / f"{args.benchmark}-{mode}-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {out.relative_to(BENCH.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
