"""A realistic organization on a fresh PostgreSQL database, bulk-loaded with COPY.

Full: 10,000 opportunities, 30,000 tasks, 50,000 comments, 2,000 approvals (two
steps each), 1,000 handoffs, 200 users in 5 departments and the event log that
would have produced them (created / moved / task / comment / approval events).
Quick: a tenth of the cards, tasks, comments and approvals (same 200 users). Large: 100,000
opportunities and ~1,000,000 events, 1,000 users (bench/history.py)."""
import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import asyncpg

from bench.common import create_database, db_url, drop_database

SCALES = {
    "full": dict(opportunities=10_000, tasks=30_000, comments=50_000, approvals=2_000, handoffs=1_000, users=200, accounts=2_000),
    "quick": dict(opportunities=1_000, tasks=3_000, comments=5_000, approvals=200, handoffs=100, users=200, accounts=400),
    # History at scale (bench/history.py): ~1,000,000 events.
    "large": dict(opportunities=100_000, tasks=200_000, comments=400_000, approvals=10_000, handoffs=5_000, users=1_000,
                  accounts=20_000),
}
STAGE_WEIGHTS = {"lead": 25, "qualified": 20, "proposal": 15, "negotiation": 12, "contract": 6, "won": 14, "lost": 8}
WRITERS = 20


@dataclass
class Dataset:
    db_name: str
    url: str
    org_id: int
    pipeline_id: int
    stage_ids: dict[str, int]
    reader_token: str
    writer_tokens: list[str]
    subscriber_tokens: list[str]
    # per writer: opportunity ids it alone updates (no version conflicts between writers)
    writer_opps: list[list[int]]
    counts: dict = field(default_factory=dict)
    event_head: int = 0
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"db": self.db_name, "counts": self.counts, "event_head": self.event_head, "load_seconds": round(self.seconds, 1)}


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


async def _create_org(url: str) -> tuple[int, int, dict[str, int], dict[str, int]]:
    from sqlalchemy import select

    from db import models as m
    from db.engine import Database
    from db.migrate import upgrade
    from resolvers.setup import create_organization

    await upgrade(url)
    db = Database(url)
    try:
        async with db.write() as session:
            org = await create_organization(session, "Bench Org")
            pipeline = (await session.execute(select(m.Pipeline).where(m.Pipeline.org_id == org.id))).scalar_one()
            stages = {s.key: s.id for s in (await session.execute(select(m.Stage).where(m.Stage.pipeline_id == pipeline.id))).scalars()}
            depts = {d.key: d.id for d in (await session.execute(select(m.Department).where(m.Department.org_id == org.id))).scalars()}
            return org.id, pipeline.id, stages, depts
    finally:
        await db.dispose()


async def fold_tallies(url: str) -> None:
    from db.engine import Database
    from db.tallies import fold

    db = Database(url)
    try:
        await fold(db)
    finally:
        await db.dispose()


