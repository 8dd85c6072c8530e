"""Write path: sustained updateOpportunity/s (20 writers, 100 live subscribers) vs pgbench
running a transaction of the same shape (counter-row update + two inserts) as the storage floor."""
import asyncio
import re
import shutil
import subprocess
import tempfile

from bench.board import baton_target, current_versions, run_load
from bench.common import db_url
from bench.fanout import close_all, open_baton_subscriber, open_many

WRITERS = 20

PGBENCH_SCRIPT = """\
\\set opp random(1, {max_opp})
BEGIN;
UPDATE organizations SET event_seq = event_seq + 1 WHERE id = {org} RETURNING event_seq \\gset
INSERT INTO events (org_id, seq, type, occurred_at, actor_id, opportunity_id, department_keys, changes)
  VALUES ({org}, :event_seq, 'OPPORTUNITY_UPDATED', now() at time zone 'utc', 1, :opp, '["sales"]'::jsonb, '{{"nextStep": ["a", "b"]}}'::jsonb);
INSERT INTO notifications (org_id, user_id, kind, message, opportunity_id, event_seq, created_at)
  VALUES ({org}, 2, 'assigned', 'bench', :opp, :event_seq, now() at time zone 'utc');
END;
"""


async def baton_writes(ds, url: str, pid: int, seconds: float, subscribers: int = 100) -> dict:
    ws = url.replace("http://", "ws://")
    tokens = ds.subscriber_tokens
    subs = await open_many(subscribers, lambda i: open_baton_subscriber(ws, tokens[i % len(tokens)]))
    try:
        groups = ds.writer_opps
        versions = await current_versions(ds.url, [o for g in groups for o in g])
        head0 = max((max(s.arrivals) for s in subs if s.arrivals), default=0)
        # every request of every writer is a write: write_every=1
        target = baton_target(url, pid, ds.writer_tokens[0])
        # each writer uses its own admin token
        result = await _run_writers(ds, target, seconds, groups, versions)
        await asyncio.sleep(1.0)
        received = [len([q for q in s.arrivals if q > head0]) for s in subs]
        result["subscribers"] = subscribers
        result["events_received_min"] = min(received) if received else 0
        result["events_received_max"] = max(received) if received else 0
        return result
    finally:
        await close_all(subs)


async def _run_writers(ds, target, seconds, groups, versions):
    return await run_load(target, seconds, clients=WRITERS, write_every=1, opp_groups=groups, versions=versions, warmup=1.0)


def pgbench_floor(ds, seconds: float, clients: int = WRITERS) -> dict:
    exe = shutil.which("pgbench")
    if not exe:
        return {"error": "pgbench not found (apt-get install postgresql-client)"}
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(PGBENCH_SCRIPT.format(org=ds.org_id, max_opp=ds.counts["opportunities"]))
        script = f.name
    argv = [exe, "-n", "-c", str(clients), "-j", "2", "-T", str(int(seconds)), "-f", script, db_url(ds.db_name)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    text = out.stdout + out.stderr
    tps = re.search(r"tps = ([\d.]+)", text)
    lat = re.search(r"latency average = ([\d.]+) ms", text)
    return {"clients": clients, "seconds": seconds, "tps": float(tps.group(1)) if tps else None,
            "latency_avg_ms": float(lat.group(1)) if lat else None, "rc": out.returncode,
            **({"output": text[-800:]} if not tps else {})}