async def generate(db_name: str, scale: str = "quick", seed: int = 7) -> Dataset:
    from resolvers.auth import new_token

    started = time.monotonic()
    n = SCALES[scale]
    rnd = random.Random(seed)
    await create_database(db_name)
    url = db_url(db_name)
    org_id, pipeline_id, stage_ids, dept_ids = await _create_org(url)
    dept_keys = list(dept_ids)
    key_of_dept = {v: k for k, v in dept_ids.items()}
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(days=180)

    def when(lo: datetime, hi: datetime = now) -> datetime:
        return lo + timedelta(seconds=rnd.uniform(0, max(1.0, (hi - lo).total_seconds())))

    # users: 40 per department; admins first (writers act as admins so they may edit any card)
    users = []  # (id, org, dept, name, email, handle, role, hash, created)
    for i in range(n["users"]):
        dk = dept_keys[i % len(dept_keys)]
        role = "ADMIN" if i < 25 else "MANAGER" if i % 10 == 1 else "VIEWER" if i % 10 == 9 else "MEMBER"
        users.append((i + 1, org_id, dept_ids[dk], f"User {i + 1}", f"user{i + 1}@bench.example", f"user{i + 1}", role, None, _naive(start)))
    user_dept = {u[0]: u[2] for u in users}
    sales_users = [u[0] for u in users if u[2] == dept_ids["sales"]]

    accounts = [
        (i + 1, org_id, f"Account {i + 1} Ltd", f"account {i + 1} ltd", rnd.choice(["SaaS", "Retail", "Health", "Energy"]), rnd.choice(["EMEA", "NA", "APAC"]),
         _naive(start), _naive(start))
        for i in range(n["accounts"])
    ]

    events = []  # (occurred_at, type, actor, opp, task, comment, handoff, approval, dept keys, changes)
    stage_order = list(STAGE_WEIGHTS)
    open_path = ["lead", "qualified", "proposal", "negotiation", "contract", "won"]
    opps = []
    opp_meta = {}  # id -> (created, dept key, stage key)
    for i in range(n["opportunities"]):
        oid = i + 1
        stage = rnd.choices(stage_order, weights=list(STAGE_WEIGHTS.values()))[0]
        owner = rnd.choice(sales_users) if rnd.random() < 0.8 else rnd.choice(users)[0]
        dept = user_dept[owner] if rnd.random() < 0.7 else rnd.choice(list(dept_ids.values()))
        created = when(start, now - timedelta(days=2))
        # path through the stages up to the current one
        path = open_path[: open_path.index(stage) + 1] if stage in open_path else open_path[: rnd.randint(1, 4)] + ["lost"]
        t = created
        moves = []
        for a, b in zip(path, path[1:]):
            t = when(t, min(now, t + timedelta(days=20)))
            moves.append((t, a, b))
        entered = t
        amount = round(rnd.uniform(1_000, 250_000), 2) if stage not in ("lead",) or rnd.random() < 0.5 else None
        opps.append((
            oid, org_id, pipeline_id, stage_ids[stage], rnd.randint(1, len(accounts)), owner, dept, owner,
            f"Deal {oid}: {rnd.choice(['Platform', 'Renewal', 'Expansion', 'Pilot', 'Migration'])}",
            amount, "USD", rnd.randint(5, 95), date.today() + timedelta(days=rnd.randint(-30, 200)) if stage != "lead" else None,
            rnd.choice(["LOW", "MEDIUM", "MEDIUM", "HIGH", "URGENT"]), json.dumps(rnd.sample(["q3", "enterprise", "upsell", "partner", "emea"], rnd.randint(0, 2))),
            "Send the proposal" if rnd.random() < 0.6 else None, "Budget cut" if stage == "lost" else None, None,
            _naive(entered), _naive(max(entered, created)), _naive(created), _naive(entered), 1 + len(moves),
        ))
        opp_meta[oid] = (created, key_of_dept[dept], stage)
        events.append((created, "OPPORTUNITY_CREATED", owner, oid, None, None, None, None, [key_of_dept[dept]], None))
        for t, a, b in moves:
            events.append((t, "OPPORTUNITY_LOST" if b == "lost" else "OPPORTUNITY_MOVED", owner, oid, None, None, None, None,
                           [key_of_dept[dept]], {"stage": [a, b]}))

    n_opps = len(opps)
    tasks = []
    for i in range(n["tasks"]):
        tid, oid = i + 1, rnd.randint(1, n_opps)
        assignee = rnd.choice(users)[0]
        created = when(opp_meta[oid][0])
        status = rnd.choices(["OPEN", "DONE", "CANCELLED"], weights=[45, 45, 10])[0]
        due = created + timedelta(days=rnd.randint(1, 30))
        tasks.append((tid, org_id, oid, user_dept[assignee], assignee, f"Task {tid}", "Follow up with the customer", status,
                      _naive(due), _naive(due) if status == "DONE" else None, _naive(created), _naive(created), 1))
        events.append((created, "TASK_CREATED", assignee, oid, tid, None, None, None, [key_of_dept[user_dept[assignee]]], None))

    comments = []
    for i in range(n["comments"]):
        cid, oid = i + 1, rnd.randint(1, n_opps)
        author = rnd.choice(users)[0]
        created = when(opp_meta[oid][0])
        comments.append((cid, org_id, oid, None, author, f"Comment {cid}: spoke with the buyer, next call Tuesday.", "[]", _naive(created)))
        events.append((created, "COMMENT_ADDED", author, oid, None, cid, None, None, [opp_meta[oid][1]], None))

    late = [o[0] for o in opps if opp_meta[o[0]][2] in ("negotiation", "contract", "won")] or [o[0] for o in opps]
    approvals, steps = [], []
    for i in range(n["approvals"]):
        aid, oid = i + 1, rnd.choice(late)
        status = rnd.choices(["PENDING", "APPROVED", "REJECTED"], weights=[40, 50, 10])[0]
        created = when(opp_meta[oid][0])
        requester = rnd.choice(sales_users)
        decided = when(created) if status != "PENDING" else None
        approvals.append((aid, org_id, oid, requester, "contract", "SEQUENTIAL", status, None, _naive(created), _naive(decided) if decided else None))
        for pos, dk in enumerate(("legal", "finance")):
            st = "APPROVED" if status == "APPROVED" or (status == "PENDING" and pos == 0 and rnd.random() < 0.5) else (
                "REJECTED" if status == "REJECTED" and pos == 0 else "PENDING")
            steps.append((len(steps) + 1, aid, pos, dept_ids[dk], st, _naive(created), None, _naive(decided) if st != "PENDING" and decided else None, None))
        events.append((created, "APPROVAL_REQUESTED", requester, oid, None, None, None, aid, ["legal", "finance"], None))
        if decided:
            events.append((decided, "APPROVAL_DECIDED", requester, oid, None, None, None, aid, ["legal", "finance"], {"status": ["PENDING", status]}))

    handoffs = []
    for i in range(n["handoffs"]):
        hid, oid = i + 1, rnd.randint(1, n_opps)
        src, dst = rnd.sample(list(dept_ids.values()), 2)
        created = when(opp_meta[oid][0])
        status = rnd.choices(["PENDING", "ACCEPTED", "DECLINED"], weights=[30, 60, 10])[0]
        requester = rnd.choice(users)[0]
        handoffs.append((hid, org_id, oid, src, dst, requester, None, None, "Please take over", status, None, _naive(created),
                         _naive(when(created)) if status != "PENDING" else None))
        events.append((created, "HANDOFF_REQUESTED", requester, oid, None, None, hid, None, [key_of_dept[src], key_of_dept[dst]], None))

    events.sort(key=lambda e: e[0])
    event_rows = [
        (seq, org_id, seq, typ, _naive(t), actor, opp, task, comment, handoff, approval, json.dumps(sorted(set(keys))),
         json.dumps(changes) if changes is not None else None)
        for seq, (t, typ, actor, opp, task, comment, handoff, approval, keys, changes) in enumerate(events, 1)
    ]

    # tokens: one reader (a sales member), one admin per writer, a few subscriber identities
    tokens = {}
    token_rows = []

    def token_for(user_id: int, label: str) -> str:
        tok, digest = new_token()
        token_rows.append((len(token_rows) + 1, org_id, user_id, "session", label, digest, "write", None, _naive(now), None, None, None))
        tokens.setdefault(label, []).append(tok)
        return tok

    reader = next(u[0] for u in users if u[6] == "MEMBER" and u[2] == dept_ids["sales"])
    reader_token = token_for(reader, "reader")
    admins = [u[0] for u in users if u[6] == "ADMIN"]
    writer_tokens = [token_for(admins[i % len(admins)], "writer") for i in range(WRITERS)]
    subscriber_tokens = [token_for(u[0], "subscriber") for u in users[25:45]]

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            async def copy(table, columns, rows):
                if rows:
                    await conn.copy_records_to_table(table, records=rows, columns=columns)

            await copy("users", ["id", "org_id", "department_id", "name", "email", "handle", "role", "password_hash", "created_at"], users)
            await copy("accounts", ["id", "org_id", "name", "normalized_name", "industry", "region", "created_at", "updated_at"], accounts)
            await copy("opportunities", [
                "id", "org_id", "pipeline_id", "stage_id", "account_id", "owner_id", "department_id", "created_by_id", "title",
                "amount", "currency", "probability", "expected_close_date", "priority", "tags", "next_step", "lost_reason",
                "client_mutation_id", "stage_entered_at", "last_activity_at", "created_at", "updated_at", "version"], opps)
            await copy("tasks", ["id", "org_id", "opportunity_id", "department_id", "assignee_id", "title", "description", "status",
                                 "due_at", "completed_at", "created_at", "updated_at", "version"], tasks)
            await copy("comments", ["id", "org_id", "opportunity_id", "task_id", "author_id", "body", "mention_user_ids", "created_at"], comments)
            await copy("approvals", ["id", "org_id", "opportunity_id", "requested_by_id", "kind", "mode", "status", "comment", "created_at", "decided_at"], approvals)
            await copy("approval_steps", ["id", "approval_id", "position", "department_id", "status", "opened_at", "decided_by_id", "decided_at", "comment"], steps)
            await copy("handoffs", ["id", "org_id", "opportunity_id", "from_department_id", "to_department_id", "requested_by_id",
                                    "assignee_id", "responded_by_id", "note", "status", "response_note", "created_at", "responded_at"], handoffs)
            await copy("events", ["id", "org_id", "seq", "type", "occurred_at", "actor_id", "opportunity_id", "task_id", "comment_id",
                                  "handoff_id", "approval_id", "department_keys", "changes"], event_rows)
            await copy("api_tokens", ["id", "org_id", "user_id", "kind", "name", "token_hash", "scope", "department_id", "created_at",
                                      "expires_at", "last_used_at", "revoked_at"], token_rows)
            await conn.execute("UPDATE organizations SET event_seq = $1 WHERE id = $2", len(event_rows), org_id)
            for table in ("users", "accounts", "opportunities", "tasks", "comments", "approvals", "approval_steps", "handoffs", "events", "api_tokens"):
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    await fold_tallies(url)  # the COPY's one tally row per card, folded as the alerts round would

    # writers update disjoint cards of the open stages
    open_ids = [o[0] for o in opps if opp_meta[o[0]][2] in ("lead", "qualified", "proposal", "negotiation")]
    rnd.shuffle(open_ids)
    writer_opps = [open_ids[i::WRITERS][:200] for i in range(WRITERS)]
    counts = {"opportunities": len(opps), "tasks": len(tasks), "comments": len(comments), "approvals": len(approvals),
              "approval_steps": len(steps), "handoffs": len(handoffs), "users": len(users), "departments": len(dept_ids),
              "accounts": len(accounts), "events": len(event_rows)}
    return Dataset(
        db_name=db_name, url=url, org_id=org_id, pipeline_id=pipeline_id, stage_ids=stage_ids, reader_token=reader_token,
        writer_tokens=writer_tokens, subscriber_tokens=subscriber_tokens, writer_opps=writer_opps, counts=counts,
        event_head=len(event_rows), seconds=time.monotonic() - started,
    )


async def _main(scale: str, keep: bool) -> None:
    name = f"baton_bench_data_{int(time.time())}"
    ds = await generate(name, scale)
    print(json.dumps(ds.summary(), indent=2))
    if not keep:
        await drop_database(name)
        print(f"dropped {name}")


if __name__ == "__main__":
    import sys

    asyncio.run(_main("full" if "--full" in sys.argv else "quick", "--keep" in sys.argv))
